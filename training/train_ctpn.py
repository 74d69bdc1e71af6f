"""Train the CTPN line detector on synthetic, Debian-PDF and real pages; resumable, seeded, CPU or GPU.

    python -m training.train_ctpn --minutes 60

Pages are drawn (training.pages) or rendered from Debian PDFs (training.debian_pdfs),
degraded like scans and photos, brought to working size by the pipeline's own
preprocessing, and cut into random crops aligned to the anchor grid. The loss is
the CTPN paper's: cross-entropy on text/non-text for a sample of anchors per
crop (256 by default, more than the paper's 128 because CPU time is scarce and
a crop holds many lines; at most half positive; half of the negatives the hardest ones), smooth L1
on the vertical coordinates of the sampled positives, and smooth L1 on the side
offsets of anchors near line ends. Validation runs the real detection stage
(pipeline.detector) on a fixed set of whole pages and scores line H-mean at
IoU 0.5, on synthetic pages and on our validation split of the real sets
(training.real_data); the best weights so far by the mean of the two go to
models/ctpn.safetensors with their card.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import IterableDataset, get_worker_info

from bench.metrics import DetectionCount, TextLine, page_detection
from pipeline.detector import CtpnDetector
from pipeline.nets.common import to_input
from pipeline.nets.ctpn import STRIDE, CtpnConfig, CtpnNet
from pipeline.preprocess import background_level, pad_to_multiple
from pipeline.weights import save_model
from training.ctpn_targets import assign, ignore_regions
from training.debian_pdfs import TRAIN_PDFS, VALIDATION_PDFS, PdfPages
from training.html_pages import HtmlPagePool
from training.loop import Validation, batches, fit, resume, setup, shipped_or_fresh
from training.pages import Page, PageSynth, distort, photograph, to_working_page
from training.real_data import IGNORE, load_pages
from training.schedule import parse_and_train, parser

log = logging.getLogger("train_ctpn")
DATA_NOTE = (
    "synthetic pages (training.pages: documents in one or two columns, tables, forms, receipts, signs; "
    "Chinese/English/numbers from the Debian-package corpus and jieba words; Debian fonts; clutter: rules, boxes, "
    "barcodes, stamps, photos, signatures) and pages of Debian package PDFs ("
    + ", ".join(Path(p).name for p in TRAIN_PDFS)
    + ") with pdftotext line boxes; never debian-reference; tilt +-3 deg, perspective, scan and photo degradations; "
    "real pages from ../shared/data/train (SROIE receipts, FUNSD forms, MSRA-TD500 photos; don't-care, vertical and "
    "steeper-than-30-degree lines ignored), minus our validation images; with --html-fraction > 0, HTML/CSS pages "
    "rendered by headless Chromium at 72-300 dpi (training.html_pages: newspapers, magazines, textbooks, slides, exam "
    "papers, tables; Simplified/Traditional Chinese and English corpus text), scanned or photographed (bending, moire, "
    "motion blur, low-quality JPEG)"
)
# HTML pages as phone photos (the rest as scans): photos are where real pages fail most, and the
# other sources already cover scans
PHOTO_SHARE = 0.5
VALIDATION_VERSION = "pages-v2"  # v2: real validation pages; the score is the mean of synthetic and real H-mean


def working_page(
    synth: PageSynth,
    pdfs: PdfPages | None,
    rng: random.Random,
    pdf_fraction: float,
    real: list[Page],
    real_fraction: float,
    html: HtmlPagePool | None = None,
    html_fraction: float = 0.0,
) -> Page:
    if real and rng.random() < real_fraction:
        page = rng.choice(real)
        # real pages are already scans and photos: a mild extra warp or degradation at most
        return to_working_page(distort(page, rng, strength=rng.uniform(0.0, 0.3)) if rng.random() < 0.5 else page)
    if html is not None:  # html_fraction and pdf_fraction are both shares of the non-real pages
        u = rng.random()
        if u < html_fraction:
            page = html.sample(rng)  # a pooled clean render: only its distortion is new
            return to_working_page(photograph(page, rng) if rng.random() < PHOTO_SHARE else distort(page, rng))
        use_pdf = u < html_fraction + pdf_fraction
    else:
        use_pdf = bool(pdfs) and rng.random() < pdf_fraction
    page = pdfs.sample() if pdfs and use_pdf else None
    if page is None:
        page = synth(render_scale=rng.choice([1.0, 1.0, 1.25, 1.5]))
    return to_working_page(distort(page, rng))


def random_crop(page: Page, size: int, rng: random.Random) -> Page:
    """A size x size crop at grid-aligned offsets, centred near a random line most of the time; padded with paper."""
    h, w = page.image.shape
    if len(page.quads) and rng.random() < 0.8:
        cx, cy = page.quads[rng.randrange(len(page.quads))].mean(0)
        x0, y0 = cx - rng.uniform(0.1, 0.9) * size, cy - rng.uniform(0.1, 0.9) * size
    else:
        x0, y0 = rng.uniform(0, max(0, w - size)), rng.uniform(0, max(0, h - size))
    x0 = int(np.clip(x0, 0, max(0, w - size)) // STRIDE * STRIDE)
    y0 = int(np.clip(y0, 0, max(0, h - size)) // STRIDE * STRIDE)
    paper = int(np.median(page.image[::8, ::8]))
    img = np.full((size, size), paper, np.uint8)
    ink = np.zeros((size, size), bool)
    part = page.image[y0 : y0 + size, x0 : x0 + size]
    img[: part.shape[0], : part.shape[1]] = part
    if page.ink is not None:
        ink[: part.shape[0], : part.shape[1]] = page.ink[y0 : y0 + size, x0 : x0 + size]
    quads = page.quads - np.float32([x0, y0])
    inside = (
        (quads[..., 0].max(1) > 0) & (quads[..., 0].min(1) < size) & (quads[..., 1].max(1) > 0) & (quads[..., 1].min(1) < size)
    )
    return Page(image=img, quads=quads[inside], texts=[t for t, i in zip(page.texts, inside, strict=True) if i], ink=ink)


def crop_targets(crop: Page):
    care = np.array([t != IGNORE for t in crop.texts], dtype=bool)
    t = assign(crop.quads[care], crop.image.shape[0], crop.image.shape[1], crop.ink)
    ignore_regions(t.labels, crop.quads[~care])
    return t


def collate(crops: list[Page]) -> dict:
    targets = [crop_targets(c) for c in crops]
    return {
        "images": to_input(np.stack([c.image for c in crops])),  # (B, 1, S, S)
        "labels": torch.from_numpy(np.stack([t.labels for t in targets])),  # (B, h, w, K)
        "vertical": torch.from_numpy(np.stack([t.vertical for t in targets])),  # (B, h, w, K, 2)
        "side": torch.from_numpy(np.stack([t.side for t in targets])),  # (B, h, w, K)
        "side_mask": torch.from_numpy(np.stack([t.side_mask for t in targets])),
    }


class CropBatches(IterableDataset):
    """Endless batches of crops with their anchor targets, made in worker processes."""

    def __init__(
        self,
        batch_size: int,
        crop: int,
        seed: int,
        pdf_fraction: float,
        real_fraction: float = 0.0,
        crops_per_page: int = 3,
        html_fraction: float = 0.0,
        photo_repeat: int = 1,
    ):
        self.batch_size, self.crop, self.seed, self.pdf_fraction, self.per_page = (
            batch_size,
            crop,
            seed,
            pdf_fraction,
            crops_per_page,
        )
        self.real_fraction, self.html_fraction, self.photo_repeat = real_fraction, html_fraction, photo_repeat

    def __iter__(self):
        info = get_worker_info()
        seed = self.seed * 1000 + (info.id if info else 0)
        rng = random.Random(seed)
        synth = PageSynth(seed)
        pdfs = PdfPages(seed) if self.pdf_fraction > 0 else None
        real = load_pages("train") if self.real_fraction > 0 else []
        # MSRA-TD500's ~300 training photos are a fifth of the real pages, yet photos are where the detector
        # misses most: drawing them more often spends the real share where it is short
        real += [p for p in real if p.kind == "real-scene"] * (self.photo_repeat - 1)
        html = HtmlPagePool(seed) if self.html_fraction > 0 else None  # Chromium starts in this worker, on first draw
        pool: list[Page] = []
        while True:
            page = working_page(synth, pdfs, rng, self.pdf_fraction, real, self.real_fraction, html, self.html_fraction)
            pool += [random_crop(page, self.crop, rng) for _ in range(self.per_page)]
            if len(pool) >= 2 * self.batch_size:  # mix crops of different pages in a batch
                rng.shuffle(pool)
                batch, pool = pool[: self.batch_size], pool[self.batch_size :]
                yield collate(batch)


def sample_anchors(labels: torch.Tensor, text_logit: torch.Tensor, per_image: int, max_pos: int) -> torch.Tensor:
    """Flat indices of the anchors that enter the score loss: positives, hardest negatives, random negatives."""
    b, n = labels.shape
    chosen = []
    for i in range(b):
        pos = torch.nonzero(labels[i] == 1).squeeze(1)
        neg = torch.nonzero(labels[i] == 0).squeeze(1)
        pos = pos[torch.randperm(len(pos), device=pos.device)[:max_pos]]
        n_neg = min(per_image - len(pos), len(neg))
        hard = neg[text_logit[i, neg].topk(n_neg // 2).indices]
        rand = neg[torch.randperm(len(neg), device=neg.device)[: n_neg - len(hard)]]
        chosen.append(i * n + torch.cat([pos, hard, rand]))
    return torch.cat(chosen)


def ctpn_loss(outputs, batch: dict, per_image: int = 128, max_pos: int = 64, side_weight: float = 2.0):
    score, vertical, side = outputs  # (B, h, w, K, 2), (B, h, w, K, 2), (B, h, w, K)
    b = score.shape[0]
    score = score.reshape(b, -1, 2)
    labels = batch["labels"].reshape(b, -1).long()
    text_logit = (score[..., 1] - score[..., 0]).detach()
    idx = sample_anchors(labels, text_logit, per_image, max_pos)
    flat_labels = labels.reshape(-1)[idx]
    cls = F.cross_entropy(score.reshape(-1, 2)[idx], flat_labels)
    pos = idx[flat_labels == 1]
    if len(pos):
        reg = F.smooth_l1_loss(
            vertical.reshape(-1, 2)[pos], batch["vertical"].reshape(-1, 2)[pos], beta=1 / 9, reduction="sum"
        ) / len(pos)
    else:
        reg = score.sum() * 0
    mask = batch["side_mask"].reshape(-1)
    if mask.any():
        side_loss = F.smooth_l1_loss(side.reshape(-1)[mask], batch["side"].reshape(-1)[mask], beta=1 / 9)
    else:
        side_loss = score.sum() * 0
    return cls + reg + side_weight * side_loss, (cls.item(), reg.item(), side_loss.item())


def validation_set(synthetic: int, pdf: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Fixed whole pages at working size: (image, true quads, kind). Seeds disjoint from training."""
    rng = random.Random(424_242)
    synth = PageSynth(9_876_543)
    out = []
    for _ in range(synthetic):
        p = to_working_page(distort(synth(render_scale=rng.choice([1.0, 1.25])), rng))
        out.append((p.image, p.quads, p.kind))
    pdfs = PdfPages(77, VALIDATION_PDFS, dpi=(120, 160))
    for _ in range(pdf if pdfs else 0):
        page = pdfs.sample()
        if page is not None:
            p = to_working_page(distort(page, rng, strength=0.2))
            out.append((p.image, p.quads, "pdf"))
    return out


