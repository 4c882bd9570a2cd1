// Repeating sections of generated forms: add a row from the hidden template, remove a row.
// Without JavaScript the form still works; only adding rows needs it.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    var add = target.closest("[data-add-row]");
    if (add) {
      var rows = add.closest("[data-rows]");
      var template = rows.querySelector("template[data-row-template]");
      var next = parseInt(add.getAttribute("data-next") || "0", 10);
      var html = template.innerHTML.split("__INDEX__").join(String(next));
      add.setAttribute("data-next", String(next + 1));
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var row = holder.firstElementChild;
      rows.querySelector(".row-list").appendChild(row);
      var first = row.querySelector("input, select, textarea");
      if (first) first.focus();
      return;
    }
    var remove = target.closest("[data-remove-row]");
    if (remove) {
      var fieldset = remove.closest("fieldset.row");
      if (fieldset) fieldset.remove();
    }
  });
  var summary = document.getElementById("form-errors");
  if (summary) summary.focus();
})();
