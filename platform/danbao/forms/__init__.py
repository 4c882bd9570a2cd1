"""Form field types a guarantor needs beyond JSON Schema's own.

- :mod:`~danbao.forms.identifiers`: Chinese ID numbers, credit codes, bank cards and
  mobiles as ``format`` names, a jsonschema ``FormatChecker`` for them, and the facts
  (age, sex) an ID number gives to conditions;
- :mod:`~danbao.forms.money`: exact yuan, shown with separators, in 万元, in capitals;
- :mod:`~danbao.forms.percent`: percentages kept as ratios.

Every refusal is an :class:`~danbao.forms.invalid.Invalid` with zh-CN and English text.
"""

from danbao.forms.identifiers import (
    FORMAT_CHECKERS,
    IdFacts,
    check,
    format_checker,
    id_facts,
    normalise,
)
from danbao.forms.invalid import Invalid, InvalidValue
from danbao.forms.money import format_wan, format_yuan, parse_amount, to_chinese_capitals
from danbao.forms.percent import format_percent, parse_percent

__all__ = [
    "FORMAT_CHECKERS",
    "IdFacts",
    "Invalid",
    "InvalidValue",
    "check",
    "format_checker",
    "format_percent",
    "format_wan",
    "format_yuan",
    "id_facts",
    "normalise",
    "parse_amount",
    "parse_percent",
    "to_chinese_capitals",
]
