"""Forward passes of the three networks on random weights: output shapes."""

import torch

from pipeline.nets.common import to_input
from pipeline.nets.crnn import CrnnConfig, CrnnNet
from pipeline.nets.ctpn import CtpnConfig, CtpnNet
from pipeline.nets.orientation import OrientationConfig, OrientationNet


def test_to_input_scales_to_minus_one_one():
    import numpy as np

    x = to_input(np.array([[0, 255]], dtype=np.uint8))
    assert x.shape == (1, 1, 1, 2)
    assert x.flatten().tolist() == [-1.0, 1.0]


@torch.inference_mode()
def test_ctpn_shapes():
    net = CtpnNet(CtpnConfig()).eval()
    score, vertical, side = net(torch.randn(2, 1, 64, 96))
    assert score.shape == (2, 4, 6, 10, 2)
    assert vertical.shape == (2, 4, 6, 10, 2)
    assert side.shape == (2, 4, 6, 10)


@torch.inference_mode()
def test_crnn_shapes_for_any_width():
    net = CrnnNet(CrnnConfig(num_classes=20)).eval()
    assert net(torch.randn(3, 1, 32, 100)).shape == (25, 3, 20)
    assert net(torch.randn(1, 1, 32, 16)).shape == (4, 1, 20)


@torch.inference_mode()
def test_orientation_shapes():
    net = OrientationNet(OrientationConfig()).eval()
    assert net(torch.randn(5, 1, 96, 96)).shape == (5, 4)
