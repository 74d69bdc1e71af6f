"""Average a recognizer round's weights (stochastic weight averaging) and keep the average only if it
reads our validation lines better than the shipped weights.

    .venv/bin/python -m training.average --lang mix --last 12            # score only
    .venv/bin/python -m training.average --lang mix --last 12 --export   # and ship it if it wins

A round at a fixed or slowly falling learning rate wanders around a point that reads better than any
one step of it: on the shipped weights, training on from them at 5e-5 raised the validation score
from 0.0613 to 0.0637 within ten minutes, while the half-and-half average of two earlier rounds'
ends is what ships. The training loop keeps the weights of each of its last validations under
``training/runs/<model>/snapshots/``; this command averages the last ``--last`` of them (or the
checkpoint files given with ``--files``), scores the average, each of the shipped weights and the
last snapshot in one process on the recognizer's own validation sets (training.train_crnn.measure),
and with ``--export`` writes it to models/ when its score beats the shipped one. ``--shipped-share 0
0.5`` also tries the average blended half and half with the shipped weights, and keeps the better. BatchNorm statistics
are averaged with the weights (the iterates share one data distribution, so their running statistics
agree to within their noise).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
from pathlib import Path

import torch

from bench.metrics import normalize
from pipeline.weights import read_card
from training.checkpoints import load_state
from training.loop import RUNS
from training.train_crnn import (
    build,
    document_validation_set,
    evaluate,
    export,
    marks_validation_set,
    measure,
    real_validation_sets,
    validation_set,
)

log = logging.getLogger("average")


def average_state_dicts(states: list[dict]) -> dict:
    """The element-wise mean of floating-point tensors; counters (BatchNorm's num_batches_tracked) from the last."""
    out = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def blend(shipped: dict, average: dict, share: float) -> dict:
    """``share`` of the shipped weights and the rest of the round's average (counters from the average)."""
    return {
        k: (share * shipped[k].float() + (1 - share) * v.float()).to(v.dtype) if v.is_floating_point() else v.clone()
        for k, v in average.items()
    }


def snapshot_files(run: Path, last: int) -> list[Path]:
    return sorted((run / "snapshots").glob("step-*.pt"))[-last:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", choices=["mix", "en"], default="mix")
    ap.add_argument("--last", type=int, default=12, help="average the last N snapshots of the round")
    ap.add_argument("--files", nargs="*", type=Path, help="checkpoint files to average instead (each with a 'model')")
    ap.add_argument("--run-dir", type=Path, default=None, help="default: training/runs/crnn_<lang>")
    ap.add_argument("--model-dir", type=Path, default=Path("models"))
    ap.add_argument("--val-size", type=int, default=400)
    ap.add_argument(
        "--shipped-share",
        nargs="*",
        type=float,
        default=[0.0],
        help="also try averages that give the shipped weights this share (e.g. 0 0.5); the best score is chosen",
    )
    ap.add_argument("--export", action="store_true", help="write the average to models/ if it beats the shipped weights")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    run = args.run_dir or RUNS / f"crnn_{args.lang}"
    files = args.files or snapshot_files(run, args.last)
    if not files:
        raise SystemExit(f"no snapshots under {run / 'snapshots'} (a round writes one at each validation)")
    states = [load_state(f) for f in files]
    steps = [int(s.get("step", 0)) for s in states]
    device = torch.device("cpu")
    # a run folder that does not exist: build() then loads the shipped weights, not a checkpoint
    charset, shipped, _, shipped_state = build(args.lang, device, args.model_dir, Path("/nonexistent"), 1e-4)
    round_average = average_state_dicts([s["model"] for s in states])
    weights = {"shipped": None, "last snapshot": states[-1]["model"]}
    for share in args.shipped_share:
        name = f"average of {len(states)}" + (f", shipped {share:g}" if share else "")
        weights[name] = blend(shipped.state_dict(), round_average, share)
    candidates = {"shipped": shipped}
    for name, state in weights.items():
        if state is not None:
            candidates[name] = copy.deepcopy(shipped)
            candidates[name].load_state_dict(state)
    val = validation_set(args.lang, charset, args.val_size, 32)
    marks = marks_validation_set(args.lang, charset, args.val_size // 4, 32)
    documents = document_validation_set(charset, 32)
    documents_100 = document_validation_set(charset, 32, dpi=100)
    real_val = real_validation_sets(charset, 32)
    scores = {}
    for name, model in candidates.items():
        m = measure(model, val, documents, real_val, charset, device, marks)
        m["pdf_cer_100dpi"] = evaluate(model, documents_100, charset, device, normalize)
        scores[name] = m
        print(f"{name:>16}: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()), flush=True)
    averages = [n for n in scores if n.startswith("average")]
    best_name = min(averages, key=lambda n: scores[n]["score"])
    average, m = candidates[best_name], scores[best_name]
    if m["score"] >= scores["shipped"]["score"]:
        print(f"the average ({m['score']:.4f}) does not beat the shipped weights ({scores['shipped']['score']:.4f})")
        return
    print(
        f"{best_name} (steps {steps[0]}..{steps[-1]}) beats the shipped weights: {scores['shipped']['score']:.4f} -> {m['score']:.4f}"
    )
    if args.export:
        card = read_card(args.model_dir, f"crnn_{args.lang}")
        # the round's own settings where its checkpoint kept them, else those of the shipped card
        last = load_state(run / "last.pt") or {}
        trained = card.get("training", {})
        if "round" in last:
            trained = {
                **last["round"],
                "real_excluded": last["round"]["real_exclude"],
                "real_repeat": dict(last["round"]["real_repeat"]),
            }
        export_args = argparse.Namespace(
            batch_size=trained.get("batch_size", 32),
            lr=trained.get("lr"),
            seed=trained.get("seed", 1),
            real_fraction=trained.get("real_fraction", 0.35),
            small_text=trained.get("small_text"),
            scene_words=trained.get("scene_words"),
            underline=trained.get("underline"),
            marks=trained.get("marks"),
            distill=trained.get("distill", 0.0),
            real_exclude=trained.get("real_excluded", []),
            real_repeat=list(trained.get("real_repeat", {}).items()),
            val_size=args.val_size,
        )
        # a full checkpoint knows the round's totals; snapshots hold weights only
        counters = states[-1] if "lines" in states[-1] else (last if "lines" in last else shipped_state)
        state = {"step": steps[-1], "lines": counters.get("lines", 0), "seconds": counters.get("seconds", 0)}
        export(average, f"charset_{args.lang}.txt", args.lang, args.model_dir, state, m, export_args)
        card_path = args.model_dir / f"crnn_{args.lang}.json"
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["training"]["weight_average"] = {
            "of": f"{best_name}: the weights of {len(states)} validations of one round (steps {', '.join(map(str, steps))})"
            + (", blended with the weights shipped before" if "shipped" in best_name else ""),
            "chosen_by": "python -m training.average: validation score against the shipped weights, in one process",
        }
        card["metrics"]["debian_pdf_val_cer_100dpi"] = round(m["pdf_cer_100dpi"], 4)
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"exported to {args.model_dir}/crnn_{args.lang}.safetensors; add the round to its card's data note")


if __name__ == "__main__":
    main()
