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


def _token_bytes(raw: str) -> bytes | None:
    """The bytes of a byte-level BPE token, or None for a token in another alphabet."""
    decoder = _byte_decoder()
    if raw and all(ch in decoder for ch in raw):
        return bytes(decoder[ch] for ch in raw)
    return None


@lru_cache(maxsize=65536)
def _partial(raw: str | None) -> bool:
    """Whether ``raw`` is a byte-level token that does not decode alone."""
    data = _token_bytes(raw) if raw else None
    return data is not None and _decodes(data) is None


def _decodes(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def display_pieces(tokens) -> list[tuple[int, int, str]]:
    """Tokens grouped for display: ``(first, last, text)`` per shown piece. A byte-level token
    holding part of a multi-byte UTF-8 character is joined with the following ones that
    complete it (as Neuronpedia's cleanup does), so ``â`` ``Ģ`` ``ľ`` shows once as ``“``
    instead of three ``�``; every other token is a piece of its own."""
    if not any(_partial(t) for t in tokens):  # the common case: one piece per token
        return [(i, i, token_display(t)) for i, t in enumerate(tokens)]
    out: list[tuple[int, int, str]] = []
    n = len(tokens)
    i = 0
    while i < n:
        data = _token_bytes(tokens[i]) if tokens[i] else None
        last = i
        if data is not None and _decodes(data) is None:
            for j in range(i + 1, min(n, i + 4)):
                more = _token_bytes(tokens[j]) if tokens[j] else None
                if more is None:
                    break
                data += more
                text = _decodes(data)
                if text is not None:
                    last = j
                    break
        if last > i:
            out.append((i, last, _marks(text)))
        else:
            out.append((i, i, token_display(tokens[i])))
        i = last + 1
    return out


def _marks(text: str) -> str:
    return text.replace("\r\n", NEWLINE_MARK).replace("\n", NEWLINE_MARK).replace("\r", NEWLINE_MARK)


def visible_whitespace(text: str) -> str:
    """``text`` with spaces as ``·`` and tabs as ``→``, for places where a token's leading or
    only whitespace must be seen (logit tables, whitespace-only tokens)."""
    return text.replace(" ", "·").replace("\t", "→")
