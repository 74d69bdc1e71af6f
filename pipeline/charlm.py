"""A character n-gram language model for CTC beam search (pipeline.ctc.prefix_beam_search).

The recognizer reads each character from its own few pixels; where the print is
poor it is nearly a coin toss between two classes ("DOLCE" / "DOICE", "BETTER" /
"RETTER", "Stallman" / "Staliman") that the letters around it would settle. This
model says how likely each character is after the few before it, and the
decoder weighs that against the network's own probabilities.

It models *kinds* of text more than text: Latin letters are case-folded (the
network knows the case better than a corpus does), every digit is ``0``, every
other letter (hanzi, kana, ...) is ``中`` and every other non-ASCII symbol ``.``.
So it knows English spelling and where digits, spaces, punctuation and Chinese
sit beside Latin text, and it cannot talk the network out of one hanzi for
another: the Chinese corpora on this machine are far too small for that.

Five characters of context settle a letter inside a word, not which of two
spellings is a word: "RETTER" and "BETTER" are both fine letter by letter. So the
table also holds a lexicon (English words of two letters or more: a spelling
dictionary and the words of our corpora), and the decoder gives a reading a bonus
for each complete word in it (``LmDecoder.word_bonus``).

Stored as an exact back-off table of an interpolated absolute-discounting model
(``training/build_charlm.py``): for each kept n-gram ``hc`` its log P(c | h) and
its log back-off weight as a history. P(c | h) for an unseen ``hc`` is
bow(h) * P(c | h without its first symbol). The keys are 64-bit hashes in one
sorted array (6 MiB in memory for 390k n-grams, not a dict of strings; an npz
file that loads in milliseconds).
"""

from __future__ import annotations

import functools
import hashlib
import math
import unicodedata
from pathlib import Path

import numpy as np

from core.errors import ModelError

START = "\x02"  # before a line's first character (fold never makes a control character)
END = "\x03"  # after its last: a line that ends mid-word ("Jaz", "Sto") is unlikely
OTHER_LETTER = "中"
OTHER_SYMBOL = "."
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")  # folded Latin letters: what lexicon words are made of
MIN_WORD = 2  # shorter runs of letters are initials, units, list labels: no bonus


@functools.lru_cache(maxsize=65536)
def fold(ch: str) -> str:
    """The model's symbol for one character."""
    if ch.isascii():
        if ch.isalpha():
            return ch.lower()
        if ch.isdigit():
            return "0"
        return ch if ch.isprintable() else OTHER_SYMBOL
    if unicodedata.category(ch).startswith("L"):
        return OTHER_LETTER
    if unicodedata.category(ch) == "Nd":
        return "0"
    return OTHER_SYMBOL


def fold_text(text: str) -> str:
    return "".join(fold(ch) for ch in text)


