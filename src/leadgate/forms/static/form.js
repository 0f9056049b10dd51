/* leadgate form snippet: <script src="https://leads.example.com/f/demo.js" data-target="#demo" defer></script>
   Renders the form into data-target, one step at a time; the server decides every step
   (/f/{form}/start, /next) and takes the submission (/submit). Reads the tracker's
   anonymous visitor id (cookie lg_vid, or data-visitor-id) and sends it as visitor_id.
   No innerHTML: every text is set as text. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me) return;
  var src = new URL(me.src, location.href);
  var name = decodeURIComponent(src.pathname.replace(/^.*\/f\//, "").replace(/\.js$/, ""));
  var api = src.origin + "/f/" + encodeURIComponent(name);
  var box = document.querySelector(me.getAttribute("data-target") || "") || me.parentNode.insertBefore(document.createElement("div"), me.nextSibling);
  var vid = me.getAttribute("data-visitor-id") || (document.cookie.match(/(?:^|;\s*)lg_vid=([^;]+)/) || [])[1] || null;
  var query = new URLSearchParams(location.search);
  var st = { answers: {}, ticket: null, step: null, honeypot: "website", form: null, busy: false };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) e.setAttribute(k, attrs[k] === true ? "" : attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function call(path, body) {
    return fetch(api + path, body === undefined ? { method: "GET", credentials: "omit" } : {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw data && data.detail ? data : { detail: "The form could not be sent (" + r.status + ")." };
        return data;
      });
    });
  }

  function id(f) { return "lg-" + name + "-" + f.name; }

  function input(f) {
    var attrs = { id: id(f), name: f.name, required: f.required };
    var t = f.type, e;
    if (t === "select") {
      e = el("select", attrs);
      e.appendChild(el("option", { value: "" }, "Choose…"));
      f.options.forEach(function (o) { e.appendChild(el("option", { value: o.value }, o.label)); });
    } else if (t === "multi-select") {
      e = el("fieldset", { id: id(f) });
      e.appendChild(el("legend", null, f.label));
      f.options.forEach(function (o) {
        var l = el("label");
        l.appendChild(el("input", { type: "checkbox", name: f.name, value: o.value }));
        l.appendChild(document.createTextNode(" " + o.label));
        e.appendChild(l);
      });
      return e;
    } else if (t === "textarea") {
      e = el("textarea", attrs);
      e.maxLength = f.max_length;
    } else {
      attrs.type = { email: "email", number: "number", phone: "tel", checkbox: "checkbox", consent: "checkbox", hidden: "hidden" }[t] || "text";
      if (t === "checkbox" || t === "consent") attrs.value = "on";
      if (t === "number") { attrs.step = "any"; attrs.min = f.min; attrs.max = f.max; }
      if (t === "email") attrs.autocomplete = "email";
      if (t === "hidden") {
        // A value from the page's address holding a NUL is left out: the server refuses
        // it, on a field the visitor cannot see or change.
        var given = query.get(f.name);
        attrs.value = (given && given.indexOf("\0") < 0 ? given : null) || f.value || "";
      }
      attrs.placeholder = f.placeholder;
      e = el("input", attrs);
    }
    return e;
  }

  function render(step) {
    st.step = step;
    box.textContent = "";
    var form = el("form", { "class": "lg-form", novalidate: true });
    var alert = el("div", { role: "alert", "class": "lg-error-box" });
    form.appendChild(alert);
    var fs = el("fieldset");
    fs.appendChild(el("legend", null, step.title || st.form.title || ""));
    step.fields.forEach(function (f) {
      var row = el("div", { "class": "lg-field" });
      var control = input(f);
      if (f.type === "hidden" || f.type === "multi-select") { row.appendChild(control); }
      else if (f.type === "checkbox" || f.type === "consent") { row.appendChild(control); row.appendChild(el("label", { "for": id(f) }, " " + f.label)); }
      else { row.appendChild(el("label", { "for": id(f) }, f.label + (f.required ? " (required)" : ""))); row.appendChild(control); }
      if (f.help) row.appendChild(el("p", { "class": "lg-help" }, f.help));
      fs.appendChild(row);
    });
    form.appendChild(fs);
    // The honeypot: off screen (set through CSSOM, which a strict CSP allows), out of the tab order.
    var hp = el("div", { "aria-hidden": "true" });
    hp.style.position = "absolute"; hp.style.left = "-10000px"; hp.style.height = "1px"; hp.style.overflow = "hidden";
    hp.appendChild(el("label", { "for": "lg-hp-" + name }, "Leave this field empty"));
    hp.appendChild(el("input", { id: "lg-hp-" + name, name: st.honeypot, tabindex: "-1", autocomplete: "off" }));
    form.appendChild(hp);
    var button = el("button", { type: "submit" }, "Continue");
    form.appendChild(button);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); advance(form, button, alert); });
    box.appendChild(form);
  }

  function collect(form) {
    st.step.fields.forEach(function (f) {
      if (f.type === "multi-select") {
        st.answers[f.name] = Array.prototype.map.call(form.querySelectorAll('input[name="' + f.name + '"]:checked'), function (c) { return c.value; });
      } else {
        var c = form.elements[f.name];
        st.answers[f.name] = c.type === "checkbox" ? c.checked : c.value;
      }
    });
  }

  function fail(form, alert, problem) {
    if (problem.step && st.step && problem.step.index !== st.step.index) {
      // An answer from another step was refused (the form changed while it was being
      // filled): that step again, where it can be corrected.
      render(problem.step);
      form = box.querySelector("form");
      alert = form.querySelector("[role=alert]");
    } else if (problem.field && !problem.step && problem.field in st.answers) {
      delete st.answers[problem.field]; // no longer a field of this form: not sent again
    }
    alert.textContent = problem.detail || "The form could not be sent.";
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (e) { e.removeAttribute("aria-invalid"); });
    var bad = problem.field && document.getElementById("lg-" + name + "-" + problem.field);
    if (bad) { bad.setAttribute("aria-invalid", "true"); bad.focus(); }
  }

  function advance(form, button, alert) {
    if (st.busy) return; // a double click sends once
    st.busy = true; button.disabled = true;
    collect(form);
    call("/next", { step: st.step.index, answers: st.answers, visitor_id: vid }).then(function (r) {
      if (r.step) return render(r.step);
      var body = { ticket: st.ticket, answers: Object.assign({}, st.answers), visitor_id: vid, referrer: document.referrer, landing_page: location.href };
      body.answers[st.honeypot] = form.elements[st.honeypot].value;
      return call("/submit", body).then(thanks);
    }).catch(function (problem) { fail(form, alert, problem); }).then(function () { st.busy = false; button.disabled = false; });
  }

  function thanks(r) {
    box.textContent = "";
    var done = el("div", { role: "status", "class": "lg-thanks" });
    done.appendChild(el("p", null, r.thank_you));
    if (r.booking_url) {
      var p = el("p");
      p.appendChild(el("a", { href: r.booking_url, rel: "noopener" }, "Book a time with us now"));
      done.appendChild(p);
    }
    box.appendChild(done);
  }

  call("/start" + (vid ? "?visitor_id=" + encodeURIComponent(vid) : "")).then(function (r) {
    st.form = r; st.ticket = r.ticket; st.honeypot = r.honeypot;
    render(r.step);
  }).catch(function (problem) { box.textContent = problem.detail || "The form is not available."; });
})();
