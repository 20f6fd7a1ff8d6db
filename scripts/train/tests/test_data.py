"""Data synthesis: deterministic per seed, valid ranges, the hard cases present, device perturbations."""
import os

import numpy as np
import pytest
import torch

from cleanplate_train import config as C
from cleanplate_train.data.augment import misalign, perturb
from cleanplate_train.data.compose import make_sample, sample_rng
from cleanplate_train.data.dataset import SynthDataset, choose_transfer, make_loader
from cleanplate_train.trainer import to_device
from cleanplate_train.data.garments import fringe, fuzz, garment, lace, net
from cleanplate_train.data.sources import Sources, load_sources
from cleanplate_train.data.studio import backdrop, mannequin, random_figure
from conftest import SHARED_DATA


def _check_sample(s, size):
    assert set(s) == {'shot', 'plate', 'fgr', 'alpha'}
    for k in ('shot', 'plate', 'fgr'):
        assert s[k].shape == (3, size, size) and s[k].dtype == np.uint8
    assert s['alpha'].shape == (1, size, size) and s['alpha'].dtype == np.uint8


@pytest.mark.parametrize('full_res', [False, True])
def test_generator_is_deterministic_per_seed(full_res):
    d = C.DEFAULTS['data']
    src = Sources()
    a = make_sample(sample_rng(3, 0, 11), src, 96, 96, d, full_res)
    b = make_sample(sample_rng(3, 0, 11), src, 96, 96, d, full_res)
    c = make_sample(sample_rng(4, 0, 11), src, 96, 96, d, full_res)
    _check_sample(a, 96)
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_samples_cover_garments_with_soft_alpha():
    d = C.DEFAULTS['data']
    soft = 0
    nonempty = 0
    for i in range(12):
        s = make_sample(sample_rng(1, 0, i), Sources(), 80, 80, d, False)
        a = s['alpha']
        nonempty += int(a.max() > 200)
        soft += int(((a > 10) & (a < 245)).sum() > 20)
    assert nonempty >= 8 and soft >= 8


def test_garment_effects_ranges():
    rng = np.random.default_rng(0)
    fig = random_figure(rng, 128, 128)
    for _ in range(4):
        fg, al = garment(rng, fig, 128, 128, 1.0)
        assert fg.shape == (128, 128, 3) and al.shape == (128, 128)
        assert fg.dtype == np.float32 and al.dtype == np.float32
        assert 0 <= fg.min() and fg.max() <= 1 and 0 <= al.min() and al.max() <= 1
        assert al.max() > 0.9
    holes = lace(rng, 64, 64, 2.0)
    assert 0.05 < holes.mean() < 0.9
    for _ in range(6):  # nets: mostly holes, threads everywhere (no thread-free 16 x 16 block at px 1)
        mesh = net(rng, 64, 64, 1.0)
        assert mesh.dtype == np.float32 and 0 <= mesh.min() and mesh.max() <= 1
        assert 0.3 < mesh.mean() < 0.97 and mesh.min() < 0.6
        assert all(mesh[y:y + 16, x:x + 16].min() < 0.9 for y in (0, 24, 48) for x in (0, 24, 48))
    hem = [(100.0, 60.0), (20.0, 60.0)]
    strands = fringe(rng, 128, 128, hem, 40.0, 1.0)
    assert strands[70:, 20:100].max() > 0.3 and strands[:55].max() == 0
    assert ((strands > 0.02) & (strands < 0.98)).any()  # sub-pixel strands give fractional alpha
    blob = np.zeros((64, 64), np.float32)
    blob[16:48, 16:48] = 1
    hairs = fuzz(rng, 64, 64, blob, 1.0)
    assert hairs[:14].max() > 0 or hairs[50:].max() > 0 or hairs[:, :14].max() > 0


def test_studio_scene_ranges():
    rng = np.random.default_rng(1)
    bd = backdrop(rng, 64, 48, 'white')
    assert bd.shape == (64, 48, 3) and bd.min() >= 0 and bd.max() <= 1 and bd.mean() > 0.5
    fig = random_figure(rng, 64, 48)
    col, m = mannequin(rng, fig, 64, 48, 'black')
    assert m.max() == 1 and m.min() == 0 and col.max() <= 1


