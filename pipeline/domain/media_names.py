"""Which object in a drop folder a manifest's media name means. Pure, no I/O.

Users write names as their system spells them: macOS uploads keys in NFD while a manifest
typed elsewhere is NFC, Windows users differ in case. A name resolves to the object it
names exactly, else to the one object equal to it in Unicode NFC, else (only when
exactly one object matches) to the one equal ignoring case. Anything else is refused
with a message listing what the folder really holds, and the name it most resembles.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from pipeline.domain.layout import MANIFEST_NAME

LISTED_NAMES = 20
"""Names a "not found" message lists before it says how many more there are."""
Quote = Callable[[str], str]
"""How a message shows a name: ``repr`` in plain text, ``markdown.code`` in the UI's Markdown."""
RESEMBLANCE = 0.7
"""``difflib`` ratio from which a present name is offered for a missing one: one wrong
letter in ``face.png`` (0.875) or another extension (``face.jpg``: 0.75) is a typo;
``voice.wav`` for ``face.png`` (0.47) is not."""


def is_folder_marker(key: str, size: int) -> bool:
    """A zero-byte ``…/`` object that consoles and sync tools create for a folder."""
    return key.endswith("/") and size == 0


def folder_names(folder: str, keys: Iterable[tuple[str, int]]) -> list[str]:
    """The media names (relative to ``folder``) of ``(key, size)`` listed under it.

    Folder markers and the drop's own manifest are not media.
    """
    return sorted(
        key[len(folder) :]
        for key, size in keys
        if key.startswith(folder)
        and not is_folder_marker(key, size)
        and key[len(folder) :] != MANIFEST_NAME
    )


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def resolve_name(wanted: str, present: Sequence[str]) -> str | None:
    """The name in ``present`` that ``wanted`` means, or ``None`` when none or several do."""
    if wanted in present:
        return wanted
    for same in (_nfc, lambda name: _nfc(name).casefold()):
        matches = [name for name in present if same(name) == same(wanted)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            return None
    return None


def describe_folder(present: Sequence[str], quote: Quote = repr) -> str:
    """``holds 'a.png', 'b.wav'`` / ``is empty`` for messages, each name ``quote``d."""
    if not present:
        return "is empty"
    shown = ", ".join(quote(name) for name in present[:LISTED_NAMES])
    more = len(present) - LISTED_NAMES
    return f"holds {shown}" + (f" and {more} more" if more > 0 else "")


def closest_name(wanted: str, present: Sequence[str]) -> str | None:
    """The name in ``present`` that ``wanted`` most resembles (a typo), or ``None``.

    Compared in NFC, ignoring case, from ``RESEMBLANCE`` up.
    """
    folded = {_nfc(name).casefold(): name for name in present}
    close = difflib.get_close_matches(_nfc(wanted).casefold(), folded, n=1, cutoff=RESEMBLANCE)
    return folded[close[0]] if close else None


def did_you_mean(missing: Sequence[str], present: Sequence[str], quote: Quote = repr) -> str:
    """`` (did you mean 'face.png'?)`` for missing names that resemble present ones, else ``""``.

    With several missing names each guess says which one it stands for.
    """
    guesses = {name: closest_name(name, present) for name in missing}
    found = {name: guess for name, guess in guesses.items() if guess is not None}
    if not found:
        return ""
    if len(missing) == 1:
        return f" (did you mean {quote(next(iter(found.values())))}?)"
    pairs = ", ".join(f"{quote(guess)} for {quote(name)}" for name, guess in found.items())
    return f" (did you mean {pairs}?)"


def waiting_for_media(missing: Sequence[str], present: Sequence[str], quote: Quote = repr) -> str:
    """What a session waiting for media shows, with what its folder really holds:
    ``waiting for 'fase.png'; the drop folder holds 'face.png' (did you mean 'face.png'?)``."""
    return (
        f"waiting for {', '.join(quote(name) for name in missing)}; "
        f"the drop folder {describe_folder(present, quote)}"
        + did_you_mean(missing, present, quote)
    )
