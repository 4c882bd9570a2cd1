// Widgets of generated forms (web/widgets.py renders them; this only improves them):
// money with thousands separators and its 万元 / capitals hint, searchable long selects,
// cascading pickers, date ranges and the rich-text editor. Every form still posts
// without this script; the server parses and checks everything again.
(function () {
  "use strict";

  // ------------------------------------------------------------ money
  // Exact: amounts are strings of digits turned into integer fen (BigInt), never floats.
  var AMOUNT = /^([0-9]+)(?:\.([0-9]+))?(万元|万|元)?$/;
  var MAX_FEN = BigInt("999999999999999999");

  function toFen(text, wan) {
    var compact = text.replace(/[\s,，¥￥]/g, "");
    var m = AMOUNT.exec(compact);
    if (!m) return null;
    var unit = m[3] || (wan ? "万" : "元");
    var fraction = m[2] || "";
    var places = unit === "元" ? 2 : 6; // 6 places of 万 are the fen
    if (fraction.length > places) return null;
    var fen = BigInt(m[1] + fraction.padEnd(places, "0"));
    return fen > MAX_FEN ? null : fen;
  }

  function grouped(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function yuanText(fen) {
    var s = fen.toString().padStart(3, "0");
    return grouped(s.slice(0, -2)) + "." + s.slice(-2);
  }

  function wanText(fen) { // rounded half-up to 0.01 万元, as forms/money.py format_wan
    var hundredths = (fen + BigInt(5000)) / BigInt(10000);
    var s = hundredths.toString().padStart(3, "0");
    return grouped(s.slice(0, -2)) + "." + s.slice(-2) + "万元";
  }

  // The same rules as forms/money.py to_chinese_capitals: nzh spells the whole yuan (as
  // cn2an does on the server), the 元角分 part follows the People's Bank rules there.
  function capitals(fen) {
    // dist/nzh.cn.min.js defines Nzh as the simplified-Chinese converter itself.
    var nzh = window.Nzh && (window.Nzh.cn || window.Nzh);
    if (!nzh || !nzh.encodeB) return "";
    var up = function (n) { return nzh.encodeB(n.toString()); };
    var yuan = fen / BigInt(100);
    var rest = Number(fen % BigInt(100));
    var jiao = Math.floor(rest / 10), cents = rest % 10;
    if (yuan === BigInt(0) && rest === 0) return "人民币零元整";
    var words = yuan > BigInt(0) ? [up(yuan) + "元"] : [];
    if (rest === 0) return "人民币" + words.join("") + "整";
    if (yuan > BigInt(0) && (jiao === 0 || yuan % BigInt(10) === BigInt(0))) words.push("零");
    if (jiao) words.push(up(jiao) + "角");
    words.push(cents ? up(cents) + "分" : "整");
    return "人民币" + words.join("");
  }

  function moneyHint(input) {
    var wan = input.getAttribute("data-unit") === "wan";
    var fen = toFen(input.value, wan);
    if (fen === null) return "";
    var parts = [wan ? yuanText(fen) + "元" : wanText(fen)];
    if (input.hasAttribute("data-capitals")) parts.push(capitals(fen));
    return parts.filter(Boolean).join(" · ");
  }

  // Separators while typing; the caret stays after the same number of digits.
  function regroup(input) {
    var value = input.value;
    if (!/^[0-9,]*(\.[0-9]*)?$/.test(value)) return; // 万, ¥ … are left as typed
    var caret = input.selectionStart === null ? value.length : input.selectionStart;
    var digitsBefore = value.slice(0, caret).replace(/,/g, "").length;
    var parts = value.replace(/,/g, "").split(".");
    var whole = parts[0].replace(/^0+(?=\d)/, "");
    var next = grouped(whole) + (parts.length > 1 ? "." + parts[1] : "");
    if (next === value) return;
    input.value = next;
    var pos = 0, seen = 0;
    while (pos < next.length && seen < digitsBefore) {
      if (next[pos] !== ",") seen++;
      pos++;
    }
    if (document.activeElement === input) input.setSelectionRange(pos, pos);
  }

  function onMoney(input) {
    regroup(input);
    var hint = document.getElementById(input.id + "-hint");
    if (hint) hint.textContent = moneyHint(input);
  }

  // ------------------------------------------------------------ searchable selects
  function searchable(select) {
    if (select.disabled || select.previousElementSibling && select.previousElementSibling.classList.contains("select-search")) return;
    var all = Array.prototype.map.call(select.options, function (o) { return [o.value, o.text]; });
    var box = document.createElement("input");
    box.type = "search";
    box.className = "select-search";
    box.placeholder = select.getAttribute("data-search-label") || "搜索";
    box.setAttribute("aria-label", box.placeholder);
    box.setAttribute("aria-controls", select.id);
    box.autocomplete = "off";
    select.parentNode.insertBefore(box, select);
    box.addEventListener("input", function () {
      var q = box.value.trim().toLowerCase();
      var current = select.value;
      select.textContent = "";
      all.forEach(function (pair, i) {
        // The empty choice and the current one always stay, so filtering never changes the value.
        if (i === 0 || pair[0] === current || !q || pair[1].toLowerCase().indexOf(q) >= 0) {
          select.appendChild(new Option(pair[1], pair[0], false, pair[0] === current));
        }
      });
    });
  }

  // ------------------------------------------------------------ cascading pickers
  function cascade(holder) {
    var data = holder.querySelector("script[data-cascade-tree]");
    if (!data) return;
    var tree = JSON.parse(data.textContent);
    var selects = holder.querySelectorAll("select[data-level]");
    function childrenAt(level) {
      var nodes = tree;
      for (var i = 0; i < level; i++) {
        var code = selects[i].value;
        var found = nodes.filter(function (n) { return n.c === code; })[0];
        nodes = found && found.k ? found.k : [];
      }
      return nodes;
    }
    Array.prototype.forEach.call(selects, function (select, level) {
      select.addEventListener("change", function () {
        for (var next = level + 1; next < selects.length; next++) {
          var below = selects[next];
          var placeholder = below.options[0];
          below.textContent = "";
          below.appendChild(placeholder);
          if (next === level + 1) {
            childrenAt(next).forEach(function (n) { below.appendChild(new Option(n.l, n.c)); });
          }
          below.value = "";
          below.hidden = next === level + 1 ? below.options.length <= 1 : true;
        }
      });
      if (level > 0 && select.options.length <= 1) select.hidden = true;
    });
  }

  // ------------------------------------------------------------ date ranges
  function dateRange(holder) {
    var start = holder.querySelector("[data-range-start]");
    var end = holder.querySelector("[data-range-end]");
    if (!start || !end) return;
    start.addEventListener("change", function () {
      end.min = start.value;
      if (end.value && start.value && end.value < start.value) end.value = start.value;
    });
  }

  // ------------------------------------------------------------ rich text
  function richtext(holder) {
    var source = holder.querySelector("[data-richtext-source]");
    var area = holder.querySelector(".richtext-area");
    var toolbar = holder.querySelector(".richtext-toolbar");
    if (!source || !area || !toolbar) return;
    var sync = function () { source.value = area.innerHTML; };
    // The editor takes the textarea's place; its label now names the editor.
    source.hidden = true;
    source.removeAttribute("id");
    area.hidden = false;
    toolbar.hidden = false;
    area.addEventListener("input", sync);
    toolbar.addEventListener("mousedown", function (e) { e.preventDefault(); }); // keep the selection
    toolbar.addEventListener("click", function (e) {
      var button = e.target instanceof Element ? e.target.closest("[data-cmd]") : null;
      if (!button) return;
      area.focus();
      document.execCommand(button.getAttribute("data-cmd"), false);
      sync();
    });
    var form = holder.closest("form");
    if (form) form.addEventListener("submit", sync);
  }

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll("input[data-money]"), function (input) {
      if (input.disabled) return;
      input.addEventListener("input", function () { onMoney(input); });
      onMoney(input);
    });
    Array.prototype.forEach.call(root.querySelectorAll("select[data-searchable]"), searchable);
    Array.prototype.forEach.call(root.querySelectorAll("[data-cascade]"), cascade);
    Array.prototype.forEach.call(root.querySelectorAll("[data-date-range]"), dateRange);
    Array.prototype.forEach.call(root.querySelectorAll("[data-richtext]"), richtext);
  }

  enhance(document);
  // Rows added from a repeating section's template (forms.js) get the same treatment.
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      Array.prototype.forEach.call(change.addedNodes, function (node) {
        if (node instanceof Element && node.matches("fieldset.row")) enhance(node);
      });
    });
  }).observe(document.body, { childList: true, subtree: true });

  window.DanbaoWidgets = { toFen: toFen, capitals: capitals, wanText: wanText, yuanText: yuanText };
})();
