"""Compact source text for an exported script: the same parsed program in fewer characters.

`ast.unparse` writes four-space indents, blank lines between definitions and spaces around
operators and after commas. `compact` re-emits its tokens with one space per indentation level
and a space between two tokens only where they would otherwise run together; a module whose
compact text does not parse to the very same tree keeps its original text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

# Two operator characters that, written together, read as another operator.
_FUSING = {"**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":=", "+=", "-=", "*=", "/=", "%=", "&=", "|=",
           "^=", "@=", "=="}
# Statements that cannot follow a block header on its line.
_COMPOUND = re.compile(r"(if|for|while|def|class|with|try|else|elif|except|finally|async|match)\b|@")
_SKIP = (tokenize.NL, tokenize.COMMENT, tokenize.ENCODING, tokenize.ENDMARKER)


def compact(source: str) -> str:
    """`source` with minimal spacing, or `source` itself where that would change its syntax tree."""
    lines, line, depth, prev = [], [], 0, ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.INDENT:
            depth += 1
        elif tok.type == tokenize.DEDENT:
            depth -= 1
        elif tok.type == tokenize.NEWLINE:
            if line:
                lines.append(" " * depth + "".join(line))
            line, prev = [], ""
        elif tok.type not in _SKIP:
            if prev and _needs_space(prev, tok.string):
                line.append(" ")
            line.append(tok.string)
            prev = tok.string
    short = "\n".join(_join_bodies(lines)) + "\n"
    try:
        same = ast.dump(ast.parse(short)) == ast.dump(ast.parse(source))
    except SyntaxError:
        same = False
    return short if same else source


def _join_bodies(lines: list[str]) -> list[str]:
    """`if c:` over a one-line simple body becomes `if c:body` (the same block)."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.endswith(":") and i + 1 < len(lines):
            depth, body = _depth(line), lines[i + 1]
            after = _depth(lines[i + 2]) if i + 2 < len(lines) else 0
            if _depth(body) == depth + 1 and after <= depth and not _COMPOUND.match(body.lstrip()):
                out.append(line + body.lstrip())
                i += 2
                continue
        out.append(line)
        i += 1
    return out


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _needs_space(left: str, right: str) -> bool:
    a, b = left[-1], right[0]
    if (a.isalnum() or a == "_") and (b.isalnum() or b == "_" or b in "'\""):
        return True
    if a.isdigit() and b == ".":
        return True
    return a + b in _FUSING
