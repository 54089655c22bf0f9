// Pre-select the browser's time zone in a <select data-browser-timezone> (sign-up), unless the
// person chose one already. A static file, no inline script: the portal's CSP allows only 'self'.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  document.querySelectorAll("select[data-browser-timezone]").forEach(function (select) {
    if (select.dataset.chosen === "1") return;
    var known = Array.prototype.some.call(select.options, function (option) { return option.value === zone; });
    if (known) select.value = zone;
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-browser-timezone]")) {
      event.target.dataset.chosen = "1";
    }
  });
})();
