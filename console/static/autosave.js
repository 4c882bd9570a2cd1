// Autosave of a draft on the staff form page. A moment after the user stops typing, the form
// is posted (fields, CSRF token, the revision on the page) to its autosave URL. The answer:
// 200 gives the new revision and the time ("已自动保存 14:03"); 409 means the draft changed
// elsewhere since this page loaded, so autosave stops instead of overwriting; 422 keeps the
// input and waits for the next edit. A network or server error keeps the input and retries
// with a growing delay. Nothing here ever clears what the user typed.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  if (!form) return;
  var status = document.getElementById("autosave-status");
  var DELAY = parseInt(form.getAttribute("data-autosave-delay") || "1200", 10);
  var timer = null;
  var inflight = false;
  var dirty = false;
  var stopped = false;
  var failures = 0;
  var unsaved = false;  // the last answer was not a save: leaving the page would lose input
  var leaving = false;

  function msg(name) { return form.getAttribute("data-msg-" + name) || ""; }
  function say(text, kind) {
    if (!status) return;
    status.textContent = text;
    status.className = "autosave-status" + (kind ? " " + kind : "");
  }
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(save, ms);
  }
  function changed(event) {
    if (stopped) return;
    if (event && event.target && event.target.closest && event.target.closest("[data-reveal]")) return;
    dirty = true;
    say(msg("pending"));
    schedule(DELAY);
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("click", function (event) {
    var t = event.target;
    if (t instanceof Element && t.closest("[data-add-row], [data-remove-row]")) changed();
  });
  var held = null;  // the page's own save/submit button, held while an autosave is in flight
  form.addEventListener("submit", function (event) {
    clearTimeout(timer);
    stopped = true;
    if (inflight) {
      // Wait for the autosave's answer: it may change the revision (or, on a new form,
      // create the draft this post must then edit), then post with what it returned.
      event.preventDefault();
      held = event.submitter || true;
      return;
    }
    leaving = true;  // the page's own save or submit carries the input from here
  });
  function release() {
    if (!held) return;
    var button = held;
    held = null;
    leaving = true;
    if (button instanceof HTMLElement && form.requestSubmit) form.requestSubmit(button);
    else form.submit();
  }
  window.addEventListener("beforeunload", function (event) {
    if (!leaving && (dirty || inflight || unsaved)) { event.preventDefault(); event.returnValue = ""; }
  });

  function revisionInput() {
    var input = form.querySelector("input[name=revision]");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "revision";
      form.appendChild(input);
    }
    return input;
  }

  function save() {
    if (stopped && !held) return;
    if (!dirty) return;
    if (inflight) { schedule(DELAY); return; }
    inflight = true;
    dirty = false;
    say(msg("saving"));
    var data = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && name !== "action") data.append(name, value);
    });
    var csrf = form.querySelector("input[name=csrf_token]");
    fetch(form.getAttribute("data-autosave"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf ? csrf.value : "" },
      body: data
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return { status: response.status, body: body };
        });
      })
      .then(function (answer) {
        inflight = false;
        var body = answer.body || {};
        unsaved = answer.status !== 200;
        if (answer.status === 200) {
          failures = 0;
          revisionInput().value = String(body.revision);
          if (body.url) {  // a new form's first autosave made the draft: the page now edits it
            form.setAttribute("action", body.url);
            form.setAttribute("data-autosave", body.autosave);
            if (window.history && history.replaceState) history.replaceState(null, "", body.url);
          }
          say(msg("saved").replace("{time}", body.saved_at || ""), "ok");
        } else if (answer.status === 409) {
          stopped = true;
          say(body.message || msg("conflict"), "error");
        } else if (answer.status === 422) {
          var count = (body.details || []).length;
          say(count ? msg("invalid").replace("{count}", String(count)) : body.message || "", "warn");
        } else if (answer.status === 401 || answer.status === 403) {
          stopped = true;
          say(msg("denied"), "error");
        } else {
          throw new Error("HTTP " + answer.status);
        }
        release();
      })
      .catch(function () {
        inflight = false;
        if (held) { release(); return; }  // the page's own post carries the input now
        dirty = true;
        failures = Math.min(failures + 1, 5);
        say(msg("offline"), "warn");
        schedule(Math.min(30000, 1000 * Math.pow(2, failures)));
      });
  }
})();
