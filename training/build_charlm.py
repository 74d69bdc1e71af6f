"""Build the recognizer's character language model (pipeline/charlm.py) from the training corpora.

    .venv/bin/python -m training.build_charlm            # ~1 min; writes models/charlm.{npz,json}

Counts every n-gram up to ``--order`` of the folded corpus lines (training/data/corpus_*.txt:
Debian documents in English, Simplified and Traditional Chinese; never debian-reference),
keeps those seen ``--min-count`` times or more (and every single symbol), and writes the
interpolated absolute-discounting model as an exact back-off table, with its lexicon: the
words of a spelling dictionary (``--dictionary``, Debian's wamerican, which
scripts/install_train_fonts.sh installs with the other training-only packages; not its
abbreviations) and every word of four letters or more the corpora have ``--min-count`` times.
The decoding weights in the card are chosen afterwards by ``python -m training.tune_decoding
--write``; a rebuild keeps the card's current ones.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path

from pipeline.cards import sha256_of
from pipeline.charlm import END, LM_NAME, START, CharNgramLM, fold_text, words_of
from training.corpus import DATA_DIR

CORPORA = ("corpus_en.txt", "corpus_zh.txt", "corpus_zh_tw.txt")
TABLE = f"{LM_NAME}.npz"
# a first build's decoding (the shipped card's choice); tune_decoding --write replaces alpha, beta and the word bonus
DEFAULT_DECODING = {
    "alpha": 0.1,
    "beta": 0.5,
    "word_bonus": 3.0,
    "beam_width": 8,
    "sure": 0.98,
    "second_look": 1.3,
    "second_look_max_chars": 16,
}
DICTIONARY = Path("/usr/share/dict/words")


HELD_OUT_RUN = 12  # a corpus line sharing this many characters (whitespace aside) with a validation page is left out


def held_out_runs(run: int = HELD_OUT_RUN) -> set[str]:
    """Every ``run``-character stretch (whitespace removed) of the validation-only PDFs' text: the
    corpora include the Debian FAQ those pages are printed from, and the decoding weights are chosen
    on them (training.tune_decoding), so the model must not know their lines."""
    from training.debian_pdfs import validation_pages

    runs: set[str] = set()
    for page in validation_pages(100):
        for text in page.texts:
            flat = "".join(text.split())
            runs.update(flat[i : i + run] for i in range(len(flat) - run + 1))
    return runs


def shares_a_run(line: str, runs: set[str], run: int = HELD_OUT_RUN) -> bool:
    flat = "".join(line.split())
    return any(flat[i : i + run] in runs for i in range(len(flat) - run + 1))


def count_ngrams(lines, order: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    pad = START * (order - 1)
    for line in lines:
        s = pad + fold_text(line) + END
        for i in range(order - 1, len(s)):
            for n in range(1, order + 1):
                counts[s[i - n + 1 : i + 1]] += 1
    return counts


def build_table(counts: collections.Counter, order: int, min_count: int, discount: float) -> tuple[dict, float]:
    """{n-gram: (log P(last | rest), log back-off weight as a history)} and the log floor, natural logs."""
    kept = {g: c for g, c in counts.items() if len(g) == 1 or c >= min_count}
    context_total: collections.Counter = collections.Counter()
    context_types: collections.Counter = collections.Counter()
    for g, c in kept.items():
        context_total[g[:-1]] += c
        context_types[g[:-1]] += 1
    vocab = sum(1 for g in kept if len(g) == 1) + 1  # + one for every symbol the corpus never had

    def weight(h: str) -> float:
        return discount * context_types[h] / context_total[h]

    floor = weight("") / vocab
    prob: dict[str, float] = {}
    for n in range(1, order + 1):  # lower orders first: each interpolates with the one below
        for g in (g for g in kept if len(g) == n):
            h, rest = g[:-1], g[1:]
            lower = prob.get(rest) if n > 1 else 1.0 / vocab
            if lower is None:  # the shorter n-gram was pruned: back off through its own history
                lower = _backed_off(rest, prob, context_total, weight, floor)
            prob[g] = max(kept[g] - discount, 0) / context_total[h] + weight(h) * lower
    table = {g: (math.log(p), 0.0) for g, p in prob.items()}
    for h in context_total:
        if h:  # a history's back-off weight; pure line-start histories are histories only
            p, _ = table.get(h, (0.0, 0.0))
            table[h] = (p, math.log(weight(h)))
    return table, math.log(floor)


def _backed_off(g: str, prob: dict, context_total, weight, floor: float) -> float:
    factor = 1.0
    while g:
        if g in prob:
            return factor * prob[g]
        h = g[:-1]
        if context_total.get(h):
            factor *= weight(h)
        g = g[1:]
    return factor * floor


CORPUS_WORD = 4  # corpus words shorter than this are mostly options, units and abbreviations ("aa", "zx")


def dictionary_words(path: Path) -> set[str]:
    """A spelling dictionary's words as the decoder sees them (folded; "there's" is "there" and "s"),
    without its abbreviations: "AA" and "ABC" would make "^A" read as "AA" a word."""
    if not path.is_file():
        raise SystemExit(f"{path} is missing: bash scripts/install_train_fonts.sh installs it (Debian's wamerican)")
    entries = path.read_text(encoding="utf-8", errors="replace").split()
    return {w for e in entries if sum(ch.isupper() for ch in e) < 2 for w in words_of(fold_text(e))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--discount", type=float, default=0.75)
    ap.add_argument("--dictionary", type=Path, default=DICTIONARY, help="a spelling dictionary, one word a line")
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR)
    ap.add_argument("--model-dir", type=Path, default=Path("models"))
    args = ap.parse_args()

    lines, chars, held_out = 0, 0, 0
    runs = held_out_runs()
    corpus_words: collections.Counter = collections.Counter()

    def corpus():
        nonlocal lines, chars, held_out
        for name in CORPORA:
            with open(args.data_dir / name, encoding="utf-8") as f:
                for raw in f:
                    line = raw.strip()
                    if not line:
                        continue
                    if shares_a_run(line, runs):
                        held_out += 1
                        continue
                    lines += 1
                    chars += len(line)
                    corpus_words.update(words_of(fold_text(line)))
                    yield line

    counts = count_ngrams(corpus(), args.order)
    table, floor = build_table(counts, args.order, args.min_count, args.discount)
    dictionary = dictionary_words(args.dictionary)
    lexicon = dictionary | {w for w, c in corpus_words.items() if c >= args.min_count and len(w) >= CORPUS_WORD}
    path = args.model_dir / TABLE
    CharNgramLM.from_table(table, floor, args.order, lexicon).save(path)
    card_path = args.model_dir / f"{LM_NAME}.json"
    old = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    card = {
        "architecture": "char-ngram",
        "file": TABLE,
        "sha256": sha256_of(path),
        "order": args.order,
        "discount": args.discount,
        "min_count": args.min_count,
        "ngrams": len(table),
        "symbols": "Latin letters case-folded, digits as 0, other letters as 中, other non-ASCII symbols as .",
        "lexicon": {
            "words": len(lexicon),
            "from": f"{args.dictionary} without its abbreviations ({len(dictionary)} words; Debian package wamerican) "
            f"and the corpus words of {CORPUS_WORD} letters or more seen {args.min_count} times or more "
            f"({len(lexicon) - len(dictionary)} more)",
        },
        "training": {
            "data": "training/data/corpus_en.txt, corpus_zh.txt, corpus_zh_tw.txt (python -m training.corpus: "
            "Debian package documents, man pages and copyright files in English, Simplified and Traditional "
            "Chinese; never debian-reference), minus every line sharing a run of "
            f"{HELD_OUT_RUN} characters with the validation-only PDFs ({held_out} lines)",
            "lines": lines,
            "characters": chars,
            "command": f"python -m training.build_charlm --order {args.order} --min-count {args.min_count} "
            f"--discount {args.discount} --dictionary {args.dictionary}",
        },
        "decoding": old.get("decoding", DEFAULT_DECODING),
        **({"metrics": old["metrics"]} if "metrics" in old else {}),
    }
    card_path.write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(
        f"{path}: {len(table)} n-grams from {lines} lines ({chars} characters; {held_out} held out), "
        f"{len(lexicon)} lexicon words, "
        f"{path.stat().st_size / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main()
