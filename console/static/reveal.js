// "显示/Reveal" beside a masked sensitive value: asks the reveal endpoint (JSON API, the
// session's CSRF token in X-CSRF-Token) for the clear value and shows it in place. Every
// reveal is an audit event on the server; the button is only rendered for roles with unmask.
(function () {
  "use strict";
  var form = document.querySelector("form[data-reveal-url]");
  if (!form) return;
  var url = form.getAttribute("data-reveal-url");
  var csrf = form.querySelector("input[name=csrf_token]");
  form.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var button = target.closest("button[data-reveal]");
    if (!button) return;
    event.preventDefault();
    var which = button.getAttribute("data-reveal");
    var body = which.charAt(0) === "/" ? { pointer: which } : { field: which };
    button.disabled = true;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrf ? csrf.value : ""
      },
      body: JSON.stringify(body)
    })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (answer) {
        var input = document.getElementById(button.getAttribute("data-target"));
        if (input) {
          input.value = answer.value == null ? "" : String(answer.value);
          input.setAttribute("data-revealed", "true");
        }
        button.remove();
      })
      .catch(function (error) {
        button.disabled = false;
        var note = button.parentNode.querySelector(".reveal-error");
        if (!note) {
          note = document.createElement("p");
          note.className = "error reveal-error";
          note.setAttribute("role", "alert");
          button.parentNode.appendChild(note);
        }
        note.textContent = (form.getAttribute("data-msg-reveal-failed") || "{status}")
          .replace("{status}", error.message);
      });
  });
})();
