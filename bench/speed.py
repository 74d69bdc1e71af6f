"""Warm speed of our pipeline (what ``ocr run`` does per page) on one A4 page at 200 DPI.

    python -m bench.speed [--device cpu|cuda|auto] [--runs 5] [--lang mix|zh|en]

The page is a rendered Debian Reference page (1654 x 2339 px). Models are loaded
and one untimed run warms them up; then the median of ``--runs`` runs is printed
with each stage's median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from bench.render import rendered_set

A4_200DPI = (1654, 2339)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the networks run (default: OCR_DEVICE)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs (default 5)")
    ap.add_argument("--lang", choices=("mix", "zh", "en"), default="mix", help="recognizer (default mix)")
    args = ap.parse_args(argv)

    import torch

    from pipeline.models import resolve_device
    from pipeline.pipeline import get_pipeline

    page_lang = "en" if args.lang == "en" else "zh"
    image = rendered_set(page_lang, "clean", 1).samples[0].image()
    if image.size != A4_200DPI:
        print(f"warning: the page is {image.size[0]}x{image.size[1]}, not A4 at 200 DPI", file=sys.stderr)

    start = time.perf_counter()
    pipeline = get_pipeline(args.lang, args.device)
    load = time.perf_counter() - start
    first = pipeline.run_page(image)  # warm-up: allocator, kernels, caches

    totals, stages = [], {}
    for _ in range(max(1, args.runs)):
        start = time.perf_counter()
        page = pipeline.run_page(image)
        totals.append(time.perf_counter() - start)
        for stage, seconds in page.timings.items():
            stages.setdefault(stage, []).append(seconds)

    device = resolve_device(args.device)
    gpu = f" ({torch.cuda.get_device_name(0)})" if device.startswith("cuda") else ""
    print(
        f"page {image.size[0]}x{image.size[1]}, lang {args.lang}, device {device}{gpu}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"models loaded in {load:.2f} s; warm-up run {sum(first.timings.values()):.2f} s; {len(page.lines)} lines found")
    print(f"median of {len(totals)} runs: {statistics.median(totals):.3f} s/page (min {min(totals):.3f}, max {max(totals):.3f})")
    for stage, values in stages.items():
        print(f"  {stage:<12} {statistics.median(values):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
