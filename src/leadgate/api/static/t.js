/* leadgate tracker (docs/tracking.md): page views and clicks under an anonymous
   visitor id in a first-party cookie `lg_vid`. Sends nothing when the browser asks
   not to be tracked (Do-Not-Track, Global Privacy Control) or consent is withheld:
   window.leadgateConsent === false, or data-consent="false" on this script tag. */
(function (w, d) {
  var s = d.currentScript;
  if (!s || w.leadgateTracker) return;
  var n = w.navigator;
  function off() {
    var c = s.getAttribute("data-consent");
    return n.doNotTrack === "1" || w.doNotTrack === "1" || n.globalPrivacyControl === true ||
      w.leadgateConsent === false || c === "false" || c === "0";
  }
  var key = s.getAttribute("data-key");
  var api = (s.getAttribute("data-api") || new URL(s.src).origin) + "/api/v1/track?key=" +
    encodeURIComponent(key || "");
  function vid() {
    var m = d.cookie.match(/(?:^|; )lg_vid=([A-Za-z0-9_-]{8,64})/);
    var v = m ? m[1] : null;
    if (!v) {
      var b = new Uint8Array(16);
      w.crypto.getRandomValues(b);
      v = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    }
    // Renewed on every visit: 13 months, the longest consent usually lasts.
    d.cookie = "lg_vid=" + v + "; path=/; max-age=34128000; SameSite=Lax" +
      (w.location.protocol === "https:" ? "; Secure" : "");
    return v;
  }
  function send(type, props) {
    if (off() || !key) return false;
    var body = JSON.stringify({ visitor_id: vid(), events: [{ type: type, properties: props }] });
    // text/plain: a simple request, no preflight; keepalive: survives the page unloading.
    w.fetch(api, { method: "POST", body: body, keepalive: true, mode: "cors",
      credentials: "omit", headers: { "Content-Type": "text/plain" } }).catch(function () {});
    return true;
  }
  function page() {
    return { url: w.location.pathname + w.location.search, title: d.title,
      referrer: d.referrer || null };
  }
  w.leadgateTracker = { send: send, visitorId: function () { return off() ? null : vid(); } };
  send("page_view", page());
  d.addEventListener("click", function (e) {
    var t = e.target && e.target.closest ? e.target.closest("a,button,[data-track]") : null;
    if (!t) return;
    var p = page();
    p.element = t.tagName.toLowerCase();
    p.text = (t.getAttribute("data-track") || t.textContent || "").trim().slice(0, 100);
    if (t.href) p.href = t.href;
    send("click", p);
  }, true);
})(window, document);