def real_validation_set() -> list[tuple[np.ndarray, np.ndarray, str, np.ndarray]]:
    """Our validation split of the real pages at working size: (image, quads, kind, don't-care mask)."""
    out = []
    for page in load_pages("val"):
        p = to_working_page(page)
        out.append((p.image, p.quads, "real", np.array([t == IGNORE for t in p.texts], dtype=bool)))
    return out


def cached_validation_set(path: Path, synthetic: int, pdf: int) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The validation set, drawn once per run folder: it is seeded, so the cache only saves time on resume."""
    if path.is_file():
        with np.load(path) as f:
            n = int(f["n"])
            return [(f[f"image{i}"], f[f"quads{i}"], str(f[f"kind{i}"])) for i in range(n)]
    pages = validation_set(synthetic, pdf)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"n": np.array(len(pages))}
    for i, (image, quads, kind) in enumerate(pages):
        arrays |= {f"image{i}": image, f"quads{i}": quads, f"kind{i}": np.array(kind)}
    np.savez_compressed(path, **arrays)
    return pages


# The post-processing settings are chosen on the validation pages and shipped in the model card:
# the right text-probability cut moves as training sharpens the scores, and how far apart two
# proposals may be and still belong to one line depends on what the network has learnt to mark.
# fill_threshold: proposals down to it may fill faint stretches inside lines (hysteresis).
POSTPROCESS_GRID = [
    {"score_threshold": t, "min_overlap": o, "max_gap": g, "fill_threshold": f}
    for t in (0.3, 0.4, 0.5, 0.6)
    for o in (0.5, 0.7)
    for g in (32.0, 50.0)
    for f in (None, 0.2)
]


@torch.inference_mode()
def evaluate(model: nn.Module, pages, device) -> dict:
    """Line detection on whole pages through the real stage, scored as the benchmark scores it,
    with each setting of POSTPROCESS_GRID; returns the best setting's figures."""
    model.eval()
    forward = CtpnDetector(model, device).forward
    outputs = [(forward(pad_to_multiple(img, STRIDE, background_level(img))), img.shape) for img, *_ in pages]
    results = [_score_at(CtpnDetector(model, device, **options), options, outputs, pages) for options in POSTPROCESS_GRID]
    model.train()
    return max(results, key=lambda r: r["score"])


