// "发起审批" on a submitted record's page: starts its approval through the approvals API
// with an Idempotency-Key made for this page load (a double click starts one approval),
// then opens the approval page.
(function () {
  "use strict";
  var button = document.querySelector("[data-start-approval]");
  if (!button) return;
  var status = document.getElementById("start-status");
  button.addEventListener("click", function () {
    button.disabled = true;
    fetch(button.getAttribute("data-start-approval"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRF-Token": button.getAttribute("data-csrf"),
        "Idempotency-Key": button.getAttribute("data-key"),
      },
      body: "{}",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok && body.instance) {
          window.location.assign(button.getAttribute("data-approvals") + body.instance.id);
          return;
        }
        button.disabled = false;
        status.hidden = false;
        status.className = "act-status error";
        status.textContent = (body.error && body.error.message) || button.getAttribute("data-msg-failed");
      });
    }).catch(function () {
      button.disabled = false;
      status.hidden = false;
      status.className = "act-status error";
      status.textContent = button.getAttribute("data-msg-failed");
    });
  });
})();
