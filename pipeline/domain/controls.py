"""Control characters in text from outside (manifests, file names, logs), made visible. Pure.

A terminal obeys what it is sent: ``ESC [ … m`` recolours, ``ESC [ 2J`` clears the screen,
``ESC ] 8 ; ; URL ESC \\`` draws a hyperlink (OSC 8), ``\\r`` overwrites the line, and the
Unicode bidirectional overrides reorder what the eye reads (CVE-2021-42574, "Trojan
Source"). ``printable`` writes each such character as its escape (``\\u001b``), so the
sequence shows as inert text: every character of Unicode category ``Cc`` (C0 ``U+0000`` to
``U+001F``, ``DEL``, C1 ``U+0080`` to ``U+009F``, which covers ESC, CSI and OSC) except the
newline and tab ``keep`` names, the bidirectional controls of Unicode's UAX #9 (``BIDI``),
and the line and paragraph separators.

The ``\\uXXXX`` form is JSON's own: applied to a JSON document it leaves one that decodes
to the same data (a valid document holds no raw ``Cc`` character in the first place).
"""

from __future__ import annotations

import re

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""UAX #9's explicit directional marks, embeddings, overrides and isolates."""
SEPARATORS = frozenset("\u2028\u2029")
"""LINE and PARAGRAPH SEPARATOR: line breaks to some terminals and renderers."""
LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x85\u2028\u2029]")
"""What ends a line somewhere: CommonMark's ``\\n``, ``\\r`` and ``\\r\\n``, and Unicode's."""

_ESCAPED = re.compile(
    "[\x00-\x1f\x7f-\x9f" + "".join(sorted(BIDI | SEPARATORS)) + "]",
)


def printable(text: str, *, keep: str = "\n\t") -> str:
    """``text`` with every control character but those in ``keep`` written as ``\\uXXXX``.

    ``printable("a\\x1b[31mred")`` is ``"a\\\\u001b[31mred"``: the colour code shows, it does
    not apply. Everything else (letters of any script, emoji, combining marks) is kept.
    """
    return _ESCAPED.sub(lambda m: m[0] if m[0] in keep else f"\\u{ord(m[0]):04x}", text)
