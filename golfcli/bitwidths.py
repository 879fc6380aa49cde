"""Which grid each weight is exported on: the [quant] width of its role, then `REGEX=BITS` rules,
and the clip rule its row scales come from (`quant.clip`, then `REGEX=CLIP` clip rules).

One rule for everyone who needs it: `golf quantize` rounds onto these grids, QAT in `golf train`
trains against the same grids, and `QuantConfig.validate()` checks the settings with these
parsers (torch-free, so a bad value is refused before torch loads). Errors are SettingErrors
naming the setting: the resolver names the stage flag instead when the value came from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from golfcli.config.base import SettingError, require

if TYPE_CHECKING:
    from golfcli.config import QuantConfig

MIN_BITS, MAX_BITS = 2, 8
_EMBED_RE = re.compile(r"(^|\.)(tok_emb|[a-z_]*embeds?)(\.\d+)?(\.|$)")


def role_of(name: str) -> str:
    """The quantization role a tensor's name implies: attn, mlp, embed or other."""
    if ".attn." in name or name.startswith("attn."):
        return "attn"
    if ".mlp." in name or name.startswith("mlp.") or "repeat_mlp" in name:
        return "mlp"
    if _EMBED_RE.search(name):
        return "embed"
    return "other"


def parse_bits(text: str | int, key: str) -> int:
    """`int5`, `5` or 5 → 5, checked against the supported range."""
    try:
        bits = int(str(text).strip().lower().removeprefix("int"))
    except ValueError:
        raise SettingError(key, f"must look like int5 or 5, got {text!r}") from None
    require(MIN_BITS <= bits <= MAX_BITS, key, f"must be between int{MIN_BITS} and int{MAX_BITS}, got {text!r}")
    return bits


def _parse_rules(rules: list[str], key: str, form: str, parse: Callable[[str, str], Any]) -> list[tuple[re.Pattern, Any]]:
    """`REGEX=VALUE` strings → (compiled REGEX, parsed VALUE) pairs; the last `=` separates them."""
    parsed = []
    for rule in rules:
        pattern, sep, value = rule.rpartition("=")
        require(bool(sep and pattern), key, f"entries must look like {form}, got {rule!r}")
        try:
            parsed.append((re.compile(pattern), parse(value, key)))
        except re.error as exc:
            raise SettingError(key, f"entry {rule!r}: bad regular expression ({exc})") from None
        except SettingError as exc:
            raise SettingError(key, f"entry {rule!r}: {exc.problem}") from None
    return parsed


def parse_rules(rules: list[str], key: str = "quant.rules") -> list[tuple[re.Pattern, int]]:
    """`REGEX=BITS` strings → compiled (pattern, bits) pairs."""
    return _parse_rules(rules, key, "REGEX=BITS (e.g. 'blocks\\.[45]\\.=int6')", parse_bits)


def bits_for(name: str, q: QuantConfig, rules: list[tuple[re.Pattern, int]]) -> tuple[int, bool]:
    """(bit width, set by a rule) for a tensor: role width, overridden by the last matching rule."""
    bits, by_rule = getattr(q, f"{role_of(name)}_bits"), False
    for pattern, rule_bits in rules:
        if pattern.search(name):
            bits, by_rule = rule_bits, True
    return bits, by_rule


@dataclass(frozen=True)
class ClipRule:
    """A parsed `--clip` value."""

    kind: str  # "search", "sdclip" or "percentile"
    value: float = 0.0

    def __str__(self) -> str:
        return self.kind if self.kind == "search" else f"{self.kind}:{self.value:g}"


def parse_clip(text: str, key: str = "quant.clip") -> ClipRule:
    """Parse `search`, `sdclip:K` (K > 0) or `percentile:P` (0 < P ≤ 1; P > 1 is read as a percent)."""
    spec = text.strip().lower()
    if spec == "search":
        return ClipRule("search")
    kind, _, raw = spec.partition(":")
    require(kind in ("sdclip", "percentile") and bool(raw), key,
            f"must be search, sdclip:K or percentile:P, got {text!r}")
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(key, f"{kind} needs a number, got {raw!r}") from None
    if kind == "percentile" and 1.0 < value <= 100.0:
        value = round(value / 100.0, 12)
    require(value > 0 and (kind == "sdclip" or value <= 1.0), key,
            f"{text!r} is out of range ({'K > 0' if kind == 'sdclip' else '0 < P <= 1'})")
    return ClipRule(kind, value)


def parse_clip_rules(rules: list[str], key: str = "quant.clip_rules") -> list[tuple[re.Pattern, ClipRule]]:
    """`REGEX=CLIP` strings (e.g. `tok_emb=sdclip:20`) → (pattern, rule) pairs."""
    return _parse_rules(rules, key, "REGEX=CLIP (e.g. 'tok_emb=sdclip:20')", parse_clip)
