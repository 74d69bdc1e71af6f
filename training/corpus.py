"""Training text, all offline: Debian package documents, jieba's dictionary and generated strings.

``build`` collects prose lines into training/data/corpus_{zh,en}.txt once (a few MiB);
``TextSampler`` draws recognizer lines from them. The debian-reference packages are
reserved for evaluation and never read here.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import random
import re
from pathlib import Path

from pipeline.charset import big5_level1_hanzi, gb2312_hanzi

DATA_DIR = Path(__file__).resolve().parent / "data"
RESERVED = "debian-reference"

ZH_SOURCES = (
    "/usr/share/doc/debian/FAQ/debian-faq.zh-cn.txt.gz",
    "/usr/share/doc/maint-guide-zh-cn/maint-guide.zh-cn.txt.gz",
)
ZH_MAN_ROOT = Path("/usr/share/man/zh_CN")
ZH_TW_MAN_ROOT = Path("/usr/share/man/zh_TW")  # Traditional Chinese (manpages-zh)
EN_MAN_ROOT = Path("/usr/share/man/man1")
EN_DOC_ROOT = Path("/usr/share/doc")

_GROFF_ESCAPE = re.compile(r"\\(f[BIRP]|f\(..|s[-+]?\d+|\(..|\*.|.)")
_HAS_HAN = re.compile(r"[\u4e00-\u9fff]")


def _read(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="ignore") as f:
        return f.read()


def _man_text(path: Path) -> list[str]:
    lines = []
    for raw in _read(path).splitlines():
        if raw.startswith((".", "'")):
            raw = raw.split(" ", 1)[1] if raw.startswith((".B ", ".I ", ".SH ", ".SS ")) else ""
        line = _GROFF_ESCAPE.sub("", raw).replace('"', "").strip()
        if line:
            lines.append(line)
    return lines


def _clean(lines, want_han: bool) -> list[str]:
    out = []
    for line in lines:
        line = re.sub(r"\s+", " ", line).strip()
        if len(line) < 4 or (want_han and not _HAS_HAN.search(line)):
            continue
        out.append(line)
    return out


def build(data_dir: Path = DATA_DIR, en_man_pages: int = 4000, en_docs: int = 1500) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    zh: list[str] = []
    for src in ZH_SOURCES:
        zh += _read(Path(src)).splitlines()
    for path in sorted(ZH_MAN_ROOT.rglob("*.gz")):
        zh += _man_text(path)
    zh_tw: list[str] = []
    for path in sorted(ZH_TW_MAN_ROOT.rglob("*.gz")):
        zh_tw += _man_text(path)
    en: list[str] = []
    for path in sorted(EN_MAN_ROOT.glob("*.gz"))[:en_man_pages]:
        en += _man_text(path)
    docs = [p for p in sorted(EN_DOC_ROOT.glob("*/copyright")) if RESERVED not in str(p)]
    for path in docs[:en_docs]:
        en += _read(path).splitlines()
    zh, zh_tw, en = _clean(zh, True), _clean(zh_tw, True), _clean(en, False)
    # copyright files list many file paths; keep prose
    en = [line for line in en if line.isascii() and line.count("/") <= 1 and not line.startswith(("Files:", "Copyright"))]
    random.Random(0).shuffle(en)
    en = en[:200_000]  # ~10 MiB: the data folder must stay small enough to carry to a GPU machine
    (data_dir / "corpus_zh.txt").write_text("\n".join(zh), encoding="utf-8")
    (data_dir / "corpus_en.txt").write_text("\n".join(en), encoding="utf-8")
    (data_dir / "corpus_zh_tw.txt").write_text("\n".join(zh_tw), encoding="utf-8")
    print(f"corpus: {len(zh)} Chinese, {len(zh_tw)} Traditional Chinese, {len(en)} English lines in {data_dir}")


def jieba_dictionary() -> Path:
    import jieba  # only for its bundled dictionary file

    return Path(jieba.__file__).parent / "dict.txt"


def _jieba_words(data_dir: Path = DATA_DIR) -> tuple[list[str], list[float]]:
    # a copy beside the corpora (training.gpu_bundle) serves a machine without jieba
    copy = data_dir / "jieba_dict.txt"
    words, weights = [], []
    with open(copy if copy.is_file() else jieba_dictionary(), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in parts[0]):
                words.append(parts[0])
                weights.append(float(parts[1]) ** 0.5)  # flatten so rarer words appear too
    return words, weights


TRADITIONAL_SHARE = 0.2  # of the mixed recognizer's lines


class TextSampler:
    """Draws one recognizer line at a time: prose, dictionary words, rare hanzi or generated strings."""

    def __init__(self, lang: str, seed: int, data_dir: Path = DATA_DIR):
        self.lang = lang
        self.rng = random.Random(seed)
        self.en = (data_dir / "corpus_en.txt").read_text(encoding="utf-8").splitlines()
        self.words_en = sorted({w for line in self.en[:50000] for w in re.findall(r"[A-Za-z]{2,}", line)})
        if lang != "en":
            self.zh = (data_dir / "corpus_zh.txt").read_text(encoding="utf-8").splitlines()
            self.words_zh, weights = _jieba_words(data_dir)
            # cumulative once: random.choices would re-sum 350k weights on every call (~15 ms)
            self.cum_weights_zh = list(itertools.accumulate(weights))
            self.hanzi = gb2312_hanzi()
            self.zh_tw = (data_dir / "corpus_zh_tw.txt").read_text(encoding="utf-8").splitlines()
            self.hanzi_tw = big5_level1_hanzi()
            import opencc  # train extra: Simplified -> Traditional for word and prose lines

            self.to_traditional = [opencc.OpenCC("s2t").convert, opencc.OpenCC("s2twp").convert]

    def __call__(self) -> str:
        r = self.rng.random()
        if self.lang == "en":
            return self._english() if r < 0.75 else self._generated()
        if self.rng.random() < TRADITIONAL_SHARE:
            return self._traditional()
        if r < 0.38:
            return self._chinese_prose()
        if r < 0.61:
            return self._chinese_words()
        if r < 0.65:
            return "".join(self.rng.choices(self.hanzi, k=self.rng.randint(2, 12)))  # coverage of rare hanzi
        if r < 0.80:
            return self._mixed()
        if r < 0.92:
            return self._english()
        return self._generated()

    def _span(self, line: str, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi)
        if len(line) <= n:
            return line
        start = self.rng.randint(0, len(line) - n)
        return line[start : start + n].strip()

    def _chinese_prose(self) -> str:
        return self._span(self.rng.choice(self.zh), 3, 18)

    def _traditional(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return self._span(self.rng.choice(self.zh_tw), 3, 18)
        if r < 0.85:  # Taiwan print: s2twp also swaps the vocabulary (软件 -> 軟體)
            simplified = self._chinese_words() if r < 0.65 else self._chinese_prose()
            return self.rng.choice(self.to_traditional)(simplified)
        return "".join(self.rng.choices(self.hanzi_tw, k=self.rng.randint(2, 12)))  # coverage of rarer characters

    def _chinese_words(self) -> str:
        words = self.rng.choices(self.words_zh, cum_weights=self.cum_weights_zh, k=self.rng.randint(2, 7))
        out = ""
        for w in words:
            out += w
            if self.rng.random() < 0.15:
                out += self.rng.choice("，。、；：？！")
        return out

    def _english(self) -> str:
        if self.rng.random() < 0.3:
            return " ".join(self.rng.choices(self.words_en, k=self.rng.randint(1, 5)))
        line = self._span(self.rng.choice(self.en), 4, 40)
        return line

    def _mixed(self) -> str:
        parts = [self._chinese_words()[: self.rng.randint(2, 8)], self.rng.choice(self.words_en)]
        if self.rng.random() < 0.5:
            parts.append(self._generated())
        self.rng.shuffle(parts)
        return self.rng.choice(["", " "]).join(parts)

    def _generated(self) -> str:
        rng = self.rng
        kind = rng.randrange(7)
        if kind == 0:
            return f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if kind == 1:
            cur = rng.choice(["$", "¥", "€", "USD ", ""])
            return f"{cur}{rng.randint(0, 99999):,}.{rng.randint(0, 99):02d}"
        if kind == 2:
            return "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", k=rng.randint(5, 14)))
        if kind == 3:
            return f"{rng.randint(1, 9999)} {rng.choice(self.words_en).title()} {rng.choice(['St', 'Road', 'Ave', 'Blvd'])}."
        if kind == 4:
            return f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
        if kind == 5:
            label = rng.choice(["Total", "Qty", "Item", "Tax", "No.", "Date", "Invoice"])
            return f"{label}: {rng.randint(0, 9999)}"
        if self.lang == "en":
            return f"{rng.randint(0, 100)}% {rng.choice(self.words_en)}"
        label = rng.choice(["合计", "数量", "单价", "日期", "编号", "地址", "电话", "金额"])
        return f"{label}{rng.choice(['：', ':'])}{rng.randint(0, 99999)}{rng.choice(['元', '', '件', '号'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    build(args.data_dir)


if __name__ == "__main__":
    main()
