// hookrelay console: the only script besides htmx (the Content-Security-Policy allows no
// inline script). Shows times in the browser's zone (the UTC value stays on hover), asks
// before destructive actions (forms with data-confirm), and shows a subscription form's
// fieldset of the chosen destination type only (the others are disabled, so not sent).
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
  function showDestination(select) {
    var form = select.form;
    if (!form) { return; }
    form.querySelectorAll("fieldset[data-destination]").forEach(function (set) {
      var chosen = set.getAttribute("data-destination") === select.value;
      set.hidden = !chosen;
      set.disabled = !chosen;
    });
  }
  function destinations(root) {
    root.querySelectorAll("select[data-destination-select]").forEach(showDestination);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-destination-select]")) {
      showDestination(event.target);
    }
  });
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); destinations(document); });
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); destinations(event.target); });
})();