def key_of(ngram: str) -> int:
    return int.from_bytes(hashlib.blake2b(ngram.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def words_of(folded: str) -> list[str]:
    """The runs of letters in a folded text that may be lexicon words (``MIN_WORD`` letters or more)."""
    words, word = [], ""
    for s in folded + " ":
        if s in LETTERS:
            word += s
        else:
            if len(word) >= MIN_WORD:
                words.append(word)
            word = ""
    return words


class CharNgramLM:
    """``logp(history, symbol)``: the natural log of P(symbol | the last ``order - 1`` symbols of history)."""

    def __init__(
        self,
        keys: np.ndarray,
        logprob: np.ndarray,
        backoff: np.ndarray,
        order: int,
        floor: float,
        words: np.ndarray | None = None,
    ):
        order_ = np.argsort(keys)
        self.keys = np.ascontiguousarray(keys[order_])
        self.logprob = np.ascontiguousarray(logprob[order_])
        self.backoff = np.ascontiguousarray(backoff[order_])
        self.order = order
        self.floor = floor  # log P of a symbol the corpus never had
        # the lexicon: key_of(word) for every word, sorted (empty: no lexicon, no word bonus)
        self.words = np.sort(np.asarray(words if words is not None else [], dtype=np.int64))
        self._cache: dict[tuple[str, str], float] = {}

    @classmethod
    def load(cls, path: Path, order: int) -> CharNgramLM:
        """Read the arrays ``training/build_charlm.py`` wrote (npz: keys, logprob, backoff, floor;
        natural logs; words, the lexicon). Loading is a copy of arrays: no parsing at a worker's start."""
        try:
            with np.load(path, allow_pickle=False) as z:
                keys, logprob, backoff, floor = z["keys"], z["logprob"], z["backoff"], float(z["floor"])
                words = z["words"] if "words" in z.files else None
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise ModelError(f"language model {path} cannot be read: {exc}") from None
        if not len(keys) or not (len(keys) == len(logprob) == len(backoff)):
            raise ModelError(f"language model {path} has no entries or arrays of different lengths")
        return cls(keys.astype(np.int64), logprob.astype(np.float32), backoff.astype(np.float32), order, floor, words)

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a name without it
            np.savez_compressed(
                f, keys=self.keys, logprob=self.logprob, backoff=self.backoff, floor=np.float64(self.floor), words=self.words
            )

    @classmethod
    def from_table(
        cls, table: dict[str, tuple[float, float]], floor: float, order: int, lexicon: set[str] = frozenset()
    ) -> CharNgramLM:
        """From {n-gram: (log P(last | rest), log back-off weight)} in natural logs, and the lexicon's words."""
        grams = list(table)
        return cls(
            np.array([key_of(g) for g in grams], dtype=np.int64),
            np.array([table[g][0] for g in grams], dtype=np.float32),
            np.array([table[g][1] for g in grams], dtype=np.float32),
            order,
            floor,
            np.array([key_of(w) for w in sorted(lexicon)], dtype=np.int64),
        )

    def is_word(self, word: str) -> bool:
        """Whether a folded run of letters is in the lexicon."""
        if not len(self.words):
            return False
        k = key_of(word)
        i = int(np.searchsorted(self.words, k))
        return i < len(self.words) and self.words[i] == k

    def known_words(self, folded: str) -> int:
        return sum(self.is_word(w) for w in words_of(folded))

    def _find(self, gram: str) -> int:
        k = key_of(gram)
        i = int(np.searchsorted(self.keys, k))
        return i if i < len(self.keys) and self.keys[i] == k else -1

    def logp(self, history: str, symbol: str) -> float:
        history = history[-(self.order - 1) :]
        cached = self._cache.get((history, symbol))
        if cached is not None:
            return cached
        total, h = 0.0, history
        while True:
            i = self._find(h + symbol)
            if i >= 0:
                total += float(self.logprob[i])
                break
            if not h:
                total += self.floor
                break
            j = self._find(h)
            if j >= 0:
                total += float(self.backoff[j])
            h = h[1:]
        if len(self._cache) > 500_000:  # a long-lived worker must not grow without bound
            self._cache.clear()
        self._cache[(history, symbol)] = total
        return total

    def score(self, text: str, end: bool = False) -> float:
        """log P of a whole folded text after the line start (and, with ``end``, of the line ending there)."""
        history, total = START * (self.order - 1), 0.0
        for s in text + (END if end else ""):
            total += self.logp(history, s)
            history = (history + s)[-(self.order - 1) :]
        return total


class LmDecoder:
    """The recognizer's decoding with the language model: ``needed(top_prob)`` says whether a line's
    frames leave any doubt worth a search; ``__call__(top_idx, top_prob)`` gives its classes.

    Lines whose every frame is at least ``sure`` for its best class read as greedy decoding reads
    them (a weight ``alpha`` below 1 cannot overturn such a frame), so clean print costs nothing."""

    def __init__(
        self,
        lm: CharNgramLM,
        chars: list[str],
        alpha: float,
        beta: float,
        beam_width: int = 8,
        sure: float = 0.98,
        second_look: float = 0.0,
        second_look_max_chars: int = 16,
        word_bonus: float = 0.0,
    ):
        self.lm, self.alpha, self.beta, self.beam_width, self.sure = lm, alpha, beta, beam_width, sure
        self.word_bonus = word_bonus  # added to a reading's log score for each complete lexicon word
        # > 0: an unsure reading of at most second_look_max_chars characters is read again this much
        # wider and the more plausible reading kept (pipeline.recognizer)
        self.second_look, self.second_look_max_chars = second_look, second_look_max_chars
        self.symbols = [OTHER_SYMBOL] + [fold(c[0]) if c else OTHER_SYMBOL for c in chars]  # class 0 is the blank

    def needed(self, top_prob: np.ndarray) -> bool:
        return bool(len(top_prob)) and float(np.min(top_prob[:, 0])) < self.sure

    def plausibility(self, reading) -> float:
        """How much network and model together believe a Recognition, as the beam search scores a
        prefix: the log of its characters' confidences, the weighted log probability of its text (line
        end included), the length bonus, without which the reading that drops a letter would win, and
        the bonus for each lexicon word."""
        if not reading.text:
            return -math.inf
        network = float(np.log(np.clip(reading.char_confidences, 1e-6, 1.0)).sum())
        folded = fold_text(reading.text)
        words = self.word_bonus * self.lm.known_words(folded) if self.word_bonus else 0.0
        return network + self.alpha * self.lm.score(folded, end=True) + self.beta * len(reading.text) + words

    def __call__(self, top_idx: np.ndarray, top_prob: np.ndarray) -> list[int]:
        from pipeline.ctc import prefix_beam_search

        return prefix_beam_search(
            top_idx, top_prob, self.symbols, self.lm, self.alpha, self.beta, self.beam_width, word_bonus=self.word_bonus
        )


LM_NAME = "charlm"


@functools.cache
def _decoder(model_dir: Path, chars: tuple[str, ...]) -> LmDecoder | None:
    import logging

    from pipeline.cards import read_card, sha256_of

    if not (model_dir / f"{LM_NAME}.json").is_file():
        logging.getLogger(__name__).warning("no %s card in %s: recognition decodes without a language model", LM_NAME, model_dir)
        return None
    card = read_card(model_dir, LM_NAME)
    try:
        table = model_dir / card["file"]
        decoding = card["decoding"]
    except (KeyError, TypeError) as exc:
        raise ModelError(f"language model card {model_dir / LM_NAME}.json is not usable: {exc}") from None
    if not table.is_file() or sha256_of(table) != card.get("sha256"):
        raise ModelError(f"language model {table} is missing or does not match its card's sha256")
    lm = CharNgramLM.load(table, int(card["order"]))
    return LmDecoder(
        lm,
        list(chars),
        float(decoding["alpha"]),
        float(decoding["beta"]),
        int(decoding["beam_width"]),
        float(decoding["sure"]),
        float(decoding.get("second_look", 0.0)),
        int(decoding.get("second_look_max_chars", 16)),
        float(decoding.get("word_bonus", 0.0)),
    )


def get_decoder(chars: list[str], model_dir: Path | str | None = None) -> LmDecoder | None:
    """The process's decoder for a recognizer whose classes 1.. are ``chars`` (None: no model shipped)."""
    if model_dir is None:
        from core.settings import get_settings

        model_dir = get_settings().model_dir
    return _decoder(Path(model_dir).resolve(), tuple(chars))
