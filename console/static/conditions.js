// Live conditions and computed fields on a generated form page. The page carries its form's
// logic (records.logic FormLogic.spec) as JSON; on every change this reads the inputs the
// way the server reads the post (web/form_pages.data_from_form), runs the same algorithm
// as the server (logic.js), and shows the result: hidden fields and sections, required
// marks, read-only inputs, computed values. The server decides again on save.
import {FormLogic, placesOf} from "/static/logic.js";

const holder = document.getElementById("form-logic");
const form = document.querySelector("form.record-form");

function typed(type, raw) {
  const text = raw.trim();
  if (!text) return null;
  if (type === "integer") return /^[-+]?[0-9]+$/.test(text) ? Number.parseInt(text, 10) : text;
  if (type === "number") {
    const number = Number(text);
    return Number.isFinite(number) ? number : text;
  }
  return text;
}

// A money input (widgets.js) shows separators and may be in 万元; the server's
// web/widgets.parse reads it as yuan. What does not parse is kept as typed, as there.
function money(input) {
  const compact = input.value.replace(/[\s,，¥￥]/g, "");
  if (!compact) return null;
  const m = /^([0-9]+(?:\.[0-9]+)?)(万元|万|元)?$/.exec(compact);
  if (!m) return input.value.trim();
  const unit = m[2] || (input.dataset.unit === "wan" ? "万" : "元");
  return Number(m[1] + (unit === "元" ? "" : "e4")); // e4: exact, no float multiplication
}

// A cascading picker posts one select per level; the value is the deepest level chosen
// below a chosen one (widgets.js empties the levels under a changed one).
function deepest(wrapper) {
  let chosen = null;
  for (const select of wrapper.querySelectorAll("select[data-level]")) {
    if (!select.value) break;
    chosen = select.value;
  }
  return chosen;
}

function parts(pairs) {
  const found = Object.fromEntries(pairs.filter(([, v]) => v));
  return Object.keys(found).length ? found : null;
}

// The compound widgets of web/widgets.py, read as its parse() reads their post;
// undefined for a plain input.
function readWidget(wrapper, type) {
  if (wrapper.querySelector("[data-date-range]")) {
    const start = wrapper.querySelector("[data-range-start]");
    const end = wrapper.querySelector("[data-range-end]");
    return parts([["start", start ? start.value : ""], ["end", end ? end.value : ""]]);
  }
  if (wrapper.matches(".address")) {
    const detail = wrapper.querySelector("input[type=text]");
    return parts([["region", deepest(wrapper)], ["detail", detail ? detail.value.trim() : ""]]);
  }
  if (wrapper.matches(".cascade")) return deepest(wrapper);
  if (wrapper.matches(".choice-group") && type === "array") {
    const chosen = [...wrapper.querySelectorAll("input[type=checkbox]:checked")].map((b) => b.value);
    return chosen.length ? [...new Set(chosen)] : null;
  }
  const amount = wrapper.querySelector("input[data-money]");
  if (amount) return money(amount);
  if (wrapper.matches(".percent-field")) {
    const input = wrapper.querySelector("input");
    return input ? typed(type, input.value.replace(/[%％,]/g, "")) : null;
  }
  return undefined;
}

// A field's value as the post would carry it; `inRow`: an unchecked box in a row is absent.
function read(wrapper, type, inRow) {
  const widget = readWidget(wrapper, type);
  if (widget !== undefined) return widget;
  if (type === "array") {
    // An attachment field posts the ids of its files as hidden inputs; the server holds
    // one reference per file, so size() agrees on both sides.
    const ids = [...wrapper.querySelectorAll("input[type=hidden]")].map((i) => i.value);
    return ids.length ? ids : null;
  }
  const box = wrapper.querySelector("input[type=checkbox]");
  if (type === "boolean" && box) return box.checked ? true : inRow ? null : false;
  const radios = wrapper.querySelectorAll("input[type=radio]");
  if (radios.length) {
    const checked = [...radios].find((r) => r.checked);
    return checked ? typed(type, checked.value) : null;
  }
  const control = wrapper.querySelector("select, textarea, input");
  return control ? typed(type, control.value) : null;
}

function topLevel(selector) {
  return [...form.querySelectorAll(selector)].filter((el) => !el.closest("fieldset.row"));
}

function rowSets(name) {
  const rows = form.querySelector(`[data-rows="${name}"]`);
  return rows ? [...rows.querySelectorAll(".row-list > fieldset.row")] : [];
}

// The values of the page, and for each repeating section the fieldset of each kept row
// (the server drops rows with nothing in them, so their indexes shift the same way).
function collect(spec) {
  const data = {};
  const rowsOf = {};
  for (const [name, settings] of Object.entries(spec.fields)) {
    if (name in spec.rows) {
      const kept = [];
      const rows = [];
      for (const fieldset of rowSets(name)) {
        const row = {};
        for (const [key, cell] of Object.entries(spec.rows[name])) {
          const wrapper = fieldset.querySelector(`.field[data-key="${key}"]`);
          const value = wrapper ? read(wrapper, cell.type, true) : null;
          if (value !== null) row[key] = value;
        }
        if (Object.keys(row).length) {
          rows.push(row);
          kept.push(fieldset);
        }
      }
      rowsOf[name] = kept;
      if (rows.length) data[name] = rows;
      continue;
    }
    const [wrapper] = topLevel(`.field[data-key="${name}"]`);
    const value = wrapper ? read(wrapper, settings.type, false) : null;
    if (value !== null) data[name] = value;
  }
  return {data, rowsOf};
}

