"""Which grid each weight is exported on: the [quant] width of its role, then `REGEX=BITS` rules.

One rule for everyone who needs it: `golf quantize` rounds onto these grids, and QAT in
`golf train` trains against the same grids.
"""

from __future__ import annotations

import re

from golfcli.config import QuantConfig
from golfcli.errors import GolfError
from golfcli.qtensor import MAX_BITS, MIN_BITS, role_of


def parse_bits(text: str | int, what: str = "bit width") -> int:
    """`int5`, `5` or 5 → 5, checked against the supported range."""
    raw = str(text).strip().lower().removeprefix("int")
    try:
        bits = int(raw)
    except ValueError:
        raise GolfError(f"{what} must look like int5 or 5, got {text!r}") from None
    if not MIN_BITS <= bits <= MAX_BITS:
        raise GolfError(f"{what} must be between int{MIN_BITS} and int{MAX_BITS}, got {text!r}")
    return bits


def parse_rules(rules: list[str]) -> list[tuple[re.Pattern, int]]:
    """`REGEX=BITS` strings → compiled (pattern, bits) pairs; the last `=` separates them."""
    parsed = []
    for rule in rules:
        pattern, sep, bits = rule.rpartition("=")
        if not sep or not pattern:
            raise GolfError(f"--rule must look like REGEX=BITS (e.g. 'blocks\\.[45]\\.=int6'), got {rule!r}")
        try:
            parsed.append((re.compile(pattern), parse_bits(bits, f"--rule {rule!r}")))
        except re.error as exc:
            raise GolfError(f"--rule {rule!r}: bad regular expression ({exc})") from None
    return parsed


def bits_for(name: str, q: QuantConfig, rules: list[tuple[re.Pattern, int]]) -> tuple[int, bool]:
    """(bit width, set by a rule) for a tensor: role width, overridden by the last matching rule."""
    bits, by_rule = getattr(q, f"{role_of(name)}_bits"), False
    for pattern, rule_bits in rules:
        if pattern.search(name):
            bits, by_rule = rule_bits, True
    return bits, by_rule
