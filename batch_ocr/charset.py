"""Character sets and the token ids the SRN uses.

Token ids: 0 is padding (and the CTC blank), 1 is GO (decoder start), 2 is EOS; characters start
at 3 in charset order. Keeping the specials fixed lets every model share the decoding code.
"""
from __future__ import annotations

PAD, GO, EOS = 0, 1, 2
NUM_SPECIAL = 3

_ASCII = "".join(chr(c) for c in range(32, 127))  # space .. tilde
_LATIN1_LETTERS = "".join(chr(c) for c in range(0xC0, 0x100) if chr(c) not in "×÷")
_TYPOGRAPHY = "‘’“”„«»–—€£¥°§½•…"

PRINTED_CHARSET = _ASCII + _LATIN1_LETTERS + _TYPOGRAPHY
DIGITS_CHARSET = "0123456789 -/."


class Charset:
    """Maps text to token ids and back for one model's charset."""

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise ValueError("charset has repeated characters")
        self.chars = chars
        self._index = {c: i + NUM_SPECIAL for i, c in enumerate(chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + NUM_SPECIAL

    def encode(self, text: str) -> list[int]:
        """Token ids for `text` (no GO/EOS); characters outside the charset raise KeyError."""
        return [self._index[c] for c in text]

    def covers(self, text: str) -> bool:
        return all(c in self._index for c in text)

    def decode(self, ids) -> str:
        """Text for token ids, stopping at EOS and skipping specials."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= NUM_SPECIAL:
                out.append(self.chars[i - NUM_SPECIAL])
        return "".join(out)
