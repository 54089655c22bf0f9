/* The dashboard chart: messages per day, stacked by status, drawn as inline SVG (no library). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var box = document.querySelector("[data-chart]");
  if (!box) return;
  var data = JSON.parse(document.querySelector(box.getAttribute("data-chart")).textContent);

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // The top of the axis: four whole-number steps of 1, 2 or 5 times a power of ten.
  function niceMax(value) {
    var raw = Math.max(1, Math.ceil(value / 4));
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= raw) return steps[i] * power * 4;
    }
    return 40 * power;
  }

  function label(day) {
    var parts = day.split("-");
    var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    return Number(parts[2]) + " " + months[Number(parts[1]) - 1];
  }

  var tip = document.createElement("div");
  tip.className = "chart-tip";
  tip.hidden = true;

  function draw() {
    box.querySelectorAll("svg, .chart-empty").forEach(function (node) { node.remove(); });
    box.appendChild(tip);
    var width = Math.max(280, box.clientWidth);
    var height = Math.max(180, box.clientHeight);
    var pad = { top: 10, right: 8, bottom: 26, left: 38 };
    var days = data.days;
    var totals = days.map(function (_, i) {
      return data.series.reduce(function (sum, s) { return sum + s.values[i]; }, 0);
    });
    var max = niceMax(Math.max.apply(null, totals.concat([0])));
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, "aria-hidden": "true", "data-points": String(days.length) });
    var plotW = width - pad.left - pad.right;
    var plotH = height - pad.top - pad.bottom;
    var slot = plotW / days.length;
    var barW = Math.max(2, Math.min(28, slot * 0.7));
    var y = function (v) { return pad.top + plotH - (v / max) * plotH; };

    var axis = el("g", { class: "axis" }, svg);
    for (var t = 0; t <= 4; t++) {
      var value = (max / 4) * t;
      el("line", { class: "grid-line", x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value) }, axis);
      var text = el("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end" }, axis);
      text.textContent = String(value);
    }
    var every = width < 520 ? 7 : width < 900 ? 5 : 3;
    days.forEach(function (day, i) {
      if ((days.length - 1 - i) % every !== 0) return;
      var text = el("text", { x: pad.left + slot * i + slot / 2, y: height - 8, "text-anchor": "middle" }, axis);
      text.textContent = label(day);
    });

    var bars = el("g", { class: "bars" }, svg);
    days.forEach(function (day, i) {
      var x = pad.left + slot * i + (slot - barW) / 2;
      var base = 0;
      data.series.forEach(function (series) {
        var v = series.values[i];
        if (!v) return;
        el("rect", {
          class: "bar bar-" + series.key,
          x: x.toFixed(2),
          y: y(base + v).toFixed(2),
          width: barW.toFixed(2),
          height: Math.max(1, y(base) - y(base + v)).toFixed(2),
          rx: Math.min(3, barW / 4)
        }, bars);
        base += v;
      });
      var hit = el("rect", { class: "hit", x: pad.left + slot * i, y: pad.top, width: slot, height: plotH, fill: "transparent" }, svg);
      hit.addEventListener("mouseenter", function () {
        var lines = [label(day) + ": " + totals[i] + " message" + (totals[i] === 1 ? "" : "s")];
        data.series.forEach(function (s) { if (s.values[i]) lines.push(s.label + ": " + s.values[i]); });
        tip.innerHTML = "";
        lines.forEach(function (line, n) {
          var row = document.createElement("div");
          row.textContent = line;
          if (n === 0) row.style.fontWeight = "700";
          tip.appendChild(row);
        });
        tip.style.left = ((pad.left + slot * i + slot / 2) / width) * 100 + "%";
        tip.style.top = (y(totals[i]) / height) * 100 + "%";
        tip.hidden = false;
      });
      hit.addEventListener("mouseleave", function () { tip.hidden = true; });
    });
    box.insertBefore(svg, tip);
    if (!totals.some(Boolean)) {
      var empty = document.createElement("div");
      empty.className = "chart-empty";
      empty.style.position = "absolute";
      empty.style.inset = "0";
      empty.textContent = "No messages in the last 30 days yet.";
      box.appendChild(empty);
    }
    box.setAttribute("data-drawn", "true");
  }

  draw();
  var timer = null;
  window.addEventListener("resize", function () {
    clearTimeout(timer);
    timer = setTimeout(draw, 150);
  });
})();
