"""The instance row's ``state`` column writes with msgspec instead of tortoise's default
``json.dumps``: whatever it writes must read back as the JSON the default wrote."""

from __future__ import annotations

import json
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st
from tortoise.fields import JSONField

from danbao.db.models import WorkflowInstance

COLUMN = cast(JSONField[Any], WorkflowInstance._meta.fields_map["state"])


def before(value: Any) -> str:
    """What the column wrote before: tortoise's default, compact ``json.dumps``."""
    return json.dumps(value, separators=(",", ":"))


def same_json(value: Any) -> None:
    written = COLUMN.encoder(value)
    assert isinstance(written, str)  # the drivers take text (jsonb on PostgreSQL, TEXT on SQLite)
    assert json.loads(written) == json.loads(before(value)) == value
    assert COLUMN.decoder(written) == value
    assert COLUMN.decoder(written.encode()) == value
    assert COLUMN.decoder(before(value)) == value  # rows written before read the same


# What a state is made of: strings (any text: Chinese names and opinions, quotes,
# backslashes, control characters, line separators, astral characters), 64-bit ints,
# bools and None, in dicts with string keys and lists.
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
LEAVES = TEXT | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none()
TREES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_any_state_like_tree_reads_back_as_json_dumps_wrote_it(value: Any) -> None:
    same_json(value)


def test_awkward_text_and_key_order() -> None:
    value: dict[str, Any] = {
        "z": '同意。"引号" \\ 反斜杠\n换行\t\u2028\u2029\x00\x1f\x7f 🙂',
        "a": [0, -1, 2**63 - 1, True, False, None, {}, []],
        "中文键": {"b": 1, "a": 2},
    }
    same_json(value)
    assert list(json.loads(COLUMN.encoder(value))) == ["z", "a", "中文键"]  # order kept
    assert list(json.loads(COLUMN.encoder(value))["中文键"]) == ["b", "a"]
