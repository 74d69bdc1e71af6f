"""CTPN detection stage: working image -> text lines (quadrilaterals in working pixels).

Post-processing follows the CTPN paper: a text probability per anchor (class 1
of the score pair is "text"), proposals above a threshold decoded from the
vertical regression, NMS among proposals of each column, the text-line
constructor with side refinement, and NMS among lines.
"""

from __future__ import annotations

import numpy as np

from core.errors import ModelError
from pipeline.ctpn.anchors import decode_vertical, make_anchors
from pipeline.ctpn.nms import column_nms, polygon_nms
from pipeline.ctpn.textline import DetectedLine, build_lines
from pipeline.nets.spec import CTPN_STRIDE as STRIDE
from pipeline.nets.spec import input_array
from pipeline.photo_lines import photo_like
from pipeline.preprocess import background_level, pad_to_multiple
from pipeline.runtime import as_network

TEXT = 1  # index of the "text" class in the network's score pair


def decode_outputs(
    score: np.ndarray, vertical: np.ndarray, side: np.ndarray | None, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Raw outputs of one image, score (h, w, K, 2), vertical (h, w, K, 2), side (h, w, K) ->
    proposals (N, 4) x0, y0, x1, y1, their text probabilities (N,) and side offsets (N,)."""
    h, w = score.shape[:2]
    # softmax over two classes is the logistic of their difference
    prob = 1.0 / (1.0 + np.exp(np.clip(score[..., 1 - TEXT] - score[..., TEXT], -60, 60)))  # (h, w, K)
    mask = prob > score_threshold
    anchors = make_anchors(h, w)[mask]  # (N, 4)
    boxes = decode_vertical(anchors, vertical[mask])
    return boxes, prob[mask], (side[mask] if side is not None else None)


class CtpnDetector:
    """Stage: grey working image (uint8, H x W) -> list of DetectedLine, top to bottom.

    ``net`` is a CtpnNet (or any module with its outputs) on ``device``, or an
    OnnxNetwork exported from one (pipeline.runtime).
    """

    def __init__(
        self,
        net,
        device="cpu",
        *,
        score_threshold: float = 0.7,
        proposal_nms: float = 0.2,
        max_gap: float = 50.0,
        min_overlap: float = 0.7,
        min_size_similarity: float = 0.7,
        min_proposals: int = 2,
        strong_score: float = 0.9,
        line_nms: float = 0.3,
        side_refinement: bool = True,
        fill_threshold: float | None = None,
        fill_ends: bool = False,
        photo_score_threshold: float | None = None,
        batch_size: int = 8,
    ):
        self.net = net
        self.batch_size = max(1, batch_size)  # pages per forward pass in detect_batch
        self.device = device
        self.network = as_network(net, device)
        self.score_threshold = score_threshold
        # proposals between fill_threshold and score_threshold may only fill gaps inside lines,
        # or with fill_ends also carry a line on past its last confident proposal
        self.fill_threshold = fill_threshold
        self.proposal_nms = proposal_nms
        self.line_options = dict(
            max_gap=max_gap,
            min_overlap=min_overlap,
            min_size_similarity=min_size_similarity,
            min_proposals=min_proposals,
            strong_score=strong_score,
            seed_score=score_threshold if fill_threshold is not None else None,
            fill_ends=fill_ends,
        )
        self.line_nms = line_nms
        self.side_refinement = side_refinement
        # Photos (``photo_like``) start lines only at this text probability: leaves, railings and
        # brickwork score 0.3-0.5 where a page's faint print must not be lost (None: as pages).
        self.photo_score_threshold = photo_score_threshold

    @classmethod
    def from_card(cls, net, card: dict, device="cpu") -> CtpnDetector:
        """The detector with the post-processing settings its model card ships (chosen in validation)."""
        options = card.get("postprocess", {})
        known = {
            "score_threshold",
            "proposal_nms",
            "max_gap",
            "min_overlap",
            "line_nms",
            "strong_score",
            "fill_threshold",
            "fill_ends",
            "photo_score_threshold",
        }
        if not isinstance(options, dict) or set(options) - known:
            raise ModelError(f"ctpn model card: postprocess must be an object with keys among {sorted(known)}")
        return cls(net, device, **options)

    def forward(self, working: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Network outputs for one image as numpy: score (h, w, K, 2), vertical (h, w, K, 2), side (h, w, K)."""
        score, vertical, side = self.network(input_array(working))
        return score[0], vertical[0], side[0]

    def postprocess(
        self,
        score: np.ndarray,
        vertical: np.ndarray,
        side: np.ndarray | None,
        image_size: tuple[int, int],
        photo: bool = False,
    ) -> list[DetectedLine]:
        seed = self.photo_score_threshold if photo and self.photo_score_threshold is not None else self.score_threshold
        threshold = seed if self.fill_threshold is None else min(self.fill_threshold, seed)
        boxes, probs, sides = decode_outputs(score, vertical, side if self.side_refinement else None, threshold)
        height = image_size[1]
        boxes[:, 1] = np.clip(boxes[:, 1], 0, height)
        boxes[:, 3] = np.clip(boxes[:, 3], 0, height)
        usable = boxes[:, 3] - boxes[:, 1] >= 1
        boxes, probs = boxes[usable], probs[usable]
        sides = sides[usable] if sides is not None else None

        keep = column_nms(boxes, probs, self.proposal_nms)
        options = self.line_options if self.fill_threshold is None else {**self.line_options, "seed_score": seed}
        lines = build_lines(
            boxes[keep], probs[keep], sides[keep] if sides is not None else None, image_size=image_size, **options
        )
        if not lines:
            return []
        keep = polygon_nms(np.stack([ln.polygon for ln in lines]), np.array([ln.score for ln in lines]), self.line_nms)
        lines = [lines[i] for i in keep]
        lines.sort(key=lambda ln: (ln.bbox[1], ln.bbox[0]))
        return lines

    def __call__(self, working: np.ndarray) -> list[DetectedLine]:
        return self.detect_batch([working])[0]

    def detect_batch(self, workings: list[np.ndarray]) -> list[list[DetectedLine]]:
        """Several working images -> each one's lines, as ``__call__`` gives them. Images of the same
        padded size share a forward pass (up to ``batch_size`` at a time); the network's inputs and
        outputs cross to and from its device once per pass."""
        padded = [pad_to_multiple(w, STRIDE, background_level(w)) for w in workings]
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(padded):
            by_shape.setdefault(image.shape, []).append(i)
        out: list[list[DetectedLine]] = [[] for _ in workings]
        for members in by_shape.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                score, vertical, side = self.network(input_array(np.stack([padded[i] for i in chunk])))
                for k, i in enumerate(chunk):
                    h, w = workings[i].shape
                    photo = self.photo_score_threshold is not None and photo_like(workings[i])
                    out[i] = self.postprocess(score[k], vertical[k], side[k], image_size=(w, h), photo=photo)
        return out
