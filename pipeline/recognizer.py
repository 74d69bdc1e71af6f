"""CRNN recognition stage: line crops -> text with confidences.

``crop_line`` cuts a line out of the upright grey page by a perspective warp of
its quadrilateral, with margins like those training leaves around rendered
lines; ``prepare_line`` and ``pad_batch`` (from pipeline.line_image, shared with
training) make the network's input: height 32, aspect kept, batches padded
with each line's own background.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.charset import Charset
from pipeline.ctc import align_best_path, align_labels, line_confidence
from pipeline.line_image import pad_batch, prepare_line
from pipeline.nets.spec import CRNN_STRIDE as STRIDE
from pipeline.nets.spec import input_array
from pipeline.runtime import OnnxNetwork, TorchNetwork

__all__ = [
    "CrnnRecognizer",
    "LineFrame",
    "Recognition",
    "batches_by_width",
    "crop_line",
    "decode_frames",
    "line_frame",
    "prepare_line",
    "warp_line",
]

# crop margins in line heights; training crops rendered lines with 0-30% above/below and 0-60% at the ends
MARGIN_Y = 0.1
MARGIN_X = 0.25


@dataclass
class Recognition:
    text: str
    confidence: float  # see pipeline.ctc: geometric mean of the character confidences
    char_confidences: list[float] = field(default_factory=list)
    char_frames: list[tuple[int, int]] = field(default_factory=list)  # network frames [start, end) of each character
    px_per_frame: float = 0.0  # crop pixels per network frame: frame t covers crop x [t, t + 1) * px_per_frame


@dataclass(frozen=True)
class LineFrame:
    """Where a line's crop lies on the upright page, so that places in the crop can be mapped back."""

    to_crop: np.ndarray  # 3x3 homography, upright page -> crop, continuous pixel coordinates
    size: tuple[int, int]  # crop width, height
    band: tuple[float, float]  # crop rows of the quadrilateral's own top and bottom edges (inside the margins)

    @functools.cached_property
    def from_crop(self) -> np.ndarray:
        # inverted once per line, not once per word and character mapped back (a dense page maps thousands)
        return np.linalg.inv(self.to_crop)

    def to_upright(self, points) -> np.ndarray:
        """Crop points (N, 2) -> upright page points (N, 2)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        mapped = np.c_[pts, np.ones(len(pts))] @ self.from_crop.T
        return mapped[:, :2] / mapped[:, 2:]


def line_frame(polygon, margin_y: float = MARGIN_Y, margin_x: float = MARGIN_X) -> LineFrame | None:
    """The crop of a quadrilateral (top-left, top-right, bottom-right, bottom-left) grown by the
    margins (in units of its height) along its own axes; None for a degenerate one."""
    tl, tr, br, bl = np.asarray(polygon, dtype=np.float64).reshape(4, 2)
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    if width < 1 or height < 1:
        return None
    along = (tr - tl + br - bl) / (2 * width)  # unit vector along the line
    down = (bl - tl + br - tr) / (2 * height)  # unit vector from top to bottom edge
    dx, dy = along * margin_x * height, down * margin_y * height
    src = np.array([tl - dx - dy, tr + dx - dy, br + dx + dy, bl - dx + dy], dtype=np.float32)
    out_w = max(1, round(width + 2 * margin_x * height))
    out_h = max(1, round(height + 2 * margin_y * height))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    grown = height * (1 + 2 * margin_y)
    band = (out_h * margin_y * height / grown, out_h * (1 - margin_y * height / grown))
    return LineFrame(cv2.getPerspectiveTransform(src, dst).astype(np.float64), (out_w, out_h), band)


def crop_line(gray: np.ndarray, polygon, margin_y: float = MARGIN_Y, margin_x: float = MARGIN_X) -> np.ndarray:
    """Straightened crop of a quadrilateral (see ``line_frame``) of ``gray``; outside the page
    the border pixels are repeated."""
    frame = line_frame(polygon, margin_y, margin_x)
    return np.zeros((0, 0), dtype=np.uint8) if frame is None else warp_line(gray, frame)


def warp_line(gray: np.ndarray, frame: LineFrame) -> np.ndarray:
    # cv2 puts pixel centres at integer coordinates; ours sit at +0.5
    shift = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    m = shift @ frame.to_crop @ np.linalg.inv(shift)
    return cv2.warpPerspective(gray, m, frame.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def batches_by_width(widths: list[int], max_batch: int = 32, max_frames: int = 4096, spread: float = 1.3) -> list[list[int]]:
    """Group line indices by similar width to bound padding: sorted by width, a batch closes
    when it is full, its padded frame count would pass ``max_frames``, or a line is more
    than ``spread`` times as wide as the batch's narrowest."""
    order = sorted(range(len(widths)), key=lambda i: (widths[i], i))
    out: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        w = widths[i]
        if batch and (
            len(batch) >= max_batch or (len(batch) + 1) * math.ceil(w / STRIDE) > max_frames or w > spread * widths[batch[0]]
        ):
            out.append(batch)
            batch = []
        batch.append(i)
    if batch:
        out.append(batch)
    return out


