"""An endless stream of synthetic recognizer batches, generated in worker processes."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from pipeline.charset import Charset
from pipeline.line_image import pad_batch, prepare_line
from pipeline.nets.common import to_input
from training.augment import degrade, neighbour_ink, table_rules
from training.corpus import TextSampler
from training.fonts import cjk_fonts, latin_fonts
from training.render import render_line
from training.typography import typeset


class LineSampler:
    """One (image, text) sample at a time: text from the corpus, font that covers it, degradations."""

    def __init__(self, lang: str, charset: Charset, seed: int):
        self.rng = random.Random(seed)
        self.text = TextSampler(lang, seed)
        self.charset = charset
        self.cjk = cjk_fonts()
        self.latin = latin_fonts()

    def sample(self) -> tuple[np.ndarray, str]:
        while True:
            text = self.charset.normalize(typeset(self.text(), self.rng)).strip()
            if not text:
                continue
            pool = self.latin + self.cjk if text.isascii() else self.cjk
            font = self.rng.choice(pool)
            if not font.covers(text):
                continue
            img = render_line(text, font, self.rng.randint(18, 44), self.rng)
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
            return prepare_line(img), text


def make_batch(samples: list[tuple[np.ndarray, str]], charset: Charset) -> dict:
    images, widths = pad_batch([img for img, _ in samples])
    targets = [charset.encode(text) for _, text in samples]
    return {
        "images": to_input(images),  # (B, 1, 32, W)
        "widths": torch.tensor(widths),
        "targets": torch.tensor([i for t in targets for i in t], dtype=torch.long),
        "target_lengths": torch.tensor([len(t) for t in targets]),
        "texts": [text for _, text in samples],
    }


class LineBatches(IterableDataset):
    """Batches of lines of similar width: a pool is sorted by width and cut into batches."""

    def __init__(self, lang: str, charset: Charset, batch_size: int, seed: int, pool_batches: int = 8):
        self.lang, self.charset, self.batch_size, self.seed, self.pool = lang, charset, batch_size, seed, pool_batches

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info else 0
        sampler = LineSampler(self.lang, self.charset, self.seed * 1000 + worker)
        rng = random.Random(self.seed * 7919 + worker)
        while True:
            pool = [sampler.sample() for _ in range(self.batch_size * self.pool)]
            pool.sort(key=lambda s: s[0].shape[1])
            batches = [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
            rng.shuffle(batches)
            for batch in batches:
                yield make_batch(batch, self.charset)
