"""Control characters from outside are shown, never obeyed (pipeline.domain.controls)."""

from __future__ import annotations

import json
import unicodedata

from pipeline.domain.controls import BIDI, printable


def test_escape_csi_and_osc_sequences_show_as_text() -> None:
    assert printable("a\x1b[31mred\x1b[0m") == "a\\u001b[31mred\\u001b[0m"
    osc8 = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    assert "\x1b" not in printable(osc8)
    assert printable("\x9b2J") == "\\u009b2J"  # C1 CSI, one character


def test_every_c0_and_c1_control_but_newline_and_tab_is_escaped() -> None:
    controls = [chr(c) for c in range(0x110) if unicodedata.category(chr(c)) == "Cc"]
    assert len(controls) == 65
    for char in controls:
        shown = printable(f"x{char}y")
        assert shown == (f"x{char}y" if char in "\n\t" else f"x\\u{ord(char):04x}y")
    assert printable("a\nb\tc", keep="") == "a\\u000ab\\u0009c"


def test_bidi_overrides_are_escaped_and_other_scripts_and_emoji_kept() -> None:
    for char in BIDI:
        assert printable(f"a{char}b") == f"a\\u{ord(char):04x}b"
    kept = "naïve 日本語 עברית e\u0301 👩\u200d💻"
    assert printable(kept) == kept


def test_a_json_document_stays_one_with_the_same_data() -> None:
    data = {"prompt": "right\u202eleft", "name": "a\x1bb"}
    document = json.dumps(data, ensure_ascii=False)
    assert json.loads(printable(document)) == data
