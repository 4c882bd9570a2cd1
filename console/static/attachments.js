// Attachment fields of generated forms: chosen files are uploaded through the API at once
// (multipart, the CSRF token in the header); each answer's reference becomes a list item
// with a hidden input holding its id, which the form posts when it is saved. Removing an
// item drops the id; the upload it named expires unused and is purged.
(function () {
  "use strict";

  function say(widget, selector, text) {
    var p = widget.querySelector(selector);
    if (!p) return;
    p.textContent = text || "";
    p.hidden = !text;
  }

  function kilobytes(size) {
    return (size / 1024).toFixed(1) + " KB";
  }

  function add(widget, ref) {
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = widget.getAttribute("data-download") + encodeURIComponent(ref.id);
    link.setAttribute("download", "");
    link.textContent = ref.name;
    var size = document.createElement("span");
    size.className = "size";
    size.textContent = kilobytes(ref.size);
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = widget.getAttribute("data-name");
    hidden.value = ref.id;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary remove-file";
    remove.setAttribute("data-remove-file", "");
    remove.textContent = widget.getAttribute("data-remove-label");
    item.append(link, " ", size, hidden, " ", remove);
    widget.querySelector("ul.files").appendChild(item);
  }

  function refusal(widget, body) {
    var error = (body && body.error) || {};
    var detail = (error.details || [])[0];
    return detail ? detail.message : error.message || widget.getAttribute("data-failed");
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
    var widget = input.closest("[data-attachments]");
    if (!widget || !input.files || !input.files.length) return;
    var body = new FormData();
    Array.prototype.forEach.call(input.files, function (file) {
      body.append("file", file, file.name);
    });
    var token = input.form && input.form.querySelector('input[name="csrf_token"]');
    say(widget, "[data-upload-error]", "");
    say(widget, "[data-upload-status]", widget.getAttribute("data-uploading"));
    widget.setAttribute("aria-busy", "true");
    fetch(widget.getAttribute("data-upload"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token ? token.value : "" },
    })
      .then(function (response) {
        return response.json().then(function (json) {
          if (!response.ok) throw new Error(refusal(widget, json));
          json.items.forEach(function (ref) {
            add(widget, ref);
          });
        });
      })
      .catch(function (error) {
        say(widget, "[data-upload-error]", error.message || widget.getAttribute("data-failed"));
      })
      .then(function () {
        say(widget, "[data-upload-status]", "");
        widget.removeAttribute("aria-busy");
        input.value = "";
      });
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var remove = target.closest("[data-remove-file]");
    if (!remove) return;
    var item = remove.closest("li");
    if (item) item.remove();
  });
})();
