/* leadgate web app: the SLA countdowns (<time class="countdown" datetime="ISO">).
   Loaded as a file (the Content-Security-Policy allows no inline script). Without
   JavaScript the server-rendered due time stays. */
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

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
