"""Pages per second of ``Pipeline.run_pages`` at several batch sizes (issue #13, batched GPU workers).

    python -m bench.gpu [--device cuda|cpu|auto] [--runtime torch|onnx|auto] [--batch-sizes 1,4,8]
                        [--pages N] [--images DIR] [--lang mix|zh|en] [--json FILE]
    python -m bench.gpu --export-images DIR [--pages 8]

Pages come from ``--images DIR`` (its PNG / JPEG files, sorted and cycled to N pages) or else
from the benchmark's rendered Debian Reference pages (bench/render.py, which needs the
debian-reference packages), zh and en in turn. They are decoded to grey before anything is
timed. For each batch size the pipeline first reads one untimed warm-up batch, then all N
pages, ``batch`` pages per ``run_pages`` call; the table gives the wall time, pages/s, lines/s
and the speed-up over batch size 1 (over the first size given, when 1 is not among them).
``--device cuda`` runs the networks in torch on the GPU (pipeline/runtime.py: OCR_RUNTIME=auto
picks torch for a GPU, ONNX Runtime for the CPU).

``--export-images DIR`` writes N rendered A4 200-DPI pages (zh and en in turn) as optimised
grey PNGs, to be carried to a machine without the debian-reference packages or fonts.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.pipeline import get_pipeline, runtime_and_device, to_gray

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def rendered_pages(count: int) -> list[tuple[str, Image.Image]]:
    """``count`` clean rendered pages at 200 DPI, zh and en in turn, as (name, image)."""
    from bench.render import rendered_set  # needs the debian-reference packages

    half = -(-count // 2)
    sets = [rendered_set(lang, "clean", half).samples for lang in ("zh", "en")]
    turns = [s for pair in zip(*sets, strict=False) for s in pair]
    if len(turns) < count:
        raise SystemExit(f"bench.gpu: only {len(turns)} rendered pages could be made, not {count}")
    return [(sample.id, sample.image()) for sample in turns[:count]]


def image_pages(directory: Path, count: int) -> list[np.ndarray]:
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"bench.gpu: no PNG or JPEG files in {directory}")
    grays = []
    for path in files:
        with Image.open(path) as im:
            grays.append(to_gray(im))
    return list(islice(cycle(grays), count))


def export_images(directory: Path, count: int) -> int:
    """Rendered pages as grey PNGs in ``directory``; their total size in bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    total = 0
    for index, (name, image) in enumerate(rendered_pages(count), start=1):
        path = directory / f"page-{index:02d}-{name}.png"
        image.convert("L").save(path, "PNG", optimize=True)
        total += path.stat().st_size
        print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"{count} pages, {total / 1024:.0f} KiB in all")
    return total


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    try:
        from bench.report import cpu_model  # its imports (tqdm) may be missing on a lent machine
    except ImportError:
        return platform.processor() or platform.machine()
    return cpu_model()


def timed_pass(pipe, pages: list[np.ndarray], batch: int) -> tuple[float, int, int]:
    """All pages, ``batch`` per run_pages call -> (seconds, lines read, pages failed)."""
    lines = failed = 0
    start = time.perf_counter()
    for first in range(0, len(pages), batch):
        chunk = pages[first : first + batch]
        for result in pipe.run_pages(chunk, page_numbers=list(range(first + 1, first + 1 + len(chunk)))):
            if isinstance(result, Exception):
                failed += 1
                print(f"bench.gpu: a page failed at batch size {batch}: {result!r}", file=sys.stderr)
            else:
                lines += len(result.lines)
    return time.perf_counter() - start, lines, failed


def measure(pipe, pages: list[np.ndarray], batch_sizes: list[int]) -> list[dict]:
    rows = []
    for batch in batch_sizes:
        pipe.run_pages(pages[:batch])  # warm-up: kernels chosen, memory pools grown
        seconds, lines, failed = timed_pass(pipe, pages, batch)
        rows.append(
            {
                "batch_size": batch,
                "pages": len(pages),
                "failed": failed,
                "seconds": round(seconds, 3),
                "pages_per_s": round(len(pages) / seconds, 3),
                "lines_per_s": round(lines / seconds, 1),
                "lines": lines,
            }
        )
    base = next((r for r in rows if r["batch_size"] == 1), rows[0])
    for row in rows:
        row["speedup"] = round(row["pages_per_s"] / base["pages_per_s"], 2)
    return rows


def table(rows: list[dict]) -> list[str]:
    out = ["| batch size | pages | seconds | pages/s | lines/s | speed-up |", "|---|---|---|---|---|---|"]
    for r in rows:
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        out.append(
            f"| {r['batch_size']} | {r['pages']}{failed} | {r['seconds']:.2f} | {r['pages_per_s']:.2f} "
            f"| {r['lines_per_s']:.0f} | {r['speedup']:.2f}x |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="cuda | cuda:N | cpu | auto (default auto)")
    ap.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"))
    ap.add_argument("--batch-sizes", default="1,4,8", help="pages per run_pages call, comma-separated (default 1,4,8)")
    ap.add_argument("--pages", type=int, default=8, help="pages per measurement (default 8)")
    ap.add_argument("--images", type=Path, help="a folder of PNG / JPEG pages (default: rendered pages)")
    ap.add_argument("--lang", default="mix", choices=("mix", "zh", "en"))
    ap.add_argument("--json", type=Path, help="also write the figures here as JSON")
    ap.add_argument("--export-images", type=Path, metavar="DIR", help="write --pages rendered pages here as PNG, and stop")
    args = ap.parse_args(argv)
    if args.pages < 1:
        ap.error("--pages must be at least 1")
    if args.export_images:
        export_images(args.export_images, args.pages)
        return 0
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError:
        ap.error(f"--batch-sizes must be integers, not {args.batch_sizes!r}")
    if not batch_sizes or min(batch_sizes) < 1:
        ap.error("--batch-sizes must name sizes of at least 1")

    if args.images:
        pages = image_pages(args.images, args.pages)
    else:
        pages = [to_gray(image) for _, image in islice(cycle(rendered_pages(min(args.pages, 8))), args.pages)]
    runtime, device = runtime_and_device(args.device, args.runtime)
    pipe = get_pipeline(args.lang, device, runtime)
    name = device_name(device)
    rows = measure(pipe, pages, batch_sizes)
    sizes = sorted({p.shape for p in pages})
    print(f"device: {device} ({name}), runtime: {runtime}, lang: {args.lang}, pages: {len(pages)} of sizes {sizes}")
    print("\n".join(table(rows)))
    if args.json:
        summary = {"device": device, "device_name": name, "runtime": runtime, "lang": args.lang, "rows": rows}
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
