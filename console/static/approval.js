// The buttons of the approval page. Each posts one action to the approvals API with the
// Idempotency-Key made for this page load and the task version the page shows: a double
// click sends the same request twice and the server applies it once; a page that went
// stale gets 409 and this script shows the approval as it is now. After an action the page
// reloads, which gives the next action a new key.
(function () {
  "use strict";
  var root = document.querySelector("[data-approval]");
  if (!root) return;
  var status = document.getElementById("act-status");
  var busy = false;

  function msg(name) { return root.getAttribute("data-msg-" + name) || ""; }
  function say(text, kind, extra) {
    status.hidden = false;
    status.className = "act-status " + (kind || "");
    status.textContent = text;
    if (extra) status.appendChild(extra);
  }
  function people(text) {
    return (text || "").split(/[\s,，;；、]+/).filter(function (s) { return s; });
  }
  function payload(form, op) {
    var data = new FormData(form);
    var body = { op: op };
    var task = form.getAttribute("data-task");
    if (task) {
      body.task = task;
      body.version = parseInt(form.getAttribute("data-version"), 10);
    }
    var node = form.getAttribute("data-node");
    if (node) body.node = node;
    var comment = (data.get("comment") || "").trim();
    if (comment) body.comment = comment;
    if (op === "return") body.to = data.get("return_to") || "previous";
    if (op === "transfer" || op === "delegate") body.to = (data.get("person") || "").trim();
    if (op === "add_signer" || op === "remove_signer") body.users = people(data.get("signers"));
    if (op === "add_signer") body.position = data.get("position") || "alongside";
    var edit = task && op === "approve" && root.querySelector('form[data-record-edit="' + task + '"]');
    if (edit) {
      // The node's write fields, as the generated widgets post them; the server types
      // and checks them like a record save and saves them with the approval.
      body.form = [];
      new FormData(edit).forEach(function (value, name) {
        if (typeof value === "string") body.form.push([name, value]);
      });
    }
    return body;
  }
  function clearFieldErrors() {
    root.querySelectorAll(".approval-edit .field-message[data-from-server]").forEach(function (p) { p.remove(); });
    root.querySelectorAll(".approval-edit [aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }
  function showFieldErrors(details) {
    // 422 with {pointer, message} per field: say it next to the field and in the status.
    var list = document.createElement("ul");
    (details || []).forEach(function (d) {
      var key = (d.pointer || "").split("/").filter(function (p) { return p; });
      var holder = key.length ? root.querySelector('.approval-edit [data-key="' + key[0] + '"]') : null;
      if (holder) {
        var note = document.createElement("p");
        note.className = "error field-message";
        note.setAttribute("data-from-server", "");
        note.textContent = d.message;
        holder.appendChild(note);
        var input = holder.querySelector("input, select, textarea");
        if (input) input.setAttribute("aria-invalid", "true");
      }
      var item = document.createElement("li");
      item.textContent = d.message;
      list.appendChild(item);
    });
    return list;
  }
  function setBusy(on) {
    busy = on;
    root.querySelectorAll("form[data-act] button").forEach(function (b) { b.disabled = on; });
  }
  function reloadLink() {
    var a = document.createElement("a");
    a.href = window.location.pathname;
    a.textContent = " " + msg("reload");
    return a;
  }
  function showCurrent(current) {
    var text = msg("conflict");
    if (current && current.status) {
      var label = root.getAttribute("data-status-" + current.status) || current.status;
      text += " " + msg("current").replace("{status}", label);
      var badge = document.getElementById("approval-status");
      if (badge) {
        badge.textContent = label;
        badge.className = "status status-" + current.status;
      }
    }
    say(text, "error", reloadLink());
  }

  root.addEventListener("input", function (event) {
    // Editing a field the server refused clears its message; the next 同意 checks again.
    var holder = event.target.closest && event.target.closest(".approval-edit [data-key]");
    if (!holder) return;
    holder.querySelectorAll(".field-message[data-from-server]").forEach(function (p) { p.remove(); });
    holder.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  });
  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-act]");
    if (!form) return;
    event.preventDefault();
    if (busy) return;  // a second click while the first is in flight does nothing
    var button = event.submitter;
    var op = button && button.value;
    if (!op) return;
    var needs = (form.getAttribute("data-require-comment") || "").split(" ");
    var comment = form.querySelector("textarea[name=comment]");
    if ((needs.indexOf(op) >= 0 || op === "comment") && comment && !comment.value.trim()) {
      say(msg("comment-needed"), "error");  // the server would refuse it too; say so at once
      comment.setAttribute("aria-invalid", "true");
      comment.focus();
      return;
    }
    if (comment) comment.removeAttribute("aria-invalid");
    if (button.getAttribute("data-confirm") && !window.confirm(msg("confirm-" + button.getAttribute("data-confirm")))) return;
    setBusy(true);
    say(msg("sending"), "");
    fetch(root.getAttribute("data-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": root.getAttribute("data-csrf"),
        "Idempotency-Key": root.getAttribute("data-key"),
      },
      body: JSON.stringify(payload(form, op)),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) {
          say(msg("done"), "ok");
          window.location.reload();
          return;
        }
        setBusy(false);
        if (response.status === 409) { showCurrent(body.current); return; }
        var error = body.error || {};
        clearFieldErrors();
        var fields = error.details && error.details.length ? showFieldErrors(error.details) : null;
        say((error.message || msg("failed")) + (error.detail ? "：" + error.detail : ""), "error", fields);
      });
    }).catch(function () {
      setBusy(false);
      say(msg("offline"), "error");
    });
  });
})();
