"""Token display forms.

Tokenizers with byte-level BPE (GPT-2 and most since) write each byte as a printable unicode
character: space is ``Ġ``, newline ``Ċ``, tab ``ĉ``. The raw strings are kept as stored; this
turns one into what a reader should see. A token holding part of a multi-byte UTF-8 character
cannot be decoded alone and is shown as the replacement character.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    # The GPT-2 byte <-> unicode table: printable bytes map to themselves, the others to 256+n.
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


NEWLINE_MARK = "↵"


@lru_cache(maxsize=65536)
def token_display(raw: str) -> str:
    """Readable form of one raw token: ``Ġthe`` -> `` the``, ``Ċ`` -> ``↵``."""
    if raw is None:
        return ""
    decoder = _byte_decoder()
    if raw and all(ch in decoder for ch in raw) and any(ord(ch) > 127 for ch in raw):
        data = bytes(decoder[ch] for ch in raw)
        text = data.decode("utf-8", errors="replace")
    else:
        text = raw.replace("▁", " ")  # sentencepiece word marker
    return text.replace("\r\n", NEWLINE_MARK).replace("\n", NEWLINE_MARK).replace("\r", NEWLINE_MARK)
