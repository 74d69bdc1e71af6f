"""Warm speed of our pipeline (what ``ocr run`` does per page) on one A4 page at 200 DPI.

    python -m bench.speed [--device cpu|cuda|auto] [--runs 5] [--lang mix|zh|en]

The page is a rendered Debian Reference page (1654 x 2339 px). Models are loaded
and one untimed run warms them up; then the median of ``--runs`` runs is printed
with each stage's median.

A second figure times the same page "with every true line recognised": the
real orientation and CTPN networks still run (their cost counts), but stand-in
stages with the same interface hand on the upright angle and the page's true
lines, so the recognizer reads all of them. That is what a page costs once the
detector finds every line, whatever the shipped detector finds today.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from bench.render import rendered_set

A4_200DPI = (1654, 2339)


class TrueAngle:
    """Runs the real orientation network, then reports the page as upright (it is)."""

    def __init__(self, real):
        self.real = real

    def __call__(self, gray):
        self.real(gray)
        return 0, 1.0


class TrueLines:
    """Runs the real CTPN stage, then returns the page's true lines in working pixels."""

    def __init__(self, real, lines, page_size):
        from pipeline.ctpn.textline import DetectedLine
        from pipeline.preprocess import working_scale

        self.real = real
        scale = working_scale(page_size[1], page_size[0])
        self.lines = [DetectedLine(np.asarray(line.polygon, dtype=np.float32) * scale, 1.0, 2) for line in lines]

    def __call__(self, working):
        self.real(working)
        return self.lines


def timed_runs(pipeline, image, runs: int) -> tuple[list[float], dict[str, list[float]], object]:
    totals, stages, page = [], {}, None
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        page = pipeline.run_page(image)
        totals.append(time.perf_counter() - start)
        for stage, seconds in page.timings.items():
            stages.setdefault(stage, []).append(seconds)
    return totals, stages, page


def report(title: str, totals: list[float], stages: dict[str, list[float]], page) -> None:
    print(f"{title}: {len(page.lines)} lines read")
    print(
        f"  median of {len(totals)} runs: {statistics.median(totals):.3f} s/page (min {min(totals):.3f}, max {max(totals):.3f})"
    )
    for stage, values in stages.items():
        print(f"    {stage:<12} {statistics.median(values):.3f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the networks run (default: OCR_DEVICE)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    ap.add_argument("--lang", choices=("mix", "zh", "en"), default="mix", help="recognizer (default mix)")
    args = ap.parse_args(argv)

    import torch

    from pipeline.models import resolve_device
    from pipeline.pipeline import Pipeline, get_pipeline

    page_lang = "en" if args.lang == "en" else "zh"
    sample = rendered_set(page_lang, "clean", 1).samples[0]
    image = sample.image()
    if image.size != A4_200DPI:
        print(f"warning: the page is {image.size[0]}x{image.size[1]}, not A4 at 200 DPI", file=sys.stderr)

    start = time.perf_counter()
    pipeline = get_pipeline(args.lang, args.device)
    load = time.perf_counter() - start
    first = pipeline.run_page(image)  # warm-up: allocator, kernels, caches

    device = resolve_device(args.device)
    gpu = f" ({torch.cuda.get_device_name(0)})" if device.startswith("cuda") else ""
    print(
        f"page {image.size[0]}x{image.size[1]}, lang {args.lang}, device {device}{gpu}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"models loaded in {load:.2f} s; warm-up run {sum(first.timings.values()):.2f} s")
    report("shipped models as they are", *timed_runs(pipeline, image, args.runs))

    oracle = Pipeline(
        orientation=TrueAngle(pipeline.orientation),
        preprocessor=pipeline.preprocessor,
        detector=TrueLines(pipeline.detector, sample.lines, image.size),
        recognizer=pipeline.recognizer,
        lang=pipeline.lang,
    )
    oracle.run_page(image)  # warm-up at this batch shape
    report(f"with all {len(sample.lines)} true lines recognised", *timed_runs(oracle, image, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
