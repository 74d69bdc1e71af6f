"""The loop the three training commands share: a wall-clock budget, a log line a minute,
validation every few minutes and at the end, the best weights exported, a checkpoint kept."""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, IterableDataset

from core.settings import get_settings
from pipeline.weights import load_weights, read_card
from training.checkpoints import load_state, save_state
from training.schedule import decay_on_stall, scheduled_lr, set_lr

log = logging.getLogger("training")
RUNS = Path(__file__).resolve().parent / "runs"


def setup(args: argparse.Namespace, name: str) -> tuple[torch.device, Path, Path]:
    """Seed, threads and device from the command line -> (device, model folder, run folder)."""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu")
    model_dir = Path(args.model_dir or get_settings().model_dir)
    run = Path(args.run_dir) if args.run_dir else RUNS / name
    return device, model_dir, run


def resume(model: torch.nn.Module, opt: torch.optim.Optimizer, run: Path) -> dict | None:
    """Load ``run``/last.pt into the model and optimiser; its counters, or None without a checkpoint."""
    state = load_state(run / "last.pt")
    if state is None:
        return None
    model.load_state_dict(state.pop("model"))
    opt.load_state_dict(state.pop("opt"))
    log.info("resumed %s at step %d (best %.4f)", run / "last.pt", state["step"], state["best"])
    return state


def shipped_or_fresh(model: torch.nn.Module, model_dir: Path, name: str, counters: Callable[[dict], dict]) -> dict:
    """Load models/<name> when its card says it was trained; ``counters(card training section)``
    gives the state to go on from (called with {} for a fresh start, so its defaults apply)."""
    card = read_card(model_dir, name)
    trained = card.get("training", {})
    if trained.get("steps", 0) <= 0:
        return counters({})
    load_weights(model, model_dir, name, card)
    log.info("starting from shipped weights (%d steps)", trained["steps"])
    return counters(trained)


def batches(data: IterableDataset, workers: int, prefetch: int = 2) -> DataLoader:
    """An endless stream of ready-made batches, generated in ``workers`` processes (0: in this one)."""
    return DataLoader(
        data,
        batch_size=None,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=prefetch if workers else None,
    )


@dataclass
class Validation:
    """How a model is judged: its metrics, which of them decides the best, and what to do with it."""

    evaluate: Callable[[], dict]  # -> metrics on the fixed validation set
    score: str  # the metric that decides which weights ship
    higher_is_better: bool
    export: Callable[[dict], None]  # metrics -> models/<name>.* (weights and card)
    describe: Callable[[dict], str]  # metrics -> the log line's text
    patience: int  # stalled validations before the learning rate is halved
    may_decay: Callable[[dict], bool] = lambda state: True
    # Names the validation set; when it changes, scores on the old one say nothing about the
    # new one, so the best so far starts again. None: not tracked.
    version: str | None = None


def start_validation(v: Validation, state: dict) -> None:
    """Forget the best score when it was measured on another validation set."""
    if v.version is None or state.get("val_version") == v.version:
        return
    log.info("validation set %s is new (was %s): the best score starts again", v.version, state.get("val_version"))
    state["best"] = float("-inf") if v.higher_is_better else float("inf")
    state["bad_evals"] = 0
    state["val_version"] = v.version


def measure_the_start(v: Validation, model: torch.nn.Module, state: dict) -> None:
    """Score trained starting weights on this run's own validation set before the first step.

    The synthetic validation lines and pages are drawn from the corpus and fonts of the machine
    (training/README.md, "Validation sets follow the machine"), so the card's score of the shipped
    weights was measured on other lines: a first validation could beat it by the difference alone
    and export worse weights. A checkpoint written after this carries ``best_measured`` and resumes
    without measuring again."""
    if state.get("step", 0) > 0 and not state.get("best_measured"):
        score = v.evaluate()[v.score]
        said = "a figure on another validation set" if math.isinf(state["best"]) else f"{state['best']:.4f}"
        log.info("the starting weights score %.4f on this run's validation set (their card said %s)", score, said)
        state["best"] = score
        model.train()
    state["best_measured"] = True


def fit(
    stream: Iterable,
    step: Callable[[object], None],
    progress: Callable[[float], str],
    validation: Validation,
    *,
    args: argparse.Namespace,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    state: dict,
    run: Path,
) -> None:
    """Run ``step`` on each batch for ``args.minutes`` of wall clock.

    Every minute logs ``progress(seconds since the last log)``; every
    ``args.val_minutes``, and once more when the budget is spent, validates,
    exports the weights when they are the best so far, and writes the checkpoint.
    """
    start_validation(validation, state)
    measure_the_start(validation, model, state)
    model.train()
    start = time.time()
    last_val = last_log = start
    budget = args.minutes * 60
    annealing, peak = getattr(args, "anneal", False), opt.param_groups[0]["lr"]
    warmup = getattr(args, "warmup_minutes", 0.0) * 60
    warming = warmup > 0
    for batch in stream:
        elapsed = time.time() - start
        if annealing or warming:
            set_lr(opt, scheduled_lr(peak, elapsed, budget, warmup, annealing))
            warming = elapsed < warmup  # the step after the warm-up sets the peak once
        step(batch)
        now = time.time()
        if now - last_log >= 60:
            log.info(progress(now - last_log))
            last_log = now
        done = now - start >= budget
        if now - last_val >= args.val_minutes * 60 or done:
            state["seconds"] += now - last_val
            _validate(validation, model, opt, state, run, decay=not annealing)
            last_val = now
        if done:
            return


def _validate(
    v: Validation, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict, run: Path, decay: bool = True
) -> None:
    metrics = v.evaluate()
    model.train()
    improved = keep_best(
        state,
        metrics[v.score],
        higher_is_better=v.higher_is_better,
        export=lambda: v.export(metrics),
        opt=opt,
        patience=v.patience,
        may_decay=decay and v.may_decay(state),
    )
    log.info("validation %s (best %.4f)%s", v.describe(metrics), state["best"], " exported" if improved else "")
    checkpoint(run, model, opt, state)


def keep_best(
    state: dict,
    score: float,
    *,
    higher_is_better: bool,
    export: Callable[[], None],
    opt: torch.optim.Optimizer,
    patience: int,
    may_decay: bool = True,
) -> bool:
    """Export when ``score`` beats ``state["best"]``; otherwise count a stall (halving the rate
    after ``patience`` of them, when ``may_decay``). Returns whether it improved."""
    improved = score > state["best"] if higher_is_better else score < state["best"]
    if improved:
        state["best"] = score
        export()
    elif may_decay:
        decay_on_stall(state, opt, patience)
    return improved


SNAPSHOTS = 48  # the weights at each of the last this many validations (4 h of a CPU round at 5 min)


def checkpoint(run: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict) -> None:
    """What a later run resumes from: weights, optimiser and every counter in ``state``; and the
    weights alone under ``snapshots/``, which ``training.average`` averages: a round's iterates
    wander around a better point than any one of them (stochastic weight averaging)."""
    save_state(run / "last.pt", model=model.state_dict(), opt=opt.state_dict(), **state)
    save_state(run / "snapshots" / f"step-{state.get('step', 0):08d}.pt", model=model.state_dict(), step=state.get("step", 0))
    for old in sorted((run / "snapshots").glob("step-*.pt"))[:-SNAPSHOTS]:
        old.unlink()
