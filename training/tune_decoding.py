"""Choose the language model's decoding weights on our validation lines.

    .venv/bin/python -m training.tune_decoding [--write]     # ~3 min on 2 cores

The recognizer (as the pipeline runs it: ONNX Runtime's int8 graph on the CPU) reads our
validation split of the real sets (training.real_data: FUNSD form lines, ICDAR 2015 scene
words, SROIE receipt lines; SROIE case-insensitively, its labels are upper case) and the
validation-only Debian PDFs' lines at 200 and 100 dpi, once; then every setting of the grid
decodes the same network outputs. Each set's CER is taken relative to greedy decoding's and
the setting with the lowest mean ratio wins, so a set with few errors (the PDFs) weighs as
much as one with many. Never the benchmark's sets. ``--write`` puts the choice and its
figures in ``models/charlm.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.metrics import edit_distance, normalize, normalize_word
from core.settings import get_settings
from pipeline.charlm import LM_NAME, CharNgramLM, LmDecoder
from pipeline.line_image import prepare_line
from pipeline.recognizer import crop_line, decode_frames
from training.debian_pdfs import validation_pages
from training.real_data import load_lines

ALPHAS = (0.1, 0.15, 0.2, 0.3)
BETAS = (0.5, 1.0, 1.5)
WORD_BONUSES = (0.0, 1.0, 2.0, 3.0)
BEAM_WIDTH = 8
SURE = 0.98


def validation_lines(charset) -> dict[str, list[tuple[np.ndarray, str, bool]]]:
    """{set: [(grey crop, text, case_unknown)]}."""
    sets: dict[str, list] = defaultdict(list)
    for line in load_lines("val", charset):
        sets[line.source].append((line.image, line.text, line.case_unknown))
    for dpi in (200, 100):
        for page in validation_pages(dpi):
            for quad, text in zip(page.quads, page.texts, strict=True):
                crop = crop_line(page.image, quad)
                if crop.size and normalize(text):
                    sets[f"debian_pdfs_{dpi}dpi"].append((crop, text, False))
    return dict(sets)


def network_outputs(recognizer, crops: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each crop's (top classes (T, K), their probabilities (T, K)) as the recognizer gets them."""
    out = {
        i: (top_idx, top_prob) for i, top_idx, top_prob, _ in recognizer.frame_outputs(dict(enumerate(map(prepare_line, crops))))
    }
    return [out[i] for i in range(len(crops))]


def set_cer(texts: list[str], truth: list[tuple[np.ndarray, str, bool]]) -> tuple[float, float]:
    """(CER as the benchmark counts it, share of lines read exactly as IIIT5K counts words)."""
    errors = chars = right = 0
    for text, (_, true, case_unknown) in zip(texts, truth, strict=True):
        a, b = normalize(true), normalize(text)
        if case_unknown:
            a, b = a.lower(), b.lower()
        errors += edit_distance(a, b)
        chars += len(a)
        right += normalize_word(true) == normalize_word(text)
    return errors / max(chars, 1), right / max(len(truth), 1)


def decode_all(outputs, charset, decoder: LmDecoder | None) -> list[str]:
    return [charset.decode(decode_frames(top_idx, top_prob, decoder)[0]) for top_idx, top_prob in outputs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write the choice to models/{LM_NAME}.json")
    args = ap.parse_args()
    from pipeline.pipeline import build_pipeline

    model_dir = get_settings().model_dir
    card_path = model_dir / f"{LM_NAME}.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    lm = CharNgramLM.load(model_dir / card["file"], int(card["order"]))
    recognizer = build_pipeline("mix", "cpu").recognizer
    charset = recognizer.charset
    sets = validation_lines(charset)
    outputs = {name: network_outputs(recognizer, [c for c, _, _ in lines]) for name, lines in sets.items()}
    print("lines:", {name: len(lines) for name, lines in sets.items()})

    def run(decoder):
        return {name: set_cer(decode_all(outputs[name], charset, decoder), sets[name]) for name in sets}

    greedy = run(None)
    print("greedy:", _describe(greedy))
    results = []
    for alpha, beta, bonus in itertools.product(ALPHAS, BETAS, WORD_BONUSES if len(lm.words) else (0.0,)):
        clock = time.perf_counter()
        got = run(LmDecoder(lm, charset.chars, alpha, beta, BEAM_WIDTH, SURE, word_bonus=bonus))
        ratio = float(np.mean([got[n][0] / max(greedy[n][0], 1e-9) for n in sets]))
        results.append((ratio, alpha, beta, bonus, got))
        print(
            f"alpha {alpha} beta {beta} word bonus {bonus}: mean CER ratio {ratio:.3f} "
            f"({time.perf_counter() - clock:.0f} s) {_describe(got)}",
            flush=True,
        )
    ratio, alpha, beta, bonus, got = min(results, key=lambda r: r[0])
    print(f"chosen: alpha {alpha} beta {beta} word bonus {bonus} (mean CER ratio {ratio:.3f})")
    if args.write:
        # the second look's settings (pipeline.recognizer) are the card's own: they need the whole crops
        decoding = {"alpha": alpha, "beta": beta, "word_bonus": bonus, "beam_width": BEAM_WIDTH, "sure": SURE}
        card["decoding"] = {**card.get("decoding", {}), **decoding}
        card["metrics"] = {
            "chosen_by": "python -m training.tune_decoding --write: lowest mean CER ratio to greedy decoding over "
            "our validation split of ../shared/data/train and the validation-only Debian PDFs (int8 recognizer)",
            "recognizer_steps": read_steps(model_dir),
            "greedy": {n: {"cer": round(v[0], 4), "exact": round(v[1], 4)} for n, v in greedy.items()},
            "with_lm": {n: {"cer": round(v[0], 4), "exact": round(v[1], 4)} for n, v in got.items()},
        }
        card_path.write_text(json.dumps(card, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {card_path}")


def read_steps(model_dir: Path) -> int:
    return int(json.loads((model_dir / "crnn_mix.json").read_text(encoding="utf-8"))["training"]["steps"])


def _describe(result: dict) -> str:
    return " | ".join(f"{n} {cer * 100:.2f}% ({exact * 100:.1f}% exact)" for n, (cer, exact) in result.items())


if __name__ == "__main__":
    main()
