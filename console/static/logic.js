// The expression language of form definitions in the browser: CEL (cel-js) with Danbao's
// rules, and the form-logic algorithm. It mirrors platform/danbao/forms/expressions.py and
// platform/danbao/records/logic.py line for line; tests/logic_cases.json holds both to the
// same answers (tests/test_logic_parity.py runs it in Chromium). No DOM here: conditions.js
// binds it to the page.
import {Environment} from "/vendor/cel-js/index.js";
import Big from "/vendor/big.js/big.mjs";

const SIGNIFICANT = 15;
const LIMIT = 1e18;
const MONEY_PLACES = 2;
const RATIO_PLACES = 4;
const ROW = "row";

let fixedToday = null;

// Today's date in China (UTC+8 all year), or the day a test fixes.
export function setToday(isoDate) {
  fixedToday = isoDate;
}

function today() {
  if (fixedToday) return fixedToday;
  const china = new Date(Date.now() + 8 * 3600 * 1000);
  return china.toISOString().slice(0, 10);
}

// ------------------------------------------------------------------ ID numbers

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

// The same test as danbao.forms.identifiers.check_resident_id: shape, ISO 7064 MOD 11-2
// check digit, a real birth date from 1900 to today.
function idFacts(value) {
  if (typeof value !== "string") throw new Error("not an ID number");
  const number = value.normalize("NFKC").replace(/\s+/gu, "").toUpperCase();
  if (!/^[0-9]{17}[0-9X]$/.test(number)) throw new Error("not a valid resident ID number");
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(number[i]) * WEIGHTS[i];
  const check = (12 - (sum % 11)) % 11;
  if (number[17] !== (check === 10 ? "X" : String(check))) {
    throw new Error("not a valid resident ID number");
  }
  const year = Number(number.slice(6, 10));
  const month = Number(number.slice(10, 12));
  const day = Number(number.slice(12, 14));
  const born = new Date(Date.UTC(year, month - 1, day));
  const bornIso = number.slice(6, 10) + "-" + number.slice(10, 12) + "-" + number.slice(12, 14);
  const real =
    born.getUTCFullYear() === year && born.getUTCMonth() === month - 1 && born.getUTCDate() === day;
  const on = today();
  if (!real || bornIso < "1900-01-01" || bornIso > on) {
    throw new Error("not a valid resident ID number");
  }
  const [y, m, d] = on.split("-").map(Number);
  const beforeBirthday = m < month || (m === month && d < day) ? 1 : 0;
  return {age: y - year - beforeBirthday, sex: Number(number[16]) % 2 ? "male" : "female"};
}

// ------------------------------------------------------------------ the environment

function kind(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number" || typeof value === "bigint") return "number";
  if (typeof value === "string") return "string";
  if (Array.isArray(value)) return "list";
  return "map";
}

function makeEnvironment() {
  const env = new Environment({unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false});
  // An int meeting a double is promoted (cel-js compares them already; arithmetic it refuses).
  const ops = {
    "+": (a, b) => a + b,
    "-": (a, b) => a - b,
    "*": (a, b) => a * b,
    "/": (a, b) => a / b,
  };
  for (const [op, fn] of Object.entries(ops)) {
    env.registerOperator(`double ${op} int`, (a, b) => fn(a, Number(b)));
    env.registerOperator(`int ${op} double`, (a, b) => fn(Number(a), b));
  }
  env.registerFunction("id_age(dyn): int", (value) => BigInt(idFacts(value).age));
  env.registerFunction("id_sex(dyn): string", (value) => idFacts(value).sex);
  env.registerFunction("sum(dyn): double", (values) => {
    if (!Array.isArray(values)) throw new Error("sum() takes a list");
    let total = 0;
    for (const value of values) {
      if (value === null || value === undefined) continue;
      if (kind(value) !== "number") throw new Error("sum() adds numbers only");
      total += Number(value);
    }
    return total;
  });
  return env;
}

const environment = makeEnvironment();
const compiled = new Map();

function program(text) {
  let found = compiled.get(text);
  if (!found) {
    found = environment.parse(text);
    compiled.set(text, found);
  }
  return found;
}

// A CEL result as JSON: ints (BigInt) become numbers, maps plain objects.
function fromCel(value) {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(fromCel);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, fromCel(v)]));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromCel(v)]));
  }
  return value === undefined ? null : value;
}

// Record values are JSON: every number already is a double here (a JS number).
export function evaluate(text, variables) {
  return fromCel(program(text)(variables));
}

export function holds(text, variables) {
  try {
    return evaluate(text, variables) === true;
  } catch {
    return false;
  }
}

// Rounded like danbao.forms.expressions.round_result: shortest decimal text, 15 significant
// digits half-up, then half-up to `places`; null unless a finite number below 10^18.
export function roundResult(value, places) {
  if (typeof value !== "number" || !Number.isFinite(value) || Math.abs(value) >= LIMIT) {
    return null;
  }
  const rounded = new Big(String(value))
    .prec(SIGNIFICANT, Big.roundHalfUp)
    .round(places, Big.roundHalfUp);
  return rounded.eq(0) ? new Big(0).round(places) : rounded;
}

