/* leadgate web app: the SLA countdowns (<time class="countdown" datetime="ISO">) and
   the keyboard shortcuts (elements with data-shortcut="KEY": the key focuses the
   element, Enter then confirms, so a stray key never moves a lead; j/k step through
   the queue's leads, q opens the queue), and the progress indicator of a form with
   data-progress="ID" (the playbook editor: What if and Activate replay the history,
   which takes a while; the element ID is shown while the browser waits for the
   answer). Loaded as a file (the Content-Security-Policy
   allows no inline script). Without JavaScript the server-rendered due time stays and
   every form works by hand. */
(function () {
  "use strict";

  function span(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + pad(m) : m) + ":" + pad(sec);
  }

  function tick() {
    var now = Date.now();
    var items = document.querySelectorAll("time.countdown[datetime]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) { continue; }
      var left = (due - now) / 1000;
      el.textContent = left >= 0 ? span(left) + " left" : "overdue by " + span(left);
      el.classList.toggle("late", left < 0);
    }
  }

  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || el.isContentEditable;
  }

  function step(delta) {
    var links = Array.prototype.slice.call(document.querySelectorAll("#queue-rows a"));
    if (!links.length) { return; }
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? 0 : Math.min(links.length - 1, Math.max(0, at + delta));
    links[next].focus();
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) { return; }
    var key = ev.key;
    if (key === "j" || key === "k") { step(key === "j" ? 1 : -1); ev.preventDefault(); return; }
    if (key === "q") { window.location.assign("/app/queue"); return; }
    // Escaped: a key such as " or \ would otherwise make the selector invalid (a throw).
    var target = document.querySelector('[data-shortcut="' + CSS.escape(key) + '"]');
    if (target) { target.focus(); ev.preventDefault(); }
  });

  // A slow form (the backtest): show its indicator and mark it busy while the answer
  // is on its way. The form posts as it would without JavaScript.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || !form.getAttribute) { return; }
    var id = form.getAttribute("data-progress");
    var by = ev.submitter;
    if (!id || !by || (by.value !== "whatif" && by.value !== "activate")) { return; }
    var shown = document.getElementById(id);
    if (shown) { shown.hidden = false; }
    form.setAttribute("aria-busy", "true");
  });
  // Back from the browser's page cache: nothing is running any more.
  window.addEventListener("pageshow", function () {
    var busy = document.querySelectorAll("form[data-progress][aria-busy]");
    for (var i = 0; i < busy.length; i++) {
      busy[i].removeAttribute("aria-busy");
      var shown = document.getElementById(busy[i].getAttribute("data-progress"));
      if (shown) { shown.hidden = true; }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