function markRequired(wrapper, required) {
  // A group of choices is named by its legend, not by the label of its first choice.
  const label = wrapper.querySelector(":scope > legend") || wrapper.querySelector("label");
  if (!label) return;
  let star = label.querySelector(".req[data-logic]");
  if (required && !star && !label.querySelector(".req")) {
    star = document.createElement("span");
    star.className = "req";
    star.setAttribute("aria-hidden", "true");
    star.dataset.logic = "";
    star.textContent = "*";
    label.appendChild(star);
  } else if (!required && star) {
    star.remove();
  }
  // Only fields with required_when come here, so the attribute is ours to set and clear.
  for (const control of wrapper.querySelectorAll("input, select, textarea")) {
    if (required) control.setAttribute("aria-required", "true");
    else control.removeAttribute("aria-required");
  }
}

function markReadonly(wrapper, readonly) {
  for (const control of wrapper.querySelectorAll("input, select, textarea")) {
    const ours = control.dataset.logicReadonly !== undefined;
    if (readonly && !ours && !control.disabled && !control.readOnly) {
      control.dataset.logicReadonly = "";
      if (control.tagName === "SELECT" || control.type === "checkbox" || control.type === "radio") {
        control.disabled = true;
      } else {
        control.readOnly = true;
      }
    } else if (!readonly && ours) {
      delete control.dataset.logicReadonly;
      control.disabled = false;
      control.readOnly = false;
    }
  }
}

function show(wrapper, settings, value) {
  if (!wrapper || !("compute" in settings)) return;
  const control = wrapper.querySelector("input, textarea, select");
  if (!control) return;
  if (value === null || value === undefined) control.value = "";
  else if (typeof value === "number") control.value = value.toFixed(placesOf(settings));
  else control.value = String(value);
}

function apply(spec, logic, result, rowsOf) {
  const {values, state} = result;
  const hidden = new Set(state.hidden);
  const required = new Set(state.required);
  const readonly = new Set(state.readonly);
  for (const [name, settings] of Object.entries(spec.fields)) {
    const pointer = "/" + name;
    const [wrapper] =
      name in spec.rows ? [form.querySelector(`[data-rows="${name}"]`)] : topLevel(`.field[data-key="${name}"]`);
    if (!wrapper) continue;
    wrapper.hidden = hidden.has(pointer);
    if ("required_when" in settings) markRequired(wrapper, settings.required || required.has(pointer));
    if ("readonly_when" in settings) markReadonly(wrapper, readonly.has(pointer));
    show(wrapper, settings, values[name]);
    if (!(name in spec.rows)) continue;
    const kept = rowsOf[name] || [];
    const rows = Array.isArray(values[name]) ? values[name] : [];
    // Rows with nothing in them yet: decided as a blank row would be.
    const blank = logic.conditions({...values, [name]: [...rows, {}]});
    for (const fieldset of rowSets(name)) {
      const index = kept.indexOf(fieldset);
      const at = index >= 0 ? `${pointer}/${index}` : `${pointer}/${rows.length}`;
      const decided = index >= 0 ? {hidden, required} : {hidden: new Set(blank.hidden), required: new Set(blank.required)};
      for (const [key, cell] of Object.entries(spec.rows[name])) {
        const cellWrapper = fieldset.querySelector(`.field[data-key="${key}"]`);
        if (!cellWrapper) continue;
        cellWrapper.hidden = decided.hidden.has(`${at}/${key}`);
        if ("required_when" in cell) {
          markRequired(cellWrapper, cell.required || decided.required.has(`${at}/${key}`));
        }
        show(cellWrapper, cell, index >= 0 ? (rows[index] || {})[key] : null);
      }
    }
  }
  for (const section of form.querySelectorAll("section[data-section]")) {
    const members = [...section.querySelectorAll(".field[data-key], [data-rows]")].filter(
      (el) => !el.closest("fieldset.row") && !el.closest("template"),
    );
    const outer = members.filter((el) => !el.parentElement.closest("[data-rows]"));
    section.hidden = outer.length > 0 && outer.every((el) => el.hidden);
  }
}

if (holder && form) {
  const spec = JSON.parse(holder.textContent);
  const logic = new FormLogic(spec);
  let pending = false;
  const update = () => {
    pending = false;
    const {data, rowsOf} = collect(spec);
    apply(spec, logic, logic.run(data), rowsOf);
  };
  const schedule = () => {
    if (!pending) {
      pending = true;
      queueMicrotask(update);
    }
  };
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // Rows added or removed (forms.js) change what the conditions see.
  new MutationObserver(schedule).observe(form, {childList: true, subtree: true});
  update();
  form.dataset.logicReady = "";
}