// ------------------------------------------------------------------ the form logic

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function put(target, key, value) {
  if (value === null || value === undefined) delete target[key];
  else target[key] = value;
}

function parts(pointer) {
  return pointer.replace(/^\//, "").split("/");
}

function present(values, pointer) {
  const p = parts(pointer);
  if (p.length === 1) return Object.prototype.hasOwnProperty.call(values, p[0]);
  const rows = values[p[0]];
  const index = Number(p[1]);
  if (!Array.isArray(rows) || index >= rows.length) return false;
  const row = rows[index];
  return kind(row) === "map" && Object.prototype.hasOwnProperty.call(row, p[2]);
}

function remove(values, pointer) {
  const p = parts(pointer);
  if (p.length === 1) delete values[p[0]];
  else if (present(values, pointer)) delete values[p[0]][Number(p[1])][p[2]];
}

export class FormLogic {
  constructor(spec) {
    this.spec = spec;
    this.computed = spec.order.map(([name, key]) => [name, key]);
  }

  run(data) {
    const values = this.withoutComputed(data);
    let full;
    let state;
    for (;;) {
      full = this.compute(values);
      state = this.conditions(full);
      const dropped = state.hidden.filter((p) => present(values, p));
      if (!dropped.length) break;
      for (const pointer of dropped) remove(values, pointer);
    }
    for (const pointer of state.hidden) remove(full, pointer);
    return {values: full, state};
  }

  compute(values) {
    const full = clone(values);
    for (const [name, key] of this.spec.order) {
      if (key === null) {
        put(full, name, this.computedValue(this.spec.fields[name], this.bind(full)));
        continue;
      }
      const rows = Array.isArray(full[name]) ? full[name] : [];
      for (const row of rows) {
        if (kind(row) !== "map") continue;
        const bound = {...this.bind(full), [ROW]: this.fill(name, row)};
        put(row, key, this.computedValue(this.spec.rows[name][key], bound));
      }
    }
    return full;
  }

  conditions(full) {
    const hidden = [];
    const required = [];
    const readonly = [];
    const bound = this.bind(full);
    const shown = {};
    for (const [id, text] of Object.entries(this.spec.sections)) shown[id] = holds(text, bound);
    for (const [name, settings] of Object.entries(this.spec.fields)) {
      const pointer = "/" + name;
      let visible = settings.section in shown ? shown[settings.section] : true;
      if (visible && "visible_when" in settings) visible = holds(settings.visible_when, bound);
      if (!visible) {
        hidden.push(pointer);
        continue;
      }
      if ("required_when" in settings && holds(settings.required_when, bound)) {
        required.push(pointer);
      }
      if ("readonly_when" in settings && holds(settings.readonly_when, bound)) {
        readonly.push(pointer);
      }
      const rows = full[name];
      if (!(name in this.spec.rows) || !Array.isArray(rows)) continue;
      rows.forEach((row, index) => {
        if (kind(row) !== "map") return;
        const rowBound = {...bound, [ROW]: this.fill(name, row)};
        for (const [key, cell] of Object.entries(this.spec.rows[name])) {
          const at = `${pointer}/${index}/${key}`;
          if ("visible_when" in cell && !holds(cell.visible_when, rowBound)) hidden.push(at);
          else if ("required_when" in cell && holds(cell.required_when, rowBound)) {
            required.push(at);
          }
        }
      });
    }
    const sorted = (list) => [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return {hidden: sorted(hidden), required: sorted(required), readonly: sorted(readonly)};
  }

  bind(full) {
    const bound = {};
    for (const name of Object.keys(this.spec.fields)) {
      let value = full[name] === undefined ? null : full[name];
      if (name in this.spec.rows && Array.isArray(value)) {
        value = value.map((row) => (kind(row) === "map" ? this.fill(name, row) : row));
      }
      bound[name] = value;
    }
    return bound;
  }

  fill(name, row) {
    const filled = {};
    for (const key of Object.keys(this.spec.rows[name])) {
      filled[key] = row[key] === undefined ? null : row[key];
    }
    return filled;
  }

  computedValue(settings, bound) {
    let value;
    try {
      value = evaluate(settings.compute, bound);
    } catch {
      return null;
    }
    const type = settings.type;
    if (type === "number" || type === "integer") {
      const places = type === "integer" ? 0 : (settings.places ?? RATIO_PLACES);
      const rounded = roundResult(value, places);
      return rounded === null ? null : Number(rounded.toString());
    }
    if (type === "string") return typeof value === "string" ? value : null;
    if (type === "boolean") return typeof value === "boolean" ? value : null;
    return null;
  }

  withoutComputed(data) {
    const values = clone(data) || {};
    for (const [name, key] of this.computed) {
      if (key === null) {
        delete values[name];
        continue;
      }
      for (const row of Array.isArray(values[name]) ? values[name] : []) {
        if (kind(row) === "map") delete row[key];
      }
    }
    return values;
  }
}

// The places a computed number is shown with (the same as it is rounded to).
export function placesOf(settings) {
  if (settings.type === "integer") return 0;
  return settings.places ?? (settings.type === "number" ? RATIO_PLACES : 0);
}

export {MONEY_PLACES, RATIO_PLACES};
