// The form editor: line numbers beside the JSON, a check while you type (debounced), the
// problems listed with their line, and the generated form previewed in a sandboxed frame.
// The server does every check (the same code that guards publishing); this only shows them.
(function () {
  "use strict";
  var form = document.getElementById("form-editor");
  if (!form) return;
  var text = document.getElementById("editor-text");
  var gutter = document.getElementById("editor-gutter");
  var status = document.getElementById("editor-status");
  var list = document.getElementById("editor-errors");
  var frame = document.getElementById("editor-preview");
  var note = document.getElementById("preview-note");
  var words = document.getElementById("editor-texts").dataset;
  var file = form.dataset.file;
  var DELAY = 400;
  var timer = null;
  var sequence = 0;
  var marked = {};

  function lineCount() {
    return text.value.split("\n").length;
  }

  function drawGutter() {
    var lines = lineCount();
    var parts = [];
    for (var i = 1; i <= lines; i++) {
      parts.push(marked[i] ? "<b>" + i + "</b>" : String(i));
    }
    gutter.innerHTML = parts.join("\n"); // numbers only: nothing typed reaches innerHTML
    gutter.scrollTop = text.scrollTop;
  }

  function goToLine(line) {
    var lines = text.value.split("\n");
    var offset = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
    var height = parseFloat(getComputedStyle(text).lineHeight) || 20;
    text.scrollTop = Math.max(0, (line - 3) * height);
    drawGutter();
  }

  function showErrors(errors) {
    marked = {};
    list.textContent = "";
    errors.forEach(function (e) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      var where = [];
      if (e.file !== file) where.push(e.file);
      if (e.line) {
        marked[e.line] = true;
        where.push(words.line.replace("{line}", e.line));
        button.dataset.line = e.line;
      }
      where.push(e.pointer || "/");
      button.textContent = where.join(" ") + " " + e.message;
      item.appendChild(button);
      list.appendChild(item);
    });
    status.textContent = errors.length
      ? words.problems.replace("{count}", errors.length)
      : words.ok;
    status.classList.toggle("bad", errors.length > 0);
    drawGutter();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
      body: JSON.stringify(body),
    });
  }

  function check() {
    var mine = ++sequence;
    var body = { text: text.value };
    status.textContent = words.checking;
    post(form.dataset.checkUrl, body)
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (mine !== sequence) return null; // a later keystroke has its own check
        showErrors(answer.errors || []);
        if (!answer.valid) {
          note.textContent = words.stale;
          frame.classList.add("stale");
          return null;
        }
        return post(form.dataset.previewUrl, body).then(function (response) {
          return response.ok ? response.text() : null;
        });
      })
      .then(function (html) {
        if (html === null || html === undefined || mine !== sequence) return;
        frame.srcdoc = html;
        frame.classList.remove("stale");
        note.textContent = "";
      })
      .catch(function () { status.textContent = words.stale; });
  }

  text.addEventListener("input", function () {
    drawGutter();
    clearTimeout(timer);
    timer = setTimeout(check, DELAY);
  });
  text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
  text.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || event.shiftKey) return; // Shift+Tab still leaves the field
    event.preventDefault();
    text.setRangeText("  ", text.selectionStart, text.selectionEnd, "end");
    text.dispatchEvent(new Event("input"));
  });
  list.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("button[data-line]");
    if (button && button.dataset.line) goToLine(parseInt(button.dataset.line, 10));
  });
  drawGutter();
  check();
})();
