"""The one JavaScript lexer: blank strings, comments and regex literals, keep every position.

Used by the reaction checker (reactions/check.py: which names are called) and by lint (where
a reported name sits). Not a parser: enough to tell code from literal text.
"""

from __future__ import annotations

_REGEX_PREV = set("(,=:[!&|?{};+-*%<>~^") | {""}


def js_mask(code: str) -> str:
    """The code with strings, comments and regex literals blanked (same length and lines)."""
    out = list(code)
    i, n = 0, len(code)
    prev = ""
    while i < n:
        c = code[i]
        nxt = code[i + 1] if i + 1 < n else ""
        end = -1
        if c == "/" and nxt == "/":  # through the comment's last character, newline kept
            end = code.find("\n", i)
            end = n + 1 if end < 0 else end + 1
        elif c == "/" and nxt == "*":
            end = code.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif c in "'\"`" or (c == "/" and prev in _REGEX_PREV):
            j = i + 1
            in_class = False
            while j < n and code[j] != "\n" or (c == "`" and j < n):
                if code[j] == "\\":
                    j += 2
                    continue
                if c == "/" and code[j] == "[":
                    in_class = True
                elif c == "/" and code[j] == "]":
                    in_class = False
                elif code[j] == c and not in_class:
                    break
                j += 1
            end = min(j + 1, n)
        if end > i:
            for k in range(i + 1, end - 1):
                if out[k] != "\n":
                    out[k] = " "
            prev = "x"
            i = end
            continue
        if not c.isspace():
            prev = c if not (c.isalnum() or c in "_$") else "x"
        i += 1
    return "".join(out)