def _score_at(detector: CtpnDetector, options: dict, outputs, pages) -> dict:
    total, pdf, real = DetectionCount(), DetectionCount(), DetectionCount()
    for (raw, (h, w)), (_, quads, kind, *mask) in zip(outputs, pages, strict=True):
        pred = [TextLine(ln.polygon.tolist(), "") for ln in detector.postprocess(*raw, image_size=(w, h))]
        dont_care = mask[0] if mask else np.zeros(len(quads), bool)
        count = page_detection([TextLine(q.tolist(), "", bool(d)) for q, d in zip(quads, dont_care, strict=True)], pred)
        (real if kind == "real" else total).add(count)
        if kind == "pdf":
            pdf.add(count)
    return {
        "score": (total.hmean + real.hmean) / 2 if real.true else total.hmean,
        "hmean": total.hmean,
        "real_hmean": real.hmean,
        "precision": total.precision,
        "recall": total.recall,
        "real_precision": real.precision,
        "real_recall": real.recall,
        "pdf_hmean": pdf.hmean,
        "lines": total.true,
        "real_lines": real.true,
        "postprocess": options,
    }


def build(device, model_dir: Path, run: Path, lr: float):
    model = CtpnNet(CtpnConfig()).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    state = resume(model, opt, run) or shipped_or_fresh(
        model,
        model_dir,
        "ctpn",
        lambda t: {
            "step": t.get("steps", 0),
            "crops": t.get("crops", 0),
            "pages": t.get("pages", 0),
            "best": t.get("val_hmean", 0.0),
            "val_version": t.get("val_version"),
            "seconds": t.get("seconds", 0),
        },
    )
    return model, opt, state


