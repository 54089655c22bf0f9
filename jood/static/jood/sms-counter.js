/* Live SMS encoding and segment counter, the same rules as messaging/sms.py:
   GSM-7 (160 septets, 153 per part; an extension character counts two and is
   never split) or UCS-2 (70 UTF-16 units, 67 per part; a surrogate pair is
   never split). The character sets come from the server (#sms-charset). */
(function () {
  "use strict";
  var charsetNode = document.getElementById("sms-charset");
  if (!charsetNode) return;
  var charset = JSON.parse(charsetNode.textContent);
  var BASIC = new Set(Array.from(charset.basic));
  var EXTENSION = new Set(Array.from(charset.extension));
  var templatesNode = document.getElementById("templates-data");
  var templates = templatesNode ? JSON.parse(templatesNode.textContent) : [];

  function segments(widths, single, part) {
    var total = widths.reduce(function (a, b) { return a + b; }, 0);
    if (total <= single) return 1;
    var count = 1, used = 0;
    widths.forEach(function (w) {
      if (used + w > part) { count += 1; used = 0; }
      used += w;
    });
    return count;
  }

  function analyse(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (ch) { return BASIC.has(ch) || EXTENSION.has(ch); });
    var widths;
    if (gsm) {
      widths = chars.map(function (ch) { return EXTENSION.has(ch) ? 2 : 1; });
      return { encoding: "GSM-7", units: widths.reduce(function (a, b) { return a + b; }, 0), segments: segments(widths, 160, 153) };
    }
    widths = chars.map(function (ch) { return ch.codePointAt(0) > 0xffff ? 2 : 1; });
    return { encoding: "UCS-2", units: widths.reduce(function (a, b) { return a + b; }, 0), segments: segments(widths, 70, 67) };
  }
  window.joodSmsAnalyse = analyse;

  function parseParams(text) {
    var values = {};
    (text || "").split(/\r?\n/).forEach(function (line) {
      var at = line.indexOf("=");
      if (at > 0) values[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
    return values;
  }

  // jood/placeholders.py's pattern (a test holds them equal): own templates' names start with a letter or _.
  var PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

  function render(template, values) {
    var numeric = template.kind === "whatsapp";
    return template.body.replace(PLACEHOLDER, function (match, name) {
      return numeric || !/^[0-9]/.test(name) ? values[name] || match : match;
    });
  }

  function setHidden(node, hidden) {
    if (!node) return;
    // A part with an error stays visible, so the error is seen.
    if (hidden && node.querySelector(".has-error")) hidden = false;
    node.hidden = hidden;
  }

  function setup(form) {
    var body = form.querySelector("textarea[data-sms-counter]");
    var output = form.querySelector("[data-sms-counter-output]") || document.querySelector("[data-sms-counter-output]");
    var channel = form.querySelector("select[name=channel]");
    var templateSelect = form.querySelector("select[name=template]");
    var params = form.querySelector("textarea[name=params]");
    var preview = document.querySelector("[data-preview]");
    var fieldsHint = document.querySelector("[data-template-fields]");

    function update() {
      var template = null;
      if (templateSelect && templateSelect.value) {
        template = templates.find(function (t) { return t.id === templateSelect.value; }) || null;
      }
      setHidden(form.querySelector("[data-when-template]"), !template);
      setHidden(form.querySelector("[data-when-no-template]"), !!template);
      var text = template ? render(template, parseParams(params ? params.value : "")) : (body ? body.value : "");
      if (preview) preview.textContent = text;
      if (fieldsHint) {
        fieldsHint.hidden = !(template && template.fields.length);
        if (template) fieldsHint.textContent = "Parameters of this template: " + template.fields.join(", ") + ".";
      }
      if (!output) return;
      var isSms = !channel || channel.value === "sms";
      output.hidden = !text && !body;
      var info = analyse(text);
      var enc = output.querySelector("[data-count-encoding]");
      var units = output.querySelector("[data-count-units]");
      var segs = output.querySelector("[data-count-segments]");
      if (!isSms) {
        output.classList.remove("over");
        enc.textContent = "WhatsApp";
        units.textContent = String(Array.from(text).length);
        segs.textContent = "no";
        return;
      }
      enc.textContent = info.encoding;
      units.textContent = String(info.units);
      segs.textContent = String(info.segments);
      output.classList.toggle("over", info.segments > 1);
      output.hidden = false;
    }

    [body, channel, templateSelect, params].forEach(function (node) {
      if (!node) return;
      node.addEventListener("input", update);
      node.addEventListener("change", update);
    });
    update();
  }

  var forms = document.querySelectorAll("form[data-message-form]");
  if (forms.length) {
    forms.forEach(setup);
  } else {
    document.querySelectorAll("textarea[data-sms-counter]").forEach(function (area) { setup(area.form); });
  }
})();
