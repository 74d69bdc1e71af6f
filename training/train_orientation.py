"""Train the page orientation classifier; resumable, seeded, CPU or GPU.

    python -m training.train_orientation --minutes 20

Each synthetic or Debian-PDF page is degraded like a scan or photo, turned
clockwise by 0, 90, 180 and 270 degrees, and cut into patches by the pipeline's
own ``page_patches`` (the tiles inference classifies), labelled with the turn.
Patches of pages with no text at all (clutter, photos, blank paper) carry no
orientation: they are "weak" samples whose soft target leans to 0 degrees
(0.4 / 0.2 / 0.2 / 0.2), so on an ambiguous page they tip the vote to upright
without outvoting real text. Validation runs the real stage
(pipeline.orientation.OrientationClassifier) on a fixed set of whole rotated
pages; the best weights so far go to models/orientation.safetensors.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import IterableDataset, get_worker_info

from pipeline.nets.common import to_input
from pipeline.nets.orientation import ANGLES, OrientationConfig, OrientationNet
from pipeline.orientation import OrientationClassifier, page_patches
from pipeline.weights import save_model
from training.debian_pdfs import TRAIN_PDFS, VALIDATION_PDFS, PdfPages
from training.loop import Validation, batches, fit, resume, setup, shipped_or_fresh
from training.pages import PageSynth, distort
from training.schedule import parse_and_train, parser

log = logging.getLogger("train_orientation")
WEAK_TARGET = (0.4, 0.2, 0.2, 0.2)
DATA_NOTE = (
    "patches chosen by pipeline.orientation.page_patches from synthetic pages (training.pages) and Debian package PDF "
    "pages (" + ", ".join(Path(p).name for p in TRAIN_PDFS) + "; never debian-reference) turned by 0/90/180/270 deg, "
    "scan and photo degradations; text-free clutter pages as weak samples leaning to 0 deg"
)


def rotate(gray: np.ndarray, angle: int) -> np.ndarray:
    """The page turned clockwise by ``angle`` degrees (the classifier's class convention)."""
    return np.ascontiguousarray(np.rot90(gray, -(angle // 90)))


def page_image(synth: PageSynth, pdfs: PdfPages | None, rng: random.Random, pdf_fraction: float) -> np.ndarray:
    page = pdfs.sample() if pdfs and rng.random() < pdf_fraction else None
    if page is None:
        page = synth(render_scale=rng.choice([1.0, 1.25]))
    return distort(page, rng).image


class PatchBatches(IterableDataset):
    """Endless shuffled batches of (patch, soft target) from pages at all four turns."""

    def __init__(self, batch_size: int, seed: int, pdf_fraction: float, weak_fraction: float):
        self.batch_size, self.seed, self.pdf_fraction, self.weak_fraction = batch_size, seed, pdf_fraction, weak_fraction

    def __iter__(self):
        info = get_worker_info()
        seed = self.seed * 1000 + (info.id if info else 0)
        rng = random.Random(seed)
        synth = PageSynth(seed)
        pdfs = PdfPages(seed) if self.pdf_fraction > 0 else None
        patches: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        while True:
            if rng.random() < self.weak_fraction:
                gray = distort(synth(clutter_only=True), rng).image
                tiles = page_patches(rotate(gray, rng.choice(ANGLES)), max_patches=6, min_ink=0.0)
                patches += list(tiles)
                targets += [np.array(WEAK_TARGET, np.float32)] * len(tiles)
            else:
                gray = page_image(synth, pdfs, rng, self.pdf_fraction)
                for k, angle in enumerate(ANGLES):
                    tiles = page_patches(rotate(gray, angle))
                    patches += list(tiles)
                    targets += [np.eye(len(ANGLES), dtype=np.float32)[k]] * len(tiles)
            if len(patches) >= 4 * self.batch_size:
                order = list(range(len(patches)))
                rng.shuffle(order)
                take, keep = order[: self.batch_size], order[self.batch_size :]
                yield {
                    "images": to_input(np.stack([patches[i] for i in take])),  # (B, 1, 96, 96)
                    "targets": torch.from_numpy(np.stack([targets[i] for i in take])),
                }  # (B, 4)
                patches, targets = [patches[i] for i in keep], [targets[i] for i in keep]


def validation_set(synthetic: int, pdf: int) -> list[tuple[np.ndarray, int]]:
    """Fixed whole pages, each at all four turns: (grey page, class index)."""
    rng = random.Random(515_151)
    synth = PageSynth(8_765_432)
    pages = [distort(synth(render_scale=1.0), rng).image for _ in range(synthetic)]
    pdfs = PdfPages(91, VALIDATION_PDFS, dpi=(100, 150))
    for _ in range(pdf if pdfs else 0):
        page = pdfs.sample()
        if page is not None:
            pages.append(distort(page, rng, strength=0.3).image)
    return [(rotate(g, angle), k) for g in pages for k, angle in enumerate(ANGLES)]


@torch.inference_mode()
def evaluate(model: nn.Module, pages, device) -> dict:
    model.eval()
    stage = OrientationClassifier(model, device)
    correct = sum(ANGLES.index(stage(gray)[0]) == k for gray, k in pages)
    model.train()
    return {"accuracy": correct / len(pages), "pages": len(pages), "wrong": len(pages) - correct}


def build(device, model_dir: Path, run: Path, lr: float):
    model = OrientationNet(OrientationConfig()).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    state = resume(model, opt, run) or shipped_or_fresh(
        model,
        model_dir,
        "orientation",
        lambda t: {
            "step": t.get("steps", 0),
            "patches": t.get("patches", 0),
            "best": t.get("val_accuracy", 0.0),
            "seconds": t.get("seconds", 0),
        },
    )
    return model, opt, state


def export(model, model_dir: Path, state: dict, metrics: dict, args, lr: float) -> None:
    card = {
        "architecture": "orientation",
        "config": model.cfg.to_dict(),
        "training": {
            "data": DATA_NOTE,
            "steps": state["step"],
            "patches": state["patches"],
            "seconds": int(state["seconds"]),
            "batch_size": args.batch_size,
            "lr": lr,
            "seed": args.seed,
            "val_accuracy": metrics["accuracy"],
            "command": "python -m training.train_orientation --minutes N (resumes from training/runs/orientation/last.pt)",
        },
        "metrics": {
            "synthetic_val_page_accuracy": round(metrics["accuracy"], 4),
            "val_pages": metrics["pages"],
            "note": "whole pages at 0/90/180/270 deg through pipeline.orientation.OrientationClassifier: seeded synthetic "
            "pages and pages of " + ", ".join(Path(p).name for p in VALIDATION_PDFS),
        },
    }
    save_model(model, model_dir, "orientation", card)


def train(args) -> None:
    device, model_dir, run = setup(args, "orientation")
    model, opt, state = build(device, model_dir, run, args.lr or 2e-3)
    if args.lr:  # an explicit rate overrides the one saved with the optimiser
        for g in opt.param_groups:
            g["lr"] = args.lr
    val = validation_set(args.val_pages, args.val_pdf_pages)
    log.info("validation set: %d rotated pages", len(val))
    data = PatchBatches(
        args.batch_size, seed=args.seed + state["step"], pdf_fraction=args.pdf_fraction, weak_fraction=args.weak_fraction
    )
    since_log = {"loss": 0.0, "steps": 0, "patches": state["patches"]}

    def step(batch: dict) -> None:
        images, targets = batch["images"].to(device), batch["targets"].to(device)
        loss = F.cross_entropy(model(images), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        state["patches"] += images.shape[0]
        since_log["loss"] += loss.item()
        since_log["steps"] += 1

    def progress(seconds: float) -> str:
        loss = since_log["loss"] / max(1, since_log["steps"])
        rate = (state["patches"] - since_log["patches"]) / seconds
        since_log.update(loss=0.0, steps=0, patches=state["patches"])
        lr = opt.param_groups[0]["lr"]
        return f"step {state['step']} patches {state['patches']} loss {loss:.4f} {rate:.1f} patches/s lr {lr:.2e}"

    validation = Validation(
        evaluate=lambda: evaluate(model, val, device),
        score="accuracy",
        higher_is_better=True,
        export=lambda m: export(model, model_dir, state, m, args, opt.param_groups[0]["lr"]),
        describe=lambda m: f"page accuracy {m['accuracy']:.4f} ({m['wrong']} of {m['pages']} wrong)",
        patience=2,
    )
    fit(batches(data, args.workers), step, progress, validation, args=args, model=model, opt=opt, state=state, run=run)


def main() -> None:
    p = parser(__doc__, val_minutes=5.0, lr=None)  # None: 2e-3 for a new run, the saved rate on resume
    p.add_argument("--val-pages", type=int, default=48, help="synthetic validation pages (each at 4 turns)")
    p.add_argument("--val-pdf-pages", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--pdf-fraction", type=float, default=0.2)
    p.add_argument("--weak-fraction", type=float, default=0.1, help="share of text-free pages")
    parse_and_train(p, train)


if __name__ == "__main__":
    main()
