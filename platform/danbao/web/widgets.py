"""The widgets of generated forms beyond plain inputs: how a field is shown, how its post
is read back.

``describe`` fills a ``form_pages.Field`` for radio groups, multiple choice, switches,
money and percent inputs, dictionary and picker selects, cascading region pickers, date
ranges, addresses and rich text; ``parse`` turns the matching form post into the value
the record stores. Everything shown is computed here, so templates hold no logic and
the browser script (``console/static/widgets.js``) only improves what already works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData

from danbao.forms import InvalidValue, format_wan, format_yuan, parse_amount, to_chinese_capitals
from danbao.forms.dictionaries import DEPARTMENTS, EMPTY, Dictionary, Lookups, coded_source
from danbao.forms.kinds import ADDRESS, DATE_RANGE, RICHTEXT, kind_of
from danbao.forms.richtext import sanitise
from danbao.i18n import translate

if TYPE_CHECKING:
    from danbao.web.form_pages import Field

SEARCHABLE_OVER = 12
"""A select with more options than this gets a search box (a long list on a phone)."""

_CASCADE_WIDGETS = ("region", "cascade")


@dataclass(frozen=True)
class UserChoice:
    user_id: str
    name: str
    department: str | None
    active: bool


@dataclass(frozen=True)
class Choices:
    """Where a form's coded fields take their options: the pinned version's dictionaries
    and departments, and the tenant's users (loaded by ``pickers`` only when needed)."""

    lookups: Lookups = EMPTY
    users: Sequence[UserChoice] = field(default_factory=tuple)

    def user_options(self, locale: str, keep: Sequence[str]) -> list[tuple[str, str]]:
        departments = self.lookups.get(DEPARTMENTS)
        options = []
        for user in self.users:
            if not user.active and user.user_id not in keep:
                continue
            item = departments.by_code.get(user.department or "") if departments else None
            # The name with the department, since two colleagues may share a name.
            text = f"{user.name}（{item.label(locale)}）" if item else user.name
            options.append((user.user_id, text))
        return options


