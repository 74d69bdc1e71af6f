"""An endless stream of recognizer batches, synthetic lines mixed with real ones, made in worker processes.

A sample is (prepared line, text, case_unknown): ``case_unknown`` marks a label
whose letter case says nothing about the print (SROIE's upper-case receipts).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from pipeline.charset import Charset, big5_level1_hanzi, gb2312_hanzi
from pipeline.line_image import pad_batch, prepare_line
from pipeline.nets.common import to_input
from training.augment import degrade, neighbour_ink, scene, table_rules
from training.corpus import DATA_DIR, TextSampler
from training.fonts import cjk_fonts, latin_fonts
from training.real_data import RealLine
from training.render import render_line
from training.typography import list_and_code_marks, typeset

# Characters that only Traditional text has: such a line is drawn with a TC/TW face most of the time.
TRADITIONAL_ONLY = frozenset(big5_level1_hanzi()) - frozenset(gb2312_hanzi())


class LineSampler:
    """One (image, text, case_unknown) sample at a time.

    Synthetic: text from the corpus, a font that covers it, degradations. With
    ``real`` lines, a ``real_fraction`` of the samples is one of those instead,
    lightly degraded now and then.
    """

    def __init__(
        self,
        lang: str,
        charset: Charset,
        seed: int,
        real: list[RealLine] | None = None,
        real_fraction: float = 0.0,
        small_text: float = 0.0,
        scene_words: float = 0.0,
        underline: float = 0.0,
        data_dir: Path = DATA_DIR,
        marks: float = 0.0,
    ):
        self.rng = random.Random(seed)
        self.text = TextSampler(lang, seed, data_dir)
        self.charset = charset
        self.cjk = cjk_fonts()
        self.cjk_tc = cjk_fonts(traditional=True)
        self.latin = latin_fonts()
        self.real = real or []
        self.real_fraction = real_fraction if self.real else 0.0
        # share of lines drawn at 8-15 px: a page rasterised at 72-100 dpi hints and blurs its
        # glyphs at that size, which down-sampling a large rendering does not imitate
        self.small_text = small_text
        # share of synthetic samples that are one or two words as photographed on signs and
        # packaging, in the training-only display faces too (validation draws none of them)
        self.scene_words = scene_words
        self.latin_scene = latin_fonts(extra=True) if scene_words else []
        # share of lines underlined through their descenders, as labels on typed forms are
        self.underline = underline
        # share of lines given a dash list marker or a code token (training.typography)
        self.marks = marks

    def sample(self) -> tuple[np.ndarray, str, bool]:
        if self.real_fraction and self.rng.random() < self.real_fraction:
            return self._real()
        return self._synthetic()

    def _real(self) -> tuple[np.ndarray, str, bool]:
        line = self.rng.choice(self.real)
        img = line.image
        if self.rng.random() < 0.3:
            img = degrade(img, self.rng, strength=self.rng.uniform(0.1, 0.4))
        return prepare_line(img), line.text, line.case_unknown

    def _scene_word(self) -> tuple[np.ndarray, str, bool]:
        while True:
            words = [w.strip(".,;:()[]{}\"'`") for w in self.text().split()]
            words = [w for w in words if w and w.isascii() and any(c.isalnum() for c in w)]
            if not words:
                continue
            k = self.rng.choice((1, 1, 1, 2))
            at = self.rng.randrange(len(words))
            text = " ".join(words[at : at + k])
            case = self.rng.random()
            text = text.upper() if case < 0.4 else text.title() if case < 0.65 else text
            text = self.charset.normalize(text).strip()
            font = self.rng.choice(self.latin_scene)
            if not text or not font.covers(text):
                continue
            img = render_line(text, font, self.rng.randint(22, 56), self.rng)
            if img.shape[0] < 4 or img.shape[1] < 4:
                continue
            img = scene(img, self.rng)
            if self.rng.random() < 0.6:
                img = degrade(img, self.rng, strength=self.rng.uniform(0.2, 0.6))
            return prepare_line(img), text, False

    def _synthetic(self) -> tuple[np.ndarray, str, bool]:
        if self.scene_words and self.rng.random() < self.scene_words:
            return self._scene_word()
        while True:
            text = typeset(self.text(), self.rng)
            # only a sampler that marks draws the extra number, so validation lines stay as they were
            if self.marks and text and self.rng.random() < self.marks:
                text = list_and_code_marks(text, self.rng)
            text = self.charset.normalize(text).strip()
            if not text:
                continue
            if text.isascii():
                pool = self.latin + self.cjk
            elif self.cjk_tc and any(ch in TRADITIONAL_ONLY for ch in text) and self.rng.random() < 0.85:
                pool = self.cjk_tc
            else:
                pool = self.cjk
            font = self.rng.choice(pool)
            if not font.covers(text):
                continue
            small = self.rng.random() < self.small_text
            size = self.rng.randint(8, 15) if small else self.rng.randint(18, 44)
            # only a sampler that underlines draws the extra number, so validation lines stay as they were
            underline = bool(self.underline) and self.rng.random() < self.underline
            img = render_line(text, font, size, self.rng, underline=underline)
            if img.shape[0] < 4 or img.shape[1] < 4:
                continue
            if self.rng.random() < 0.12:
                img = table_rules(img, self.rng)
            if self.rng.random() < 0.08:
                img = neighbour_ink(img, self.rng)
            if self.rng.random() < 0.8:
                img = degrade(img, self.rng, strength=self.rng.uniform(0.2, 0.7))
            if self.rng.random() < 0.15:
                img = 255 - img  # light text on dark signs
            return prepare_line(img), text, False


def make_batch(samples: list[tuple], charset: Charset) -> dict:
    """Samples (prepared line, text[, case_unknown]) -> one padded batch with CTC targets."""
    images, widths = pad_batch([s[0] for s in samples])
    targets = [charset.encode(s[1]) for s in samples]
    return {
        "images": to_input(images),  # (B, 1, 32, W)
        "widths": torch.tensor(widths),
        "targets": torch.tensor([i for t in targets for i in t], dtype=torch.long),
        "target_lengths": torch.tensor([len(t) for t in targets]),
        "texts": [s[1] for s in samples],
        "case_unknown": torch.tensor([len(s) > 2 and bool(s[2]) for s in samples]),
    }


class LineBatches(IterableDataset):
    """Batches of lines of similar width: a pool is sorted by width and cut into batches."""

    def __init__(
        self,
        lang: str,
        charset: Charset,
        batch_size: int,
        seed: int,
        pool_batches: int = 8,
        real: list[RealLine] | None = None,
        real_fraction: float = 0.0,
        small_text: float = 0.0,
        scene_words: float = 0.0,
        underline: float = 0.0,
        marks: float = 0.0,
    ):
        self.lang, self.charset, self.batch_size, self.seed, self.pool = lang, charset, batch_size, seed, pool_batches
        self.real, self.real_fraction, self.small_text = real, real_fraction, small_text
        self.scene_words, self.underline, self.marks = scene_words, underline, marks

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info else 0
        sampler = LineSampler(
            self.lang,
            self.charset,
            self.seed * 1000 + worker,
            self.real,
            self.real_fraction,
            self.small_text,
            self.scene_words,
            self.underline,
            marks=self.marks,
        )
        rng = random.Random(self.seed * 7919 + worker)
        while True:
            pool = [sampler.sample() for _ in range(self.batch_size * self.pool)]
            pool.sort(key=lambda s: s[0].shape[1])
            batches = [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
            rng.shuffle(batches)
            for batch in batches:
                yield make_batch(batch, self.charset)
