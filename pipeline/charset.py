"""Character sets: index <-> character for the recognizer; index 0 is the CTC blank.

A charset file holds one character per line (a line with a single space is the
space character), in class order starting at index 1.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

BLANK = 0

# Punctuation that Chinese text uses in full-width form; NFKC would fold these
# to ASCII, so they are kept as they are written.
CJK_PUNCTUATION = "，。、；：？！“”‘’（）【】《》〈〉「」『』〔〕…—～·￥％＃＠＆＊＋－＝／＼｜＿"
# Typeset documents' bullets, dashes, guillemets and signs. Appended after the hanzi: the
# mixed recognizer was given these classes after training (training.warm_start.add_characters)
# and a charset only ever grows at its end.
TYPOGRAPHY = "•–«»°×±€£§"
# Simplified forms, outside GB2312, of Big5 level-1 characters (OpenCC t2s): the common hanzi
# GB18030 has and GB2312 lacks, such as 啰 and 镕. Appended after the Traditional set.
GB18030_COMMON_EXTRA = "𬣙𫍙𫐄䜣绖诐𫓧𪟝旸铇嵚𫖯𫛞滪锜鸰筿𫄶𬙂钖梼秾镕飏𫉄𫍻酦跶𫘪㑩眬啰𪲔臜𬬻"


def gb2312_hanzi() -> list[str]:
    """The 6,763 hanzi of GB2312 (levels 1 and 2), in code order."""
    out = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                ch = bytes([hi, lo]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            out.append(ch)
    return out


def big5_level1_hanzi() -> list[str]:
    """The 5,401 frequently used hanzi of Big5 (level 1, 0xA440-0xC67E): Traditional Chinese in common use."""
    out = []
    for hi in range(0xA4, 0xC7):
        for lo in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if (hi, lo) > (0xC6, 0x7E):
                break
            try:
                out.append(bytes([hi, lo]).decode("big5"))
            except UnicodeDecodeError:
                continue
    return out


def ascii_printable() -> list[str]:
    return [chr(c) for c in range(0x20, 0x7F)]


def build_charset(lang: str) -> list[str]:
    if lang == "en":
        return ascii_printable()
    if lang in ("zh", "mix"):
        seen: dict[str, None] = {}
        # a charset only grows at its end: a trained recognizer's classes keep their indices
        extensions = list(TYPOGRAPHY) + big5_level1_hanzi() + list(GB18030_COMMON_EXTRA)
        for ch in ascii_printable() + list(CJK_PUNCTUATION) + gb2312_hanzi() + extensions:
            seen.setdefault(ch, None)
        return list(seen)
    raise ValueError(f"unknown lang {lang!r}")


class Charset:
    def __init__(self, chars: list[str]):
        if len(set(chars)) != len(chars):
            raise ValueError("charset has duplicate characters")
        self.chars = list(chars)
        self.index = {ch: i + 1 for i, ch in enumerate(self.chars)}

    @property
    def num_classes(self) -> int:
        return len(self.chars) + 1  # + blank

    @classmethod
    def load(cls, path: Path) -> Charset:
        text = Path(path).read_text(encoding="utf-8")
        return cls([line for line in text.split("\n") if line != ""])

    def save(self, path: Path) -> None:
        Path(path).write_text("\n".join(self.chars) + "\n", encoding="utf-8")

    def normalize(self, text: str) -> str:
        """Map text to what this charset can say: NFKC for Latin, keep CJK punctuation."""
        out = []
        for ch in text:
            if ch not in self.index:
                ch = unicodedata.normalize("NFKC", ch)
            out.extend(c for c in ch if c in self.index)
        return "".join(out)

    def class_mask(self, script: str) -> list[bool]:
        """Which classes (blank first) may be emitted when reading ``script``: "latin" keeps every
        class below the CJK blocks (U+2E80), so lang=en never says a hanzi or a full-width form
        however the network scores it; anything else keeps them all."""
        if script != "latin":
            return [True] * self.num_classes
        return [True] + [ord(ch[0]) < 0x2E80 for ch in self.chars]

    def encode(self, text: str) -> list[int]:
        return [self.index[ch] for ch in text if ch in self.index]

    def decode(self, indices: list[int]) -> str:
        return "".join(self.chars[i - 1] for i in indices if i != BLANK)