def export(model, model_dir: Path, state: dict, metrics: dict, args, lr: float) -> None:
    card = {
        "architecture": "ctpn",
        "config": model.cfg.to_dict(),
        "postprocess": metrics["postprocess"],
        "training": {
            "data": DATA_NOTE,
            "steps": state["step"],
            "crops": state["crops"],
            "pages": int(state["pages"]),
            "seconds": int(state["seconds"]),
            "batch_size": args.batch_size,
            "crop": args.crop,
            "lr": lr,
            "seed": args.seed,
            "val_hmean": metrics["score"],
            "val_version": VALIDATION_VERSION,
            "real_fraction": args.real_fraction,
            "photo_repeat": args.photo_repeat,
            "html_fraction": args.html_fraction,
            "command": "python -m training.train_ctpn --minutes N (resumes from training/runs/ctpn/last.pt)",
        },
        "metrics": {
            "synthetic_val_hmean_iou50": round(metrics["hmean"], 4),
            "precision": round(metrics["precision"], 4),
            "recall": round(metrics["recall"], 4),
            "debian_pdf_val_hmean": round(metrics["pdf_hmean"], 4),
            "real_val_hmean_iou50": round(metrics["real_hmean"], 4),  # FUNSD, SROIE, MSRA-TD500 images we hold out
            "real_val_precision": round(metrics["real_precision"], 4),
            "real_val_recall": round(metrics["real_recall"], 4),
            "real_val_lines": metrics["real_lines"],
            "val_pages": args.val_pages + args.val_pdf_pages,
            "val_lines": metrics["lines"],
            "note": "validation pages: synthetic (seeded, disjoint) and " + ", ".join(Path(p).name for p in VALIDATION_PDFS),
        },
    }
    save_model(model, model_dir, "ctpn", card)


