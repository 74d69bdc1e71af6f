"""Train the CRNN recognizer on synthetic and real lines; resumable, seeded, CPU or GPU.

    python -m training.train_crnn --lang mix --minutes 60

Runs for a wall-clock budget, validates every few minutes on a fixed synthetic
set and on the real lines split off ../shared/data/train (training.real_data), keeps training/runs/crnn_<lang>/last.pt for resuming and exports the
best weights so far to models/crnn_<lang>.safetensors with their model card.
A run with no checkpoint starts from the shipped weights when those are trained.
"""

from __future__ import annotations

import argparse
import copy
import functools
import logging
from pathlib import Path

import torch
from torch import nn

from bench.metrics import normalize
from pipeline.charset import Charset
from pipeline.line_image import prepare_line
from pipeline.models import get_model
from pipeline.nets.crnn import STRIDE, CrnnConfig, CrnnNet
from pipeline.recognizer import crop_line
from pipeline.weights import read_card, save_model
from training.checkpoints import load_state, save_state
from training.corpus import DATA_DIR
from training.debian_pdfs import validation_pages
from training.line_data import LineBatches, LineSampler, make_batch
from training.loop import Validation, batches, fit, resume, setup, shipped_or_fresh
from training.real_data import load_lines, summary
from training.schedule import parse_and_train, parser
from training.text_metrics import cer
from training.warm_start import transfer_crnn

log = logging.getLogger("train_crnn")
DATA_NOTE = (
    "synthetic lines: Debian package documents (debian-faq-zh-cn, maint-guide-zh-cn, manpages-zh, English man pages "
    "and copyright files; never debian-reference), jieba dictionary words by frequency, random GB2312 hanzi, "
    "generated numbers/dates/prices/codes/addresses; Debian fonts (Noto CJK SC, WenQuanYi, AR PL, DejaVu, "
    "Liberation, FreeFont); typeset forms (curly quotes, bullets, dashes, guillemets, signs); scan and photo "
    "degradations, table rules, neighbouring ink, crop jitter that sometimes clips the ink; Traditional Chinese "
    "(manpages-zh zh_TW, OpenCC s2t/s2twp of the Chinese lines, Big5 level-1 hanzi) drawn mostly with TC/TW faces; "
    "real line crops from ../shared/data/train (SROIE receipts with letter case unknown, FUNSD forms, ICDAR 2015 "
    "scene words), minus our validation images; from step 13,924: scene-word samples (one or two words in sign "
    "and package colours, texture, shadow, tilt and perspective) in ~300 more Latin faces from Debian's font "
    "packages (training/fonts.py:TRAIN_FONT_PACKAGES: URW base 35, TeX Gyre, ADF, Dustin, Roboto, Lato, ...); "
    "from step 16,885 to 29,798: 7.5 min on a lent NVIDIA H200 (scripts/gpu_train.sh, 14 data workers drawing "
    "~3,700 lines/s, batch 128, cosine learning rate 4e-4 -> 8e-6, 1.65M lines), real crops packed at the input "
    "height as WebP q90 by training.gpu_bundle, Debian fonts subset to the charset (Noto CJK, WenQuanYi Micro Hei "
    "and Latin faces render pixel-identical, Zen Hei and AR PL within a few grey levels at small sizes); from step "
    "29,798 to 31,652: 24 min here on the CPU without SROIE's case-unknown receipts (python -m training.train_crnn "
    "--real-exclude sroie2019_train --real-fraction 0.3 --lr 1e-4 --anneal), because after the GPU run they had taught "
    'it capitals in print that has none ("ThE", "INVOICE NO." for "Invoice No."): case-only errors on the real '
    "validation lines 1.04 -> 0.57 points; from step 31,652 to 37,993: 1.9 h here on one CPU core (python -m "
    "training.train_crnn --scene-words 0.25 --small-text 0.35 --underline 0.08 --real-fraction 0.35 --real-exclude "
    "sroie2019_train --real-repeat icdar2015_train_words=3 --lr 2e-4 --anneal; 200k lines, scene words with sign "
    "borders and things across them, labels underlined through their descenders), then averaged half and half with "
    "the step-31,652 weights; from step 37,993 to 40,020: 70 min here on one CPU core (python -m "
    "training.train_crnn --marks 0.12 --real-fraction 0.35 --real-exclude sroie2019_train --lr 3e-5 --anneal "
    "--warmup-minutes 3 --distill 1; 65k lines, dash list markers and code tokens such as ~i, {a,b}, ^A and 0x40, "
    "the outputs held to the step-37,993 weights' on the lines those read exactly), then the average of its last "
    "12 validations blended half and half with the step-37,993 weights"
)


