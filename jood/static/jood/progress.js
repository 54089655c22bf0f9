/* The batch page's progress bar: polls progress.json until every message has left our queue. */
(function () {
  "use strict";
  var box = document.getElementById("batch-progress");
  if (!box) return;
  var url = box.getAttribute("data-progress-url");
  var bar = box.querySelector("[data-progress-bar]");
  var meter = box.querySelector("[role=progressbar]");
  var state = box.querySelector("[data-progress-state]");
  var delay = 1000;

  function show(data) {
    var percent = Math.min(100, Number(data.percent) || 0);
    bar.style.width = percent + "%";
    meter.setAttribute("aria-valuenow", String(Math.round(percent)));
    box.querySelector("[data-progress-percent]").textContent = String(data.percent);
    box.querySelector("[data-progress-done]").textContent = String(data.done);
    box.querySelector("[data-progress-total]").textContent = String(data.total);
    box.querySelectorAll("[data-count]").forEach(function (cell) {
      var n = (data.counts || {})[cell.getAttribute("data-count")] || 0;
      cell.textContent = String(n);
      cell.parentNode.classList.toggle("dimmed", n === 0);
    });
    if (percent >= 100) {
      box.setAttribute("data-complete", "true");
      state.textContent = "Every message has left our queue. Receipts (delivered, read) keep arriving.";
    }
    return percent >= 100;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        var finished = show(data);
        // One more read after 100%, for the receipts that follow the sends.
        if (!finished) setTimeout(poll, delay);
        else if (!box.hasAttribute("data-final")) { box.setAttribute("data-final", "1"); setTimeout(poll, 3000); }
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        setTimeout(poll, delay);
      });
  }
  poll();
})();
