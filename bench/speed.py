"""Speed of our pipeline on one A4 page at 200 DPI: PyTorch and ONNX Runtime side by side.

    python -m bench.speed [--device cpu|cuda|auto] [--runs 5] [--lang mix|zh|en]
                          [--runtimes torch,onnx] [--threads N] [--cold-runs 3]

The page is a rendered Debian Reference page (1654 x 2339 px). Each runtime's
pipeline is loaded with the same models and the same number of threads, and
warmed up with one untimed run; then the runtimes take turns, page after page,
so that a busy machine slows both alike, and the median of ``--runs`` runs of
each is printed with each stage's median and the ratio of the medians.

A second figure times the same page "with every true line recognised": the
real orientation and CTPN networks still run (their cost counts), but stand-in
stages with the same interface hand on the upright angle and the page's true
lines, so the recognizer reads all of them. That is what a page costs once the
detector finds every line, whatever the shipped detector finds today.

Last, a cold ``ocr run`` of the page (a new process: imports, model loading,
one page, the text printed) is timed for each runtime, taking turns again.
The ONNX graphs are exported before anything is timed (pipeline/onnx_models.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.render import rendered_set

A4_200DPI = (1654, 2339)
RUNTIMES = ("torch", "onnx")


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


class Timings:
    """One runtime's runs of one pipeline: total seconds and each stage's, per run."""

    def __init__(self):
        self.totals: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.page = None

    def run(self, pipeline, image) -> None:
        start = time.perf_counter()
        self.page = pipeline.run_page(image)
        self.totals.append(time.perf_counter() - start)
        for stage, seconds in self.page.timings.items():
            self.stages.setdefault(stage, []).append(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.totals)


def side_by_side(pipelines: dict[str, object], image, runs: int) -> dict[str, Timings]:
    """Each pipeline warmed up once, then ``runs`` timed runs of each, taking turns."""
    for pipeline in pipelines.values():
        pipeline.run_page(image)  # warm-up: allocators, kernels, this batch shape
    timings = {name: Timings() for name in pipelines}
    for _ in range(max(1, runs)):
        for name, pipeline in pipelines.items():
            timings[name].run(pipeline, image)
    return timings


def report(title: str, timings: dict[str, Timings]) -> None:
    print(f"{title}:")
    for name, t in timings.items():
        print(
            f"  {name:<6} {len(t.page.lines)} lines read; median of {len(t.totals)} runs: {t.median:.3f} s/page "
            f"(min {min(t.totals):.3f}, max {max(t.totals):.3f}); "
            + ", ".join(f"{stage} {statistics.median(v):.3f}" for stage, v in t.stages.items())
        )
    if set(timings) >= set(RUNTIMES):
        print(f"  onnx/torch: {timings['onnx'].median / timings['torch'].median:.2f}")


def cold_runs(image_path: Path, runtimes: list[str], runs: int, device: str | None, threads: int) -> dict[str, list[float]]:
    """Wall seconds of ``ocr run PAGE --format txt`` in new processes, the runtimes taking turns."""
    ocr = Path(sys.executable).with_name("ocr")
    command = [str(ocr)] if ocr.exists() else [sys.executable, "-m", "pipeline.cli"]
    env = dict(os.environ, OCR_TORCH_THREADS=str(threads))
    times: dict[str, list[float]] = {rt: [] for rt in runtimes}
    for _ in range(max(1, runs)):
        for rt in runtimes:
            args = [*command, "run", str(image_path), "--format", "txt", "--runtime", rt]
            if device:
                args += ["--device", device]
            start = time.perf_counter()
            subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
            times[rt].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), help="where torch runs (default: OCR_DEVICE); ONNX runs on the CPU"
    )
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each runtime (default 5)")
    ap.add_argument("--lang", choices=("mix", "zh", "en"), default="mix", help="recognizer (default mix)")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated, from torch,onnx (default both)")
    ap.add_argument("--threads", type=int, help="threads of either runtime (default: OCR_TORCH_THREADS, else the CPUs)")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold `ocr run`s of each runtime (default 3; 0: none)")
    args = ap.parse_args(argv)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if not runtimes or set(runtimes) - set(RUNTIMES):
        print(f"--runtimes: choose from {', '.join(RUNTIMES)}", file=sys.stderr)
        return 2

    from pipeline.pipeline import Pipeline, get_pipeline
    from pipeline.runtime import inference_threads, set_inference_threads

    threads = args.threads or inference_threads() or os.cpu_count() or 1
    set_inference_threads(threads)  # the same count for both runtimes (torch's is set once it is loaded)

    page_lang = "en" if args.lang == "en" else "zh"
    sample = rendered_set(page_lang, "clean", 1).samples[0]
    image = sample.image()
    if image.size != A4_200DPI:
        print(f"warning: the page is {image.size[0]}x{image.size[1]}, not A4 at 200 DPI", file=sys.stderr)

    pipelines, loads = {}, {}
    for rt in runtimes:
        start = time.perf_counter()
        pipelines[rt] = get_pipeline(args.lang, "cpu" if rt == "onnx" else args.device, rt)
        loads[rt] = time.perf_counter() - start
        if rt == "torch":
            set_inference_threads(threads)
    versions = []
    if "torch" in pipelines:
        import torch

        from pipeline.models import resolve_device

        device = resolve_device(args.device)
        gpu = f" {torch.cuda.get_device_name(0)}" if device.startswith("cuda") else ""
        versions.append(f"torch {torch.__version__} on {device}{gpu} ({torch.get_num_threads()} threads)")
    if "onnx" in pipelines:
        import onnxruntime

        versions.append(f"onnxruntime {onnxruntime.__version__} on cpu ({threads} threads)")
    print(f"page {image.size[0]}x{image.size[1]}, lang {args.lang}; " + "; ".join(versions))
    print("models loaded in " + ", ".join(f"{rt} {s:.2f} s" for rt, s in loads.items()))
    report("shipped models as they are", side_by_side(pipelines, image, args.runs))

    oracles = {
        rt: Pipeline(
            orientation=TrueAngle(p.orientation),
            preprocessor=p.preprocessor,
            detector=TrueLines(p.detector, sample.lines, image.size),
            recognizer=p.recognizer,
            lang=p.lang,
        )
        for rt, p in pipelines.items()
    }
    report(f"with all {len(sample.lines)} true lines recognised", side_by_side(oracles, image, args.runs))

    if args.cold_runs > 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "page.png"
            image.save(path)
            cold = cold_runs(path, runtimes, args.cold_runs, args.device, threads)
        print(f"cold `ocr run` of the page (new process, {threads} threads), median of {args.cold_runs}:")
        for rt, values in cold.items():
            print(f"  {rt:<6} {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