def test_dataset_and_loader_resume_offset():
    ds = SynthDataset(Sources(), C.DEFAULTS['data'], 48, False, 5, 0)
    it = iter(make_loader(ds, 2, 0, 2, 0, False))
    next(it)
    second = next(it)
    it2 = iter(make_loader(ds, 2, 0, 2, 2, False))  # resumed after 1 batch of 2 samples
    again = next(it2)
    for k in second:
        assert torch.equal(second[k], again[k])
    piped = next(iter(make_loader(ds, 2, 0, 2, 2, False, transfer='pipe')))  # numpy batches (no /dev/shm)
    moved = to_device(piped, torch.device('cpu'))
    for k in second:
        assert isinstance(piped[k], np.ndarray)
        assert torch.equal(moved[k], second[k].float() / 255)
    assert choose_transfer(ds, 2, 0, 2) == 'shm' and choose_transfer(ds, 2, 4, 2, 'pipe') == 'pipe'
    assert choose_transfer(ds, 10 ** 9, 4, 2) == 'pipe'  # cannot fit in any /dev/shm


def test_perturb_ranges_and_determinism():
    shot, plate = torch.rand(3, 3, 32, 40), torch.rand(3, 3, 32, 40)
    d = C.DEFAULTS['data']
    g1 = torch.Generator().manual_seed(9)
    g2 = torch.Generator().manual_seed(9)
    s1, p1 = perturb(shot, plate, g1, d)
    s2, p2 = perturb(shot, plate, g2, d)
    assert torch.equal(s1, s2) and torch.equal(p1, p2)
    assert s1.min() >= 0 and s1.max() <= 1 and p1.min() >= 0 and p1.max() <= 1
    assert (s1 - shot).abs().mean() < 0.05


def test_misalign_identity_and_shift():
    x = torch.rand(4, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(misalign(x, g, 0.0, 0.0), x)
    y = misalign(x, g, 3.0, 0.5)
    assert y.shape == x.shape and not torch.equal(x, y)


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, 'gt')), reason='../shared/data is absent')
def test_real_sources_hold_out_gt():
    src = load_sources(SHARED_DATA, C.TRAIN_GT[:2], '/nonexistent', 0, 128, 128, use_train_extra=False)
    names = [f.name for f in src.foregrounds]
    assert names == C.TRAIN_GT[:2]
    assert not set(C.TRAIN_GT) & set(C.HELD_OUT_GT)
    fg = src.foregrounds[0]
    assert fg.image.shape[:2] == fg.alpha.shape and max(fg.alpha.shape) <= 128 and fg.edge_ys.size > 0
    s = make_sample(sample_rng(0, 0, 1), src, 64, 64, dict(C.DEFAULTS['data'], fgMix={'garment': 0, 'real': 1, 'empty': 0}), False)
    _check_sample(s, 64)


def test_distractors_are_background_in_both_frames():
    from cleanplate_train.data.compose import add_distractors
    rng = sample_rng(5, 0, 0)
    flat = np.full((96, 96, 3), 0.5, np.float32)
    with_d = add_distractors(rng, Sources(), flat.copy(), 2, False, 1.0)
    assert with_d.shape == flat.shape and with_d.dtype == np.float32
    assert (np.abs(with_d - flat).max(axis=2) > 0.02).mean() > 0.01  # something foreground-like was pasted
    d = dict(C.DEFAULTS['data'], distractorProb=1.0, jpegProb=0.0, blurProb=0.0, shadowProb=0.0, hardCase=0.0)
    for i in range(4):
        s = make_sample(sample_rng(5, 0, i), Sources(), 96, 96, d, False)
        clear = s['alpha'][0] == 0
        # the distractors are in the plate too: wherever the subject is absent the two frames agree exactly
        assert clear.any() and np.array_equal(s['shot'][:, clear], s['plate'][:, clear])


def test_recolour_permutes_a_real_foregrounds_channels():
    from cleanplate_train.data.compose import place_real
    from cleanplate_train.data.sources import Foreground
    img = np.zeros((40, 40, 3), np.uint8)
    img[..., 0] = 220  # a red object
    al = np.zeros((40, 40), np.uint8)
    al[10:30, 10:30] = 255
    fg = Foreground('red', img, al, np.array([10]), np.array([10]))

    def dominant(recolour, i):
        F, A = place_real(sample_rng(8, 0, i), fg, 64, 64, False, recolour)
        inside = A > 0.99
        return int(np.argmax(F[inside].mean(axis=0)))

    assert {dominant(0.0, i) for i in range(12)} == {0}
    assert len({dominant(1.0, i) for i in range(12)}) >= 2
