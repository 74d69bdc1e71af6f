"""Train the CRNN recognizer on synthetic lines; resumable, seeded, CPU or GPU.

    python -m training.train_crnn --lang mix --minutes 60

Runs for a wall-clock budget, validates on a fixed synthetic set every few
minutes, keeps training/runs/crnn_<lang>/last.pt for resuming and exports the
best weights so far to models/crnn_<lang>.safetensors with their model card.
A run with no checkpoint starts from the shipped weights when those are trained.
"""

from __future__ import annotations

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
from training.debian_pdfs import validation_pages
from training.line_data import LineBatches, LineSampler, make_batch
from training.loop import Validation, batches, fit, resume, setup, shipped_or_fresh
from training.schedule import parse_and_train, parser
from training.text_metrics import cer
from training.warm_start import transfer_crnn

log = logging.getLogger("train_crnn")
DATA_NOTE = (
    "synthetic lines: Debian package documents (debian-faq-zh-cn, maint-guide-zh-cn, manpages-zh, English man pages "
    "and copyright files; never debian-reference), jieba dictionary words by frequency, random GB2312 hanzi, "
    "generated numbers/dates/prices/codes/addresses; Debian fonts (Noto CJK SC, WenQuanYi, AR PL, DejaVu, "
    "Liberation, FreeFont); typeset forms (curly quotes, bullets, dashes, guillemets, signs); scan and photo "
    "degradations, table rules, neighbouring ink, crop jitter that sometimes clips the ink"
)


def greedy_texts(logits: torch.Tensor, widths: torch.Tensor, charset: Charset) -> list[str]:
    best = logits.argmax(-1).T.cpu()  # (B, T)
    out = []
    for row, width in zip(best, widths, strict=True):
        row = row[: max(1, int(width) // STRIDE)].tolist()
        out.append(charset.decode([c for i, c in enumerate(row) if c and (i == 0 or c != row[i - 1])]))
    return out


# Bump when LineSampler changes what the validation lines look like (v2: typeset forms, table
# rules, neighbouring ink, clipped boxes).
VALIDATION_VERSION = "lines-v2"


def _batched(samples: list[tuple], charset: Charset, batch_size: int) -> list[dict]:
    """(prepared line, text) samples as batches of similar width."""
    samples = sorted(samples, key=lambda s: s[0].shape[1])
    return [make_batch(samples[i : i + batch_size], charset) for i in range(0, len(samples), batch_size)]


def validation_set(lang: str, charset: Charset, size: int, batch_size: int) -> list[dict]:
    sampler = LineSampler(lang, charset, seed=987_654)  # disjoint from the training seeds
    return _batched([sampler.sample() for _ in range(size)], charset, batch_size)


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


def export(model, charset_name, lang, model_dir, state, metrics, args):
    val_cer = metrics["cer"]
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
            "command": f"python -m training.train_crnn --lang {lang}"
            + (f" --init-from {state['init_from']}" if state.get("init_from") else ""),
            **({"charset_extended": extended} if extended else {}),
        },
        "metrics": {
            "synthetic_val_cer": round(val_cer, 4),
            "synthetic_val_lines": args.val_size,
            # real typeset lines the model never trains on; reported, not used to choose weights
            "debian_pdf_val_cer": round(metrics["pdf_cer"], 4) if "pdf_cer" in metrics else None,
        },
    }
    save_model(model, model_dir, f"crnn_{lang}", card)


def train(args) -> None:
    device, model_dir, run = setup(args, f"crnn_{args.lang}")
    charset, model, opt, state = build(args.lang, device, model_dir, run, args.lr, args.init_from)
    if args.reset_lr:
        for g in opt.param_groups:
            g["lr"] = args.lr
    val = validation_set(args.lang, charset, args.val_size, args.batch_size)
    documents = document_validation_set(charset, args.batch_size)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    data = LineBatches(args.lang, charset, args.batch_size, seed=args.seed + state["step"])
    last = {"loss": float("nan"), "lines": state["lines"]}

    def step(batch: dict) -> None:
        images = batch["images"].to(device)
        logits = model(images)  # (T, B, C)
        input_lengths = torch.clamp(batch["widths"] // STRIDE, min=1, max=logits.shape[0])
        loss = ctc(logits.log_softmax(-1).float(), batch["targets"], input_lengths, batch["target_lengths"])
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
        evaluate=lambda: {
            "cer": evaluate(model, val, charset, device),
            **({"pdf_cer": evaluate(model, documents, charset, device, normalize)} if documents else {}),
        },
        score="cer",
        higher_is_better=False,
        export=lambda m: export(model, f"charset_{args.lang}.txt", args.lang, model_dir, state, m, args),
        describe=lambda m: f"CER {m['cer']:.4f}" + (f", Debian PDF lines {m['pdf_cer']:.4f}" if "pdf_cer" in m else ""),
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
        "--init-from",
        default=None,
        help="without a checkpoint, start from this shipped recognizer (e.g. crnn_en) instead of crnn_<lang>",
    )
    parse_and_train(p, train)


if __name__ == "__main__":
    main()