def train(args) -> None:
    if args.html_fraction > 0:  # fail now, not in a data worker minutes later
        from web.local_stack import chromium_path

        if not os.access(chromium_path(), os.X_OK):
            raise SystemExit(f"--html-fraction needs Chromium ({chromium_path()} is missing); use --html-fraction 0")
    device, model_dir, run = setup(args, "ctpn")
    model, opt, state = build(device, model_dir, run, args.lr or 1e-3)
    if args.lr:  # an explicit rate overrides the one saved with the optimiser
        for g in opt.param_groups:
            g["lr"] = args.lr
    val = cached_validation_set(run / f"val_{args.val_pages}_{args.val_pdf_pages}.npz", args.val_pages, args.val_pdf_pages)
    if args.real_fraction > 0:
        val = val + real_validation_set()
    log.info("validation set: %d pages, %d lines", len(val), sum(len(v[1]) for v in val))
    data = CropBatches(
        args.batch_size,
        args.crop,
        seed=args.seed + state["step"],
        pdf_fraction=args.pdf_fraction,
        real_fraction=args.real_fraction,
        html_fraction=args.html_fraction,
        photo_repeat=args.photo_repeat,
    )
    since_log = {"parts": np.zeros(3), "steps": 0, "crops": state["crops"]}

    def step(batch: dict) -> None:
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        loss, losses = ctpn_loss(model(batch["images"]), batch, args.anchors_per_crop, args.anchors_per_crop // 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        since_log["parts"] += losses
        since_log["steps"] += 1
        state["step"] += 1
        state["crops"] += batch["images"].shape[0]
        state["pages"] += batch["images"].shape[0] / 3  # three crops per page

    def progress(seconds: float) -> str:
        cls, reg, side = since_log["parts"] / max(1, since_log["steps"])
        rate = (state["crops"] - since_log["crops"]) / seconds
        since_log.update(parts=np.zeros(3), steps=0, crops=state["crops"])
        return (
            f"step {state['step']} crops {state['crops']} loss cls {cls:.3f} vertical {reg:.3f} side {side:.3f} "
            f"{rate:.2f} crops/s lr {opt.param_groups[0]['lr']:.2e}"
        )

    validation = Validation(
        evaluate=lambda: evaluate(model, val, device),
        score="score",
        higher_is_better=True,
        version=VALIDATION_VERSION,
        export=lambda m: export(model, model_dir, state, m, args, opt.param_groups[0]["lr"]),
        describe=lambda m: (
            f"score {m['score']:.4f}: H-mean {m['hmean']:.4f} with {m['postprocess']} (P {m['precision']:.3f} "
            f"R {m['recall']:.3f}, Debian PDF {m['pdf_hmean']:.4f}), real {m['real_hmean']:.4f} "
            f"(P {m['real_precision']:.3f} R {m['real_recall']:.3f})"
        ),
        patience=3,
    )
    fit(batches(data, args.workers), step, progress, validation, args=args, model=model, opt=opt, state=state, run=run)


def main() -> None:
    p = parser(__doc__, val_minutes=10.0, lr=None)
    p.add_argument("--val-pages", type=int, default=32, help="synthetic validation pages")
    p.add_argument("--val-pdf-pages", type=int, default=8, help="validation pages from VALIDATION_PDFS")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=512, help="crop side in working pixels, a multiple of 16")
    p.add_argument("--anchors-per-crop", type=int, default=256, help="anchors in the score loss per crop, at most half positive")
    p.add_argument("--pdf-fraction", type=float, default=0.2, help="share of the non-real pages rendered from Debian PDFs")
    p.add_argument("--real-fraction", type=float, default=0.4, help="share of pages from the real sets in ../shared/data/train")
    p.add_argument(
        "--photo-repeat",
        type=int,
        default=1,
        help="draw the real scene photos (MSRA-TD500) N times as often as the other real pages",
    )
    p.add_argument(
        "--html-fraction",
        type=float,
        default=0.25,
        help="share of the non-real pages rendered from HTML by Chromium (training.html_pages), taken from the "
        "drawn pages' share (the PDF share stays); 0 turns it off",
    )
    parse_and_train(p, train)


if __name__ == "__main__":
    main()