def _kept(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def options_for(
    prop: Mapping[str, Any], locale: str, choices: Choices, value: Any
) -> list[tuple[str, str]] | None:
    """(value, text) of a coded field: dictionary, department, user; None for other fields."""
    keep = _kept(value)
    if prop.get("x-picker") == "user":
        return choices.user_options(locale, keep)
    dictionary = coded_source(prop, choices.lookups)
    if dictionary is not None:
        return dictionary.options(locale, keep=keep[0] if len(keep) == 1 else None)
    return None


def _array_options(
    prop: Mapping[str, Any], locale: str, choices: Choices, value: Any
) -> list[tuple[str, str]] | None:
    """Options of a multiple-choice array: from the array's source or its items' enum."""
    found = options_for(prop, locale, choices, value)
    if found is not None:
        return found
    items = prop.get("items")
    if not isinstance(items, dict):
        return None
    if isinstance(items.get("oneOf"), list) and all(
        isinstance(o, dict) and "const" in o for o in items["oneOf"]
    ):
        return [
            (str(o["const"]), _text(o.get("title", o["const"]), locale)) for o in items["oneOf"]
        ]
    if isinstance(items.get("enum"), list):
        return [(str(v), str(v)) for v in items["enum"]]
    return None


def _text(value: Any, locale: str) -> str:
    if isinstance(value, dict):
        return str(value.get(locale) or value.get("zh-CN") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def _is_string_array(prop: Mapping[str, Any]) -> bool:
    items = prop.get("items")
    return prop.get("type") == "array" and isinstance(items, dict) and items.get("type") == "string"


# ---------------------------------------------------------------- showing


def describe(
    f: Field,
    prop: Mapping[str, Any],
    ui: Mapping[str, Any],
    locale: str,
    choices: Choices,
    options: list[tuple[str, str]] | None,
) -> bool:
    """Fill ``f`` for a widget of this module; False leaves the field to the plain inputs.

    ``options`` are the enumerated choices the schema itself declares (``oneOf``/``enum``).
    """
    widget = ui.get("widget")
    kind = kind_of(prop)
    if kind == DATE_RANGE:
        _date_range(f, locale)
    elif kind == ADDRESS:
        _address(f, prop, locale, choices)
    elif kind == RICHTEXT:
        f.kind = "richtext"
        f.extra["html"] = sanitise(f.value) if isinstance(f.value, str) else ""
        f.extra["tools"] = _richtext_tools(locale)
    elif _is_string_array(prop):
        found = _array_options(prop, locale, choices, f.value)
        if found is None:
            return False
        f.kind, f.options = "checkboxes", found
        f.extra["chosen"] = _kept(f.value)
    elif (dictionary := coded_source(prop, choices.lookups)) is not None and (
        widget in _CASCADE_WIDGETS and dictionary.hierarchical
    ):
        _cascade(f, dictionary, locale, f.value)
    elif (found := options_for(prop, locale, choices, f.value)) is not None or options:
        f.options = found if found is not None else list(options or [])
        f.kind = "radio" if widget == "radio" else "select"
        if f.kind == "select":
            f.extra["searchable"] = len(f.options) > SEARCHABLE_OVER
            f.extra["display"] = dict(f.options).get(str(f.value), "") if f.value else ""
    elif prop.get("type") == "boolean" and widget == "switch":
        f.kind = "switch"
    elif widget == "money" and prop.get("type") in ("number", "integer"):
        _money(f, ui, locale)
    elif widget == "percent" and prop.get("type") in ("number", "integer"):
        f.kind, f.inputmode = "percent", "decimal"
        f.value = _plain_number(f.value)
    else:
        return False
    f.help = _text(prop.get("description") or ui.get("help"), locale)
    f.placeholder = _text(ui.get("placeholder"), locale)
    return True


def _plain_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _money(f: Field, ui: Mapping[str, Any], locale: str) -> None:
    f.kind, f.inputmode = "money", "decimal"
    wan = ui.get("unit") == "wan"
    f.extra["unit"] = "万元" if wan else "元"
    f.extra["wan"] = wan
    f.extra["capitals"] = bool(ui.get("capitals"))
    f.extra["hint"] = ""
    amount = _amount(f.value)
    if amount is None:
        return  # a refused value is shown back as typed
    f.value = _wan_text(amount) if wan else format_yuan(amount)
    f.extra["hint"] = money_hint(amount, wan=wan, capitals=bool(ui.get("capitals")))


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return parse_amount(value)
    except InvalidValue:
        return None


def _wan_text(amount: Decimal) -> str:
    """Yuan shown in 万: as many places as it takes (up to the fen), no trailing zeros."""
    text = f"{amount.scaleb(-4):,.6f}".rstrip("0").rstrip(".")
    return text


def money_hint(amount: Decimal, *, wan: bool, capitals: bool) -> str:
    """What stands beside a money input: the other unit, and the capitals if configured."""
    parts = [f"{format_yuan(amount)}元" if wan else format_wan(amount)]
    if capitals:
        parts.append(to_chinese_capitals(amount))
    return " · ".join(parts)


def _cascade(f: Field, dictionary: Dictionary, locale: str, value: Any) -> None:
    f.kind = "cascade"
    f.extra.update(_cascade_parts(dictionary, locale, value))


def _cascade_parts(dictionary: Dictionary, locale: str, value: Any) -> dict[str, Any]:
    """Selects per level, the chosen path preselected; the browser refills the levels below."""
    chosen = [i.code for i in dictionary.path(value)] if isinstance(value, str) else []
    names = dictionary.level_names(locale)
    depth = max((i.depth for i in dictionary.items), default=0) + 1
    levels = []
    parent: str | None = None
    for level in range(depth):
        options = [(i.code, i.label(locale)) for i in dictionary.children(parent) if not i.retired]
        if level and parent is None:
            options = []  # nothing chosen above: this level waits
        current = chosen[level] if level < len(chosen) else ""
        name = names[level] if level < len(names) else str(level + 1)
        levels.append({"name": name, "options": options, "value": current})
        parent = current or None
    return {
        "levels": levels,
        "tree": dictionary.tree(locale),  # the template writes it with |tojson
        "display": dictionary.display(value, locale) if isinstance(value, str) else "",
    }


def _date_range(f: Field, locale: str) -> None:
    f.kind = "date_range"
    value = f.value if isinstance(f.value, dict) else {}
    f.extra["start"] = value.get("start", "")
    f.extra["end"] = value.get("end", "")
    f.extra["start_label"] = translate(locale, "form.range.start")
    f.extra["end_label"] = translate(locale, "form.range.end")


def _address(f: Field, prop: Mapping[str, Any], locale: str, choices: Choices) -> None:
    value = f.value if isinstance(f.value, dict) else {}
    dictionary = choices.lookups.get(str(prop.get("x-dictionary")))
    f.kind = "address"
    if dictionary is not None:
        f.extra.update(_cascade_parts(dictionary, locale, value.get("region")))
    f.extra["detail"] = value.get("detail", "")
    f.extra["detail_label"] = translate(locale, "form.address.detail")
    shown = (f.extra.get("display", ""), f.extra["detail"])
    f.extra["display"] = " ".join(p for p in shown if p)


def _richtext_tools(locale: str) -> list[tuple[str, str, str]]:
    """(command, symbol, accessible name) of the editor's toolbar."""
    return [
        (cmd, symbol, translate(locale, f"form.richtext.{cmd}"))
        for cmd, symbol in (
            ("bold", "B"),
            ("italic", "I"),
            ("insertUnorderedList", "•"),
            ("insertOrderedList", "1."),
            ("removeFormat", "⌫"),
        )
    ]


# ---------------------------------------------------------------- reading the post


NOT_HANDLED: Any = object()
"""What ``parse`` answers for a field whose post is the plain inputs' to read."""


def parse(
    prop: Mapping[str, Any], ui: Mapping[str, Any], posted: FormData, name: str, lookups: Lookups
) -> Any:
    """The value a widget of this module posted (None when empty), or ``NOT_HANDLED``.

    What does not parse is kept as typed, so validation names the field and the page
    shows the input back.
    """
    kind = kind_of(prop)
    if kind == DATE_RANGE:
        parts = {p: _posted_text(posted, f"{name}.{p}") for p in ("start", "end")}
        return {k: v for k, v in parts.items() if v} or None
    if kind == ADDRESS:
        dictionary = lookups.get(str(prop.get("x-dictionary")))
        region = _cascade_value(posted.getlist(f"{name}.region"), dictionary)
        detail = _posted_text(posted, f"{name}.detail")
        parts = {"region": region, "detail": detail}
        return {k: v for k, v in parts.items() if v} or None
    if _is_string_array(prop):
        chosen = [v for v in posted.getlist(name) if isinstance(v, str) and v]
        return list(dict.fromkeys(chosen)) or None
    dictionary = coded_source(prop, lookups)
    if dictionary is not None and ui.get("widget") in _CASCADE_WIDGETS and dictionary.hierarchical:
        return _cascade_value(posted.getlist(name), dictionary)
    widget = ui.get("widget")
    if widget == "money" and prop.get("type") in ("number", "integer"):
        text = _posted_text(posted, name)
        return None if text is None else _money_value(text, wan=ui.get("unit") == "wan")
    if widget == "percent" and prop.get("type") in ("number", "integer"):
        text = _posted_text(posted, name)
        return None if text is None else _number(text.rstrip("%％").strip(), prop)
    return NOT_HANDLED


def _posted_text(posted: FormData, name: str) -> str | None:
    raw = posted.get(name)
    text = raw.strip() if isinstance(raw, str) else ""
    return text or None


def _cascade_value(values: Sequence[Any], dictionary: Dictionary | None) -> str | None:
    """The deepest chosen level whose parent is the level chosen above it.

    Without the script, changing the province leaves the old city selected; a city that is
    not in the chosen province is ignored rather than stored.
    """
    chosen: str | None = None
    for value in values:
        if not isinstance(value, str) or not value:
            break
        if dictionary is None:
            chosen = value
            continue
        item = dictionary.by_code.get(value)
        if item is None or item.parent != chosen:
            if chosen is None:
                chosen = value  # unknown code: keep it, so validation refuses it by name
            break
        chosen = value
    return chosen


def _money_value(text: str, *, wan: bool) -> Any:
    compact = text.replace(" ", "")
    if wan and not compact.endswith(("万", "万元", "元")):
        compact += "万"
    try:
        amount = parse_amount(compact)
    except InvalidValue:
        return text
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _number(text: str, prop: Mapping[str, Any]) -> Any:
    try:
        number = Decimal(text.replace(",", ""))
    except ArithmeticError:
        return text
    if not number.is_finite():
        return text
    if number == number.to_integral_value() and "." not in text:
        return int(number)
    return text if prop.get("type") == "integer" else float(number)
