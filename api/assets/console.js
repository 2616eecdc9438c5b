// hookrelay console: the only script besides htmx (the Content-Security-Policy allows no
// inline script). Shows times in the browser's zone (the UTC value stays on hover) and asks
// before destructive actions (forms with data-confirm).
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t)) { return; }
      el.textContent = t.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
      el.setAttribute("data-local", "");
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); });
})();
