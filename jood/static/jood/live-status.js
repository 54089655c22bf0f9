/* The message page follows a message that is still on its way: when its status changes, the page reloads. */
(function () {
  "use strict";
  var node = document.getElementById("message-status");
  if (!node || !node.getAttribute("data-status-url")) return;
  var url = node.getAttribute("data-status-url");
  var current = node.getAttribute("data-status");
  var tries = 0;

  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.status !== current) {
          window.location.reload();
        } else if (tries < 60) {
          setTimeout(poll, tries < 20 ? 1000 : 5000);
        }
      })
      .catch(function () { if (tries < 60) setTimeout(poll, 5000); });
  }
  setTimeout(poll, 800);
})();
