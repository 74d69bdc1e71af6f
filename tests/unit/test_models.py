"""Loading the shipped models: failures name the file; models are loaded once and shared."""

import json
import shutil

import pytest
import torch

from core.errors import InvalidOption, ModelError
from core.settings import REPO_ROOT
from pipeline.charset import build_charset
from pipeline.models import get_model, resolve_device
from pipeline.nets.ctpn import CtpnConfig, CtpnNet
from pipeline.nets.orientation import OrientationConfig, OrientationNet
from pipeline.weights import save_model

MODELS = REPO_ROOT / "models"


@pytest.fixture
def model_dir(tmp_path):
    for name in ("orientation.json", "orientation.safetensors", "crnn_en.json", "crnn_en.safetensors", "charset_en.txt"):
        shutil.copy(MODELS / name, tmp_path / name)
    return tmp_path


def test_shipped_models_load_on_cpu():
    for name in ("orientation", "ctpn", "crnn_mix", "crnn_en"):
        model = get_model(name, "cpu")
        assert model.device == "cpu" and not model.net.training
        assert all(not p.requires_grad for p in model.net.parameters())
    mixed = len(build_charset("mix")) + 1  # with the blank
    assert get_model("crnn_mix", "cpu").charset.num_classes == mixed
    assert get_model("crnn_mix", "cpu").net.cfg.num_classes == mixed
    assert get_model("crnn_en", "cpu").charset.num_classes == 96


def test_same_object_twice():
    assert get_model("ctpn", "cpu") is get_model("ctpn", "cpu")
    assert get_model("ctpn", "cpu").net is get_model("ctpn", "cpu").net


def test_missing_weights(model_dir):
    (model_dir / "orientation.safetensors").unlink()
    with pytest.raises(ModelError, match=r"orientation\.safetensors.*missing"):
        get_model("orientation", "cpu", model_dir)


def test_missing_card(model_dir):
    with pytest.raises(ModelError, match=r"ctpn\.json.*missing"):
        get_model("ctpn", "cpu", model_dir)


def test_card_that_is_not_json(model_dir):
    (model_dir / "orientation.json").write_text("{nope", encoding="utf-8")
    with pytest.raises(ModelError, match=r"orientation\.json.*not valid JSON"):
        get_model("orientation", "cpu", model_dir)


def test_corrupt_bytes_fail_the_sha256(model_dir):
    path = model_dir / "orientation.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"orientation\.safetensors.*corrupt.*sha256"):
        get_model("orientation", "cpu", model_dir)


def test_truncated_file_with_a_matching_card_cannot_be_read(model_dir):
    from pipeline.weights import sha256_of

    path = model_dir / "orientation.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    card = json.loads((model_dir / "orientation.json").read_text())
    card["sha256"] = sha256_of(path)
    (model_dir / "orientation.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"orientation\.safetensors.*cannot be read"):
        get_model("orientation", "cpu", model_dir)


def test_wrong_shapes(model_dir):
    small = OrientationConfig(channels=(8, 16, 32, 64))
    save_model(OrientationNet(small), model_dir, "orientation", {"architecture": "orientation", "config": small.to_dict()})
    card = json.loads((model_dir / "orientation.json").read_text())
    card["config"] = OrientationConfig().to_dict()  # the card claims the full-size network; the hash still fits
    (model_dir / "orientation.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"orientation\.safetensors: tensor .* has shape"):
        get_model("orientation", "cpu", model_dir)


def test_wrong_keys(model_dir):
    save_model(
        CtpnNet(CtpnConfig()), model_dir, "orientation", {"architecture": "orientation", "config": OrientationConfig().to_dict()}
    )
    with pytest.raises(ModelError, match=r"orientation\.safetensors do not match the architecture"):
        get_model("orientation", "cpu", model_dir)


def test_card_with_unknown_architecture_or_config(model_dir):
    path = model_dir / "orientation.json"
    card = json.loads(path.read_text())
    path.write_text(json.dumps(dict(card, architecture="vgg")))
    with pytest.raises(ModelError, match=r"orientation\.json names unknown architecture"):
        get_model("orientation", "cpu", model_dir)
    path.write_text(json.dumps(dict(card, config={"layers": 3})))
    with pytest.raises(ModelError, match=r"orientation\.json: config does not fit"):
        get_model("orientation", "cpu", model_dir)


def test_charset_that_does_not_fit_the_recognizer(model_dir):
    (model_dir / "charset_en.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"charset_en\.txt has 3 classes"):
        get_model("crnn_en", "cpu", model_dir)
    (model_dir / "charset_en.txt").unlink()
    with pytest.raises(ModelError, match=r"charset_en\.txt.*missing"):
        get_model("crnn_en", "cpu", model_dir)


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidOption):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_requested_without_a_gpu_is_a_clear_model_error():
    with pytest.raises(ModelError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ModelError, match="no CUDA GPU"):
        get_model("ctpn", "cuda")