# train_crnn's options that a model card records of the round that trained it
ROUND_SETTINGS = (
    "batch_size",
    "lr",
    "seed",
    "real_fraction",
    "small_text",
    "scene_words",
    "underline",
    "marks",
    "distill",
    "real_exclude",
    "real_repeat",
)


def greedy_texts(logits: torch.Tensor, widths: torch.Tensor, charset: Charset) -> list[str]:
    best = logits.argmax(-1).T.cpu()  # (B, T)
    out = []
    for row, width in zip(best, widths, strict=True):
        row = row[: max(1, int(width) // STRIDE)].tolist()
        out.append(charset.decode([c for i, c in enumerate(row) if c and (i == 0 or c != row[i - 1])]))
    return out


# Bump when LineSampler changes what the validation lines look like (v2: typeset forms, table
# rules, neighbouring ink, clipped boxes; v3: Traditional lines, and the score averages synthetic
# and real validation CER; v4: a quarter as many lines again with dash list markers and code
# tokens, which rendered manuals are full of and v3 could not see a round learn).
VALIDATION_VERSION = "lines-v4"


@functools.cache
def _case_pairs(charset: Charset) -> tuple[torch.Tensor, torch.Tensor]:
    """Class indices of the upper-case letters and of their lower-case forms, once per charset."""
    pairs = [
        (charset.index[c], charset.index[c.lower()])
        for c in map(chr, range(65, 91))
        if c in charset.index and c.lower() in charset.index
    ]
    return torch.tensor([u for u, _ in pairs]), torch.tensor([low for _, low in pairs])


def fold_case_log_probs(log_probs: torch.Tensor, case_unknown: torch.Tensor, charset: Charset) -> torch.Tensor:
    """(T, B, C) log-probabilities where, for the samples whose label's case is unknown, emitting an
    upper-case letter means emitting it in either case: the CTC loss then marginalises over the
    print's case instead of teaching that lower-case print reads as capitals."""
    if not bool(case_unknown.any()):
        return log_probs
    upper, lower = (t.to(log_probs.device) for t in _case_pairs(charset))
    rows = case_unknown.nonzero().flatten().to(log_probs.device)
    out = log_probs.clone()
    sub = log_probs[:, rows]  # (T, b, C)
    out[:, rows[:, None], upper[None, :]] = torch.logaddexp(sub[..., upper], sub[..., lower])
    return out


def _batched(samples: list[tuple], charset: Charset, batch_size: int) -> list[dict]:
    """(prepared line, text) samples as batches of similar width."""
    samples = sorted(samples, key=lambda s: s[0].shape[1])
    return [make_batch(samples[i : i + batch_size], charset) for i in range(0, len(samples), batch_size)]


def real_validation_sets(charset: Charset, batch_size: int) -> dict[str, list[dict]]:
    """Our validation split of the real sets: receipts (read case-insensitively) and the rest."""
    lines = load_lines("val", charset)
    log.info("real validation lines: %s", summary(lines))
    groups = {
        "receipts": [(prepare_line(x.image), x.text) for x in lines if x.case_unknown],
        "real": [(prepare_line(x.image), x.text) for x in lines if not x.case_unknown],
    }
    return {k: _batched(v, charset, batch_size) for k, v in groups.items() if v}


def validation_set(
    lang: str, charset: Charset, size: int, batch_size: int, data_dir: Path = DATA_DIR, seed: int = 987_654, marks: float = 0.0
) -> list[dict]:
    sampler = LineSampler(lang, charset, seed=seed, marks=marks, data_dir=data_dir)  # seeds disjoint from training's
    return _batched([sampler.sample() for _ in range(size)], charset, batch_size)


def marks_validation_set(lang: str, charset: Charset, size: int, batch_size: int, data_dir: Path = DATA_DIR) -> list[dict]:
    """Synthetic lines that each carry a dash list marker or a code token (``--marks``), drawn
    apart from ``validation_set`` so that its lines stay as they were."""
    return validation_set(lang, charset, size, batch_size, data_dir, seed=987_655, marks=1.0)


def document_validation_set(charset: Charset, batch_size: int, dpi: int = 200) -> list[dict]:
    """Lines of the validation-only Debian PDFs (training.debian_pdfs.VALIDATION_PDFS), cut at
    their text-layer boxes the way the pipeline cuts detected lines; texts as the benchmark
    compares them (NFKC, no whitespace)."""
    samples = []
    for page in validation_pages(dpi):
        for quad, text in zip(page.quads, page.texts, strict=True):
            crop = crop_line(page.image, quad)
            if crop.size and normalize(text):
                samples.append((prepare_line(crop), normalize(text)))
    return _batched(samples, charset, batch_size)


@torch.inference_mode()
def evaluate(model: nn.Module, batches: list[dict], charset: Charset, device: torch.device, clean=lambda s: s) -> float:
    model.eval()
    preds, truths = [], []
    for b in batches:
        preds += [clean(t) for t in greedy_texts(model(b["images"].to(device)), b["widths"], charset)]
        truths += b["texts"]
    model.train()
    return cer(preds, truths)


# Sized for the 1.5 s A4-page budget on two CPU cores (a dense page is ~40 lines of ~1,000 px);
# the mix model factors its 6,901-class output layer (head_rank) for the same reason.
DEFAULT_CONFIG = {
    "mix": {"channels": (24, 48, 96, 128), "hidden": 96, "head_rank": 96},
    "en": {"channels": (24, 48, 96, 128), "hidden": 96},
}


def build(lang: str, device: torch.device, model_dir: Path, run: Path, lr: float, init_from: str | None = None):
    charset = Charset.load(model_dir / f"charset_{lang}.txt")
    name = f"crnn_{lang}"
    card = read_card(model_dir, name)
    trained = card.get("training", {}).get("steps", 0) > 0 and not init_from
    # a trained model keeps its architecture; a fresh one takes this script's default
    config = card["config"] if trained else dict(DEFAULT_CONFIG[lang], num_classes=charset.num_classes)
    model = CrnnNet(CrnnConfig(**{**config, "channels": tuple(config.get("channels", CrnnConfig.channels))})).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    state = resume(model, opt, run)
    if state:
        return charset, model, opt, state
    if init_from:
        source = get_model(init_from, "cpu", model_dir)
        carried = transfer_crnn(source.net, source.charset, model, charset)
        log.info("starting from %s: body copied, %d output classes carried over", init_from, carried)
        return charset, model, opt, {"step": 0, "lines": 0, "best": 1.0, "seconds": 0, "init_from": init_from}
    state = shipped_or_fresh(
        model,
        model_dir,
        name,
        lambda t: {
            "step": t.get("steps", 0),
            "lines": t.get("lines", 0),
            "best": t.get("val_cer", 1.0),
            "seconds": t.get("seconds", 0),
            "val_version": t.get("val_version"),
        },
    )
    return charset, model, opt, state


def repeat_arg(text: str) -> tuple[str, int]:
    name, _, n = text.partition("=")
    if not name or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"expected SET=N with N >= 1, got {text!r}")
    return name, int(n)


def repeat_sets(lines: list, repeats: list[tuple[str, int]]) -> list:
    """The real lines with each named set's lines listed N times, so uniform draws favour it N-fold."""
    times = dict(repeats)
    return [x for x in lines for _ in range(times.get(x.source, 1))]


def export(model, charset_name, lang, model_dir, state, metrics, args):
    val_cer = metrics["score"]
    # classes added after training began (training.warm_start.add_characters) stay on record
    extended = read_card(model_dir, f"crnn_{lang}").get("training", {}).get("charset_extended")
    card = {
        "architecture": "crnn",
        "config": model.cfg.to_dict(),
        "charset": charset_name,
        "training": {
            "data": DATA_NOTE,
            "steps": state["step"],
            "lines": state["lines"],
            "seconds": int(state["seconds"]),
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "val_cer": val_cer,
            "val_version": VALIDATION_VERSION,
            "real_fraction": args.real_fraction,
            "small_text": args.small_text,
            "scene_words": args.scene_words,
            "underline": args.underline,
            "marks": args.marks,
            **({"distill": args.distill} if args.distill else {}),
            "real_lines": state.get("real_lines"),
            **({"real_excluded": list(args.real_exclude)} if args.real_exclude else {}),
            **({"real_repeat": dict(args.real_repeat)} if args.real_repeat else {}),
            "command": f"python -m training.train_crnn --lang {lang}"
            + (f" --init-from {state['init_from']}" if state.get("init_from") else ""),
            **({"charset_extended": extended} if extended else {}),
        },
        "metrics": {
            "val_score": round(val_cer, 4),  # mean of synthetic and real validation CER: what picks the weights
            "synthetic_val_cer": round(metrics["cer"], 4),
            "real_val_cer": round(metrics["real"], 4) if "real" in metrics else None,  # FUNSD + ICDAR 2015 words
            "receipt_val_cer": round(metrics["receipts"], 4) if "receipts" in metrics else None,  # case-insensitive
            "synthetic_val_lines": args.val_size,
            # real typeset lines the model never trains on; reported, not used to choose weights
            "debian_pdf_val_cer": round(metrics["pdf_cer"], 4) if "pdf_cer" in metrics else None,
        },
    }
    save_model(model, model_dir, f"crnn_{lang}", card)


def measure(
    model: nn.Module, val: list, documents: list, real_val: dict, charset: Charset, device, marks: list | None = None
) -> dict:
    """Every validation figure of a recognizer; ``score`` (synthetic and real CER, half and half)
    is the one that chooses weights. The marked lines count among the synthetic ones."""
    m = {"cer": evaluate(model, val + (marks or []), charset, device)}
    if marks:
        m["marks"] = evaluate(model, marks, charset, device)
    if documents:
        m["pdf_cer"] = evaluate(model, documents, charset, device, normalize)
    for name, sets in real_val.items():
        m[name] = evaluate(model, sets, charset, device, str.upper if name == "receipts" else (lambda s: s))
    real = [m[k] for k in real_val]
    m["score"] = (m["cer"] + sum(real) / len(real)) / 2 if real else m["cer"]
    return m


def frozen_teacher(model: nn.Module, run: Path) -> nn.Module:
    """The weights the round started from, kept under the run folder so that a resumed round
    distils from the same teacher (an export may have replaced the shipped file since)."""
    path = run / "teacher.pt"
    teacher = copy.deepcopy(model)
    if path.exists():
        teacher.load_state_dict(load_state(path)["model"])
    else:
        save_state(path, model=model.state_dict())
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def distillation_loss(
    teacher: nn.Module, images: torch.Tensor, logits: torch.Tensor, batch: dict, charset: Charset
) -> torch.Tensor:
    """KL(teacher || student) per frame, over the lines the teacher reads exactly.

    A round on two CPU cores runs for tens of thousands of lines, not millions, and every round
    from the shipped weights (an average of two rounds' ends) drifted off them and scored worse
    within minutes. Holding the outputs to the teacher's where it is right keeps what it reads,
    and leaves the CTC loss alone to teach the lines it misreads (learning without forgetting)."""
    with torch.no_grad():
        t_logits = teacher(images)  # (T, B, C)
        readings = greedy_texts(t_logits, batch["widths"], charset)
    right = [
        (r.upper() == t.upper()) if unknown else (r == t)
        for r, t, unknown in zip(readings, batch["texts"], batch["case_unknown"].tolist(), strict=True)
    ]
    if not any(right):
        return logits.new_zeros(())
    frames = torch.arange(logits.shape[0], device=logits.device)[:, None]  # (T, 1)
    valid = (frames < (batch["widths"].to(logits.device) // STRIDE).clamp(min=1)[None, :]).float()  # (T, B)
    valid = valid * torch.tensor(right, dtype=torch.float32, device=logits.device)[None, :]
    kl = nn.functional.kl_div(
        logits.log_softmax(-1).float(), t_logits.log_softmax(-1).float(), log_target=True, reduction="none"
    ).sum(-1)  # (T, B)
    return (kl * valid).sum() / valid.sum()


def train(args) -> None:
    device, model_dir, run = setup(args, f"crnn_{args.lang}")
    charset, model, opt, state = build(args.lang, device, model_dir, run, args.lr, args.init_from)
    if args.reset_lr:
        for g in opt.param_groups:
            g["lr"] = args.lr
    val = validation_set(args.lang, charset, args.val_size, args.batch_size)
    marks_val = marks_validation_set(args.lang, charset, args.val_size // 4, args.batch_size)
    documents = document_validation_set(charset, args.batch_size)
    real_val = real_validation_sets(charset, args.batch_size) if args.real_fraction > 0 else {}
    real_train = load_lines("train", charset) if args.real_fraction > 0 else []
    real_train = [x for x in real_train if x.source not in args.real_exclude]
    state["real_lines"] = summary(real_train)
    # what this round draws and how it steps, for a card written from its snapshots (training.average)
    state["round"] = {k: getattr(args, k) for k in ROUND_SETTINGS}
    real_train = repeat_sets(real_train, args.real_repeat)
    log.info("real training lines: %s, %.0f%% of the samples", state["real_lines"], 100 * args.real_fraction)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    data = LineBatches(
        args.lang,
        charset,
        args.batch_size,
        seed=args.seed + state["step"],
        real=real_train,
        real_fraction=args.real_fraction,
        small_text=args.small_text,
        scene_words=args.scene_words,
        underline=args.underline,
        marks=args.marks,
    )
    last = {"loss": float("nan"), "lines": state["lines"]}
    teacher = frozen_teacher(model, run) if args.distill else None

    def step(batch: dict) -> None:
        images = batch["images"].to(device)
        logits = model(images)  # (T, B, C)
        input_lengths = torch.clamp(batch["widths"] // STRIDE, min=1, max=logits.shape[0])
        log_probs = fold_case_log_probs(logits.log_softmax(-1).float(), batch["case_unknown"], charset)
        loss = ctc(log_probs, batch["targets"], input_lengths, batch["target_lengths"])
        if teacher is not None:
            loss = loss + args.distill * distillation_loss(teacher, images, logits, batch, charset)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        state["step"] += 1
        state["lines"] += images.shape[0]
        last["loss"] = loss.item()

    def progress(seconds: float) -> str:
        rate = (state["lines"] - last["lines"]) / seconds
        last["lines"] = state["lines"]
        lr = opt.param_groups[0]["lr"]
        return f"step {state['step']} lines {state['lines']} loss {last['loss']:.3f} {rate:.1f} lines/s lr {lr:.2e}"

    validation = Validation(
        evaluate=lambda: measure(model, val, documents, real_val, charset, device, marks_val),
        score="score",
        higher_is_better=False,
        export=lambda m: export(model, f"charset_{args.lang}.txt", args.lang, model_dir, state, m, args),
        describe=lambda m: ", ".join(f"{k} {v:.4f}" for k, v in m.items()),
        patience=3,
        may_decay=lambda state: state["best"] < 0.9,  # no decay while CTC is still on its all-blank plateau
        version=VALIDATION_VERSION,
    )
    stream = batches(data, args.workers, prefetch=4)
    fit(stream, step, progress, validation, args=args, model=model, opt=opt, state=state, run=run)


def main() -> None:
    p = parser(__doc__, val_minutes=5.0, lr=1e-3)
    p.add_argument("--lang", choices=["mix", "en"], default="mix")
    p.add_argument("--val-size", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--reset-lr", action="store_true", help="on resume, start again from --lr")
    p.add_argument(
        "--real-fraction",
        type=float,
        default=0.35,
        help="share of training lines taken from the real sets in ../shared/data/train (0: synthetic only)",
    )
    p.add_argument(
        "--real-exclude",
        nargs="*",
        default=[],
        metavar="SET",
        help="real training sets to leave out (folder names under ../shared/data/train, e.g. sroie2019_train)",
    )
    p.add_argument(
        "--real-repeat",
        nargs="*",
        default=[],
        type=repeat_arg,
        metavar="SET=N",
        help="draw a real set's lines N times as often as the others (e.g. icdar2015_train_words=3: "
        "its ~2,000 scene words are otherwise a fifth of the real lines)",
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="without a checkpoint, start from this shipped recognizer (e.g. crnn_en) instead of crnn_<lang>",
    )
    p.add_argument(
        "--small-text",
        type=float,
        default=0.15,
        help="share of synthetic training lines drawn at 8-15 px, as low-dpi pages rasterise them (validation lines keep 18-44 px)",
    )
    p.add_argument(
        "--scene-words",
        type=float,
        default=0.12,
        help="share of synthetic training samples that are one or two words on a sign or package "
        "(scene colours, tilt, perspective; training-only display faces, scripts/install_train_fonts.sh)",
    )
    p.add_argument(
        "--underline",
        type=float,
        default=0.08,
        help="share of synthetic lines underlined through their descenders, as typed forms underline "
        "labels (validation lines never are)",
    )
    p.add_argument(
        "--marks",
        type=float,
        default=0.08,
        help="share of synthetic lines given a dash list marker (– before Chinese reads as 一) or a code "
        "token (~i, ~/.config, {a,b}, [-v]) (validation lines never are)",
    )
    p.add_argument(
        "--distill",
        type=float,
        default=0.0,
        help="weight of a loss that holds the outputs to the starting weights' on the lines they read "
        "exactly (0: off); for short rounds from shipped weights",
    )
    parse_and_train(p, train)


if __name__ == "__main__":
    main()
