"""The metric names a PromQL expression reads (enough of PromQL for dashboards and alert rules).

Strips what cannot be a metric name (strings, label matchers, range and offset durations, label lists
of by/without/on/ignoring/group_*), then keeps identifiers that are neither functions, aggregations
(followed by `(`), nor keywords. promtool has already checked that each expression parses.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
    | {"inf", "nan", "Inf", "NaN", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_DURATION_TAIL = re.compile(r"\boffset\s+\S+")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _DURATION_TAIL.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        token = match.group()
        before = text[match.start() - 1] if match.start() else " "
        if before.isdigit() or before == ".":  # the exponent or unit of a number
            continue
        if token in KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(token)
    return names
