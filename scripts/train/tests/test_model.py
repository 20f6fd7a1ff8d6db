"""Network shapes and output ranges on tiny inputs."""
import pytest
import torch

from cleanplate_train.config import build_models
from cleanplate_train.model.encoder import MobileNetV2Encoder
from cleanplate_train.model.refiner import Refiner, RefinerConfig


@pytest.mark.parametrize('h,w', [(16, 16), (32, 48), (64, 16), (48, 80)])
def test_base_shapes_and_ranges(tiny_cfg, h, w):
    torch.manual_seed(0)
    base, _ = build_models(tiny_cfg)
    base.eval()
    shot, plate = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
    with torch.no_grad():
        alpha, fgr, err, hid = base(shot, plate)
    assert alpha.shape == (2, 1, h, w) and fgr.shape == (2, 3, h, w)
    assert err.shape == (2, 1, h, w) and hid.shape == (2, 32, h, w)
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert err.min() >= 0 and err.max() <= 1
    assert hid.min() >= 0
    assert torch.isfinite(fgr).all()


def test_encoder_strides():
    enc = MobileNetV2Encoder(9, width=0.25, depth=0.34)
    feats = enc(torch.rand(1, 9, 64, 96))
    assert [f.shape[2:] for f in feats] == [(32, 48), (16, 24), (8, 12), (4, 6)]
    assert [f.shape[1] for f in feats] == list(enc.channels)


def test_refiner_shapes_ranges_and_identity_at_init():
    torch.manual_seed(0)
    patches = torch.rand(5, 42, 16, 16)
    r = Refiner(RefinerConfig([8, 8, 8]))  # zero-initialised output conv: returns the coarse centre
    r.eval()
    with torch.no_grad():
        a, f = r(patches)
    assert a.shape == (5, 1, 8, 8) and f.shape == (5, 3, 8, 8)
    assert torch.allclose(a, patches[:, 6:7, 4:12, 4:12].clamp(0, 1))
    assert torch.allclose(f, patches[:, 7:10, 4:12, 4:12])
    r2 = Refiner(RefinerConfig([8, 8, 8]), zero_init_out=False)
    r2.eval()
    with torch.no_grad():
        a2, _ = r2(patches * 4 - 2)
    assert a2.min() >= 0 and a2.max() <= 1


def test_refiner_output_pixel_sees_only_its_window():
    """Valid convs: output (i, j) depends on window pixels (i..i+8, j..j+8) only (receptive field 9x9)."""
    torch.manual_seed(1)
    r = Refiner(RefinerConfig([8, 8, 8]), zero_init_out=False)
    r.eval()
    p = torch.rand(1, 42, 16, 16)
    q = p.clone()
    q[:, :, 15, 15] += 1.0  # bottom-right corner pixel
    with torch.no_grad():
        a1, _ = r(p)
        a2, _ = r(q)
    changed = (a1 - a2).abs()[0, 0] > 0
    assert not changed[:7, :].any() and not changed[:, :7].any()
