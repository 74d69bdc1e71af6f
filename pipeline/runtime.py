"""Where the networks run: PyTorch or ONNX Runtime, behind one call.

A stage hands its network numpy arrays and gets numpy arrays back, whichever
runtime it is: ``OnnxNetwork`` (an ONNX Runtime session over a graph exported by
pipeline.export_onnx) or ``TorchNetwork`` (an ``nn.Module`` on a torch device).
The ONNX path never imports torch: ``import torch`` alone is most of a cold
``ocr run`` (1.8 of 3.2 s), and ONNX Runtime runs our small networks on the CPU
in less than half torch's time.

``OCR_RUNTIME`` (Settings.runtime) chooses: ``onnx``, ``torch``, or ``auto``,
which is ONNX on the CPU and torch on a GPU (ONNX Runtime is installed for the
CPU only here).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from core.errors import InvalidOption
from core.settings import get_settings

RUNTIMES = ("auto", "torch", "onnx")


def _gpu_usable() -> bool:
    """Whether torch would find a CUDA GPU, answered without importing torch (its import is the cost
    the ONNX path avoids): an NVIDIA driver with GPUs, visible to this process, and a torch build
    that is not CPU-only."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    try:
        if not any(Path("/proc/driver/nvidia/gpus").iterdir()):
            return False
    except OSError:
        return False
    import importlib.metadata  # 20 ms of a cold `ocr run`: imported only where there is a driver

    try:
        return "+cpu" not in importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return False


def resolve_runtime(runtime: str | None = None, device: str | None = None, gpu: bool | None = None) -> str:
    """'auto' | 'torch' | 'onnx' (None: Settings.runtime) with the requested device -> 'torch' or 'onnx'.

    ``gpu``: whether a CUDA GPU is usable; None asks this machine (``_gpu_usable``)."""
    settings = get_settings()
    choice = (runtime or settings.runtime).strip().lower()
    dev = (device or settings.device).strip().lower()
    if choice not in RUNTIMES:
        raise InvalidOption(f"runtime must be one of {', '.join(RUNTIMES)}, not {choice!r}")
    if choice == "auto":
        if dev == "cpu":
            return "onnx"
        if dev == "auto":
            return "torch" if (_gpu_usable() if gpu is None else gpu) else "onnx"
        return "torch"  # a GPU was asked for by name: torch says whether it has one
    if choice == "onnx" and dev not in ("auto", "cpu"):
        raise InvalidOption(f"the ONNX runtime runs on the CPU only; use OCR_RUNTIME=torch (or auto) for device {dev!r}")
    return choice


_threads: int | None = None


def set_inference_threads(threads: int) -> None:
    """Threads per process for the networks, whichever runtime (the worker shares the cores out
    among its pool processes). ONNX sessions made afterwards use it; torch's is set now if loaded."""
    global _threads
    _threads = threads
    if threads > 0 and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def inference_threads() -> int:
    """set_inference_threads' count, else Settings.torch_threads (OCR_TORCH_THREADS); 0: the runtime's default."""
    return _threads if _threads is not None else get_settings().torch_threads


QUANTISED_KEY = "quantised"  # graph metadata that pipeline.export_onnx writes on an int8 graph


class OnnxNetwork:
    """An exported network in an ONNX Runtime CPU session: numpy inputs -> list of numpy outputs.

    ``cfg`` is the architecture config from the model card, as an ``nn.Module`` of ours has it.
    ``quantised``: an int8 graph, whose activations are quantised with one scale per call, so
    what it computes for one input depends a little on the others in the batch.
    """

    def __init__(self, path: Path, cfg=None, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        threads = inference_threads() if threads is None else threads
        if threads > 0:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graphs are chains: parallel branches would only add threads
        self.path = Path(path)
        self.cfg = cfg
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.quantised = self.session.get_modelmeta().custom_metadata_map.get(QUANTISED_KEY) == "int8"

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, dict(zip(self.input_names, inputs, strict=True)))


class TorchNetwork:
    """An ``nn.Module`` on ``device`` with the same call as OnnxNetwork (no gradients)."""

    def __init__(self, module, device="cpu"):
        import torch

        self.module = module
        self.device = torch.device(device)

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.module(*(torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in inputs))
            outs = out if isinstance(out, (tuple, list)) else (out,)
            return [t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy() for t in outs]


def as_network(net, device="cpu") -> OnnxNetwork | TorchNetwork:
    """A stage's network as a numpy callable: an OnnxNetwork as it is, anything else as a torch module."""
    return net if isinstance(net, OnnxNetwork) else TorchNetwork(net, device)
