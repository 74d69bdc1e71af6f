"""``python -m bench`` (``make bench``): our pipeline, Tesseract, PP-OCRv4 and PP-OCRv6 over the same evaluation sets.

Prints one Markdown report and writes it to docs/benchmarks.md. The default
sizes keep a full run under ~25 minutes on 2 CPU cores; ``--limit N`` caps
every set at N items for a quick trial.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from bench import datasets, render, traditional
from bench.engines import ENGINES, make_engines
from bench.report import CropRow, PageRow, Report
from bench.report import render as render_report
from bench.runner import evaluate_crops, evaluate_orientation, evaluate_pages
from core.settings import REPO_ROOT

SETS = ("rendered-zh", "rendered-en", "rendered-zh-tw", "funsd", "msra", "iiit5k", "uw3", "orientation")
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
LOWRES_PAGES = 8


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="cap every set at this many items (pages, crops)")
    ap.add_argument("--pages", type=int, default=8, help="pages per rendered set and variant (clean, scan)")
    ap.add_argument("--lowres-pages", type=int, default=LOWRES_PAGES, help="pages per rendered set at 100 and 72 DPI")
    ap.add_argument(
        "--variants",
        default=",".join(render.VARIANTS),
        help=f"comma-separated copies of the rendered sets, from {', '.join(render.VARIANTS)}",
    )
    ap.add_argument("--funsd", type=int, default=20, help="FUNSD forms")
    ap.add_argument("--msra", type=int, default=30, help="MSRA-TD500 photos")
    ap.add_argument("--iiit5k", type=int, default=300, help="IIIT5K word crops")
    ap.add_argument("--uw3", type=int, default=20, help="UW3 text lines (the whole test split is 20)")
    ap.add_argument("--orient", type=int, default=5, help="clean pages per language turned 0/90/180/270 degrees")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}")
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, from {', '.join(SETS)}")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where our networks run (default: OCR_DEVICE)")
    ap.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the report goes (default docs/benchmarks.md)")
    ap.add_argument("--no-write", action="store_true", help="print the report only")
    return ap


def _capped(n: int, limit: int | None) -> int:
    return min(n, limit) if limit is not None else n


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(sets) - set(SETS)
    if unknown:
        print(f"unknown set(s): {', '.join(sorted(unknown))}; choose from {', '.join(SETS)}", file=sys.stderr)
        return 2
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variants) - set(render.VARIANTS)
    if unknown:
        print(f"unknown variant(s): {', '.join(sorted(unknown))}; choose from {', '.join(render.VARIANTS)}", file=sys.stderr)
        return 2
    try:
        engines = make_engines([e.strip() for e in args.engines.split(",") if e.strip()], args.device)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    report = Report(command=shlex.join(["python", "-m", "bench", *argv]), engines=engines)
    try:
        run_sets(report, args, sets)
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:  # missing data, package or tool
        print(f"bench: {exc}", file=sys.stderr)
        return 1

    text = render_report(report)
    print(text, end="")
    if not args.no_write:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"written to {args.output}", file=sys.stderr)
    return 0


def run_sets(report: Report, args: argparse.Namespace, sets: list[str]) -> None:
    engines, cap = report.engines, args.limit
    started = time.perf_counter()
    for lang in ("zh", "en", "zh-tw"):
        if f"rendered-{lang}" not in sets:
            continue
        for variant in args.variants:
            size = _capped(args.lowres_pages if variant.endswith("dpi") else args.pages, cap)
            if lang == "zh-tw":
                _pages(report, traditional.traditional_set(variant, size))
            else:
                _pages(report, render.rendered_set(lang, variant, size))
    if "funsd" in sets:
        _pages(report, datasets.funsd(_capped(args.funsd, cap)))
    if "msra" in sets:
        _pages(report, datasets.msra_td500(_capped(args.msra, cap)))
    for name, load, size in (("iiit5k", datasets.iiit5k, args.iiit5k), ("uw3", datasets.uw3, args.uw3)):
        if name in sets:
            crop_set = load(_capped(size, cap))
            print(f"{crop_set.name}: {len(crop_set.samples)} crops", file=sys.stderr, flush=True)
            report.crops.append(CropRow(crop_set.name, len(crop_set.samples), crop_set.kind, evaluate_crops(engines, crop_set)))
    if "orientation" in sets:
        n = _capped(args.orient, cap)
        samples = [s for lang in ("zh", "en") for s in render.rendered_set(lang, "clean", n).samples]
        print(f"orientation: {len(samples)} pages x 4", file=sys.stderr, flush=True)
        report.orientation = CropRow("rendered pages, clean", len(samples), "orientation", evaluate_orientation(engines, samples))
    report.seconds = time.perf_counter() - started


def _pages(report: Report, page_set) -> None:
    print(f"{page_set.name}: {len(page_set.samples)} pages", file=sys.stderr, flush=True)
    scores = evaluate_pages(report.engines, page_set)
    report.pages.append(PageRow(page_set.name, len(page_set.samples), page_set.has_text, scores))


if __name__ == "__main__":
    sys.exit(main())
