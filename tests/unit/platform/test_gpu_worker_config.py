"""The GPU worker's configuration: the batch size setting and the compose service (Docker itself is not run here)."""

from __future__ import annotations

import dataclasses

import yaml

from core.settings import REPO_ROOT, Settings
from worker.batching import GPU_BATCH, batch_size


def _settings(**changes) -> Settings:
    return dataclasses.replace(Settings.from_env(), **changes)


def test_batch_size_is_the_setting_else_eight_on_cuda_and_one_on_the_cpu():
    assert batch_size(_settings(worker_batch=4, device="cpu")) == 4
    assert batch_size(_settings(worker_batch=0, device="cuda")) == GPU_BATCH == 8
    assert batch_size(_settings(worker_batch=0, device="cuda:1")) == 8
    assert batch_size(_settings(worker_batch=0, device="cpu")) == 1


def test_ocr_worker_batch_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("OCR_WORKER_BATCH", "4")
    assert Settings.from_env().worker_batch == 4
    monkeypatch.delenv("OCR_WORKER_BATCH")
    assert Settings.from_env().worker_batch == 0


def test_the_compose_gpu_profile_runs_a_batching_worker_on_an_nvidia_gpu():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    gpu = compose["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert "cu" in gpu["build"]["args"]["TORCH_INDEX"]
    assert gpu["environment"]["OCR_DEVICE"] == "cuda" and gpu["environment"]["OCR_WORKER_BATCH"] == "8"
    assert gpu["environment"]["OCR_DATABASE_URL"].startswith("postgresql")  # batching needs PostgreSQL
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "worker.celery_app" in gpu["command"]
    assert "profiles" not in compose["services"]["worker"]  # the CPU worker still starts by default
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "ARG TORCH_INDEX" in dockerfile and '--index-url "${TORCH_INDEX}"' in dockerfile