class CrnnRecognizer:
    """Stage: list of grey line crops -> list of Recognition, in the same order.

    ``net`` is a CrnnNet (or any module with its (T, B, C) logits) on ``device``, run
    through nets.crnn.CrnnReadout, or an OnnxNetwork exported from that readout.
    """

    def __init__(
        self,
        net,
        charset: Charset,
        device="cpu",
        max_batch: int = 32,
        max_frames: int = 4096,
        script: str = "any",
        decoder=None,
    ):
        if charset.num_classes != net.cfg.num_classes:
            raise ValueError(f"charset has {charset.num_classes} classes, the network {net.cfg.num_classes}")
        self.net = net
        self.charset = charset
        self.device = device
        if isinstance(net, OnnxNetwork):
            self.network = net
        else:
            from pipeline.nets.crnn import CrnnReadout  # torch: only on the torch runtime

            self.network = TorchNetwork(CrnnReadout(net), device)
        # classes the language may not say are masked (-inf) before the argmax and the softmax
        mask = np.asarray(charset.class_mask(script), dtype=bool)
        self.class_bias = np.where(mask, 0.0, -np.inf).astype(np.float32)
        self.max_batch = max_batch
        self.max_frames = max_frames
        # pipeline.charlm.LmDecoder (beam search with the language model) or None: greedy decoding
        self.decoder = decoder
        # An int8 graph scales each batch's activations together: one page's lines must not share
        # batches with another page's, or a page would read differently beside other pages.
        self.reads_pages_apart = bool(getattr(self.network, "quantised", False))

    def best_path(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacked lines (B, 32, W) -> each frame's top classes (T, B, K) and their softmax probabilities
        (T, B, K), best first."""
        best, prob = self.network(input_array(batch), self.class_bias)
        return best, prob

    def __call__(self, crops: list[np.ndarray]) -> list[Recognition]:
        out = [Recognition("", 0.0, []) for _ in crops]  # an empty crop reads as nothing
        usable = [i for i, c in enumerate(crops) if c.ndim == 2 and min(c.shape) > 0]
        unsure = self._read({i: prepare_line(crops[i]) for i in usable}, crops, out)
        stretch = self.decoder.second_look if self.decoder is not None else 0.0
        # a crop read as nothing stays nothing: a wider look would only find something to say in its blank
        unsure = [i for i in unsure if 0 < len(out[i].text) <= self.decoder.second_look_max_chars] if stretch else []
        if unsure:
            # A word or short line the network was unsure of is read again drawn wider, and the reading the
            # language model and the network together like better is kept: glyphs squeezed by a condensed
            # face or a tight crop read better a little wider, and two readings rarely fail at the same
            # letter. Not long lines: the wider reading's confidences (a character's best over more frames)
            # flatter it, and on the validation PDFs it cost 0.08 points of CER.
            wider = {i: prepare_line(crops[i], stretch) for i in unsure}
            again = [Recognition("", 0.0, []) for _ in crops]
            self._read(wider, crops, again)
            for i in unsure:
                if again[i].text and self.decoder.plausibility(again[i]) > self.decoder.plausibility(out[i]):
                    out[i] = again[i]
        return out

    def _read(self, lines: dict[int, np.ndarray], crops: list[np.ndarray], out: list[Recognition]) -> list[int]:
        """Read the prepared ``lines`` (by crop index) into ``out``; the indices whose frames left doubt."""
        unsure = []
        for i, top_idx, top_prob, width in self.frame_outputs(lines):
            labels, confs, spans, searched = decode_frames(top_idx, top_prob, self.decoder)
            if searched:
                unsure.append(i)
            text = self.charset.decode(labels)
            px_per_frame = STRIDE * crops[i].shape[1] / width
            out[i] = Recognition(text, line_confidence(confs), confs, spans, px_per_frame)
        return unsure

    def frame_outputs(self, lines: dict[int, np.ndarray]):
        """(index, top classes (T, K), their probabilities (T, K), prepared width) of each prepared line
        in ``lines``, read in batches of similar width; the frames over a batch's padding cut off."""
        keys = list(lines)
        for batch in batches_by_width([lines[i].shape[1] for i in keys], self.max_batch, self.max_frames):
            members = [keys[k] for k in batch]
            stacked, widths = pad_batch([lines[i] for i in members])
            best, prob = self.best_path(stacked)
            for k, (i, width) in enumerate(zip(members, widths, strict=True)):
                frames = min(best.shape[0], math.ceil(width / STRIDE))  # frames over the padding say nothing
                yield i, best[:frames, k], prob[:frames, k], width


def decode_frames(top_idx: np.ndarray, top_prob: np.ndarray, decoder=None):
    """One line's classes, their confidences and frames from its top-K frames: greedy, or where
    ``decoder`` (pipeline.charlm.LmDecoder) finds doubt, its beam search; and whether it searched."""
    labels, confs, spans = align_best_path(top_idx[:, 0], top_prob[:, 0])
    if decoder is None or not decoder.needed(top_prob):
        return labels, confs, spans, False
    searched = decoder(top_idx, top_prob)
    if searched != labels:
        confs, spans = align_labels(searched, top_idx, top_prob)
    return searched, confs, spans, True
