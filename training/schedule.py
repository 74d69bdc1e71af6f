"""What every training script shares: its command line and what it does after a validation."""

from __future__ import annotations

import argparse
import logging
import math

import torch


def parser(doc: str, val_minutes: float, lr: float | None) -> argparse.ArgumentParser:
    """The options common to the three training commands; scripts add their own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget of this run")
    p.add_argument("--val-minutes", type=float, default=val_minutes)
    p.add_argument(
        "--lr",
        type=float,
        default=lr,
        help="learning rate" + ("" if lr else " (default: the script's own for a new run, the saved one on resume)"),
    )
    p.add_argument(
        "--anneal",
        action="store_true",
        help="cosine learning rate from --lr down to --lr/50 over --minutes, instead of halving it on stalls "
        "(for a fixed budget known in advance, such as a lent GPU's few minutes)",
    )
    p.add_argument(
        "--warmup-minutes",
        type=float,
        default=0.0,
        help="raise the learning rate linearly from --lr/50 to --lr over the first minutes of this run: a run "
        "resumed from shipped weights starts with a fresh optimizer state, whose first full-size steps undo "
        "what the weights had learnt",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (use 1 when sharing the CPU)")
    p.add_argument("--workers", type=int, default=1, help="data-generating processes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--model-dir", default=None, help="default: OCR_MODEL_DIR (models/)")
    p.add_argument("--run-dir", default=None, help="checkpoint folder (default: training/runs/<model>)")
    return p


def parse_and_train(p: argparse.ArgumentParser, train) -> None:
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    train(args)


def scheduled_lr(peak: float, elapsed: float, budget: float, warmup: float, annealing: bool) -> float:
    """The learning rate ``elapsed`` seconds into a run: a linear warm-up from ``peak``/50 over ``warmup``
    seconds, then ``peak`` held, or with ``annealing`` a cosine down to ``peak``/50 at ``budget``."""
    floor = peak / 50
    if elapsed < warmup:
        return floor + (peak - floor) * elapsed / warmup
    if not annealing:
        return peak
    progress = min(max((elapsed - warmup) / max(budget - warmup, 1e-9), 0.0), 1.0)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def decay_on_stall(state: dict, opt: torch.optim.Optimizer, patience: int) -> None:
    """Halve the learning rate after every ``patience`` validations without a new best."""
    state["bad_evals"] = state.get("bad_evals", 0) + 1
    if state["bad_evals"] % patience == 0:
        for g in opt.param_groups:
            g["lr"] = max(g["lr"] * 0.5, 1e-5)
