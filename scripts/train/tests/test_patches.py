"""The patch contract of docs/neural-contract.md: upsampling, windows, clamping, selection and paste-back."""
import math

import torch
import torch.nn.functional as F

from cleanplate_train.model import patches as P


def test_gather_upsampled_matches_full_interpolate():
    torch.manual_seed(0)
    for (h, w, H, W) in [(7, 9, 61, 90), (16, 16, 128, 128), (32, 48, 100, 150), (5, 3, 40, 17)]:
        low = torch.rand(2, 36, h, w)
        full = F.interpolate(low, size=(H, W), mode='bilinear', align_corners=False)
        gh, gw = P.grid_shape(H, W)
        b = torch.tensor([0, 1, 1, 0, 1])
        cy = torch.tensor([0, gh - 1, gh // 2, gh - 1, 0])
        cx = torch.tensor([0, gw - 1, gw // 2, 0, gw - 1])
        ys, xs = P.window_coords(cy, cx, H, W)
        got = P.gather_upsampled(low, b, ys, xs, H, W)
        ref = P.gather_windows(full, b, ys, xs)
        assert got.shape == (5, 36, 16, 16)
        assert (got - ref).abs().max() < 1e-5


def test_source_coordinate_formula():
    """source = (x + 0.5) * w / W - 0.5, clamped to [0, w - 1] (contract text)."""
    low = torch.arange(4.0).view(1, 1, 1, 4)  # value = source x
    H, W = 1, 10
    ys, xs = P.window_coords(torch.tensor([0]), torch.tensor([0]), H, W)
    got = P.gather_upsampled(low, torch.tensor([0]), ys, xs, H, W)[0, 0, 0]
    expect = [min(3.0, max(0.0, (x + 0.5) * 4 / 10 - 0.5)) for x in xs[0].tolist()]
    assert torch.allclose(got, torch.tensor(expect), atol=1e-6)


def test_windows_are_clamped_and_centred():
    H, W = 20, 13
    img = torch.arange(H * W, dtype=torch.float32).view(1, 1, H, W)
    ys, xs = P.window_coords(torch.tensor([0, 2]), torch.tensor([0, 1]), H, W)
    assert ys[0].tolist() == [0] * 5 + list(range(1, 12))
    assert ys[1].tolist() == list(range(12, 20)) + [19] * 8
    assert xs[1].tolist() == list(range(4, 13)) + [12] * 7
    win = P.gather_windows(img, torch.tensor([0, 0]), ys, xs)
    # window pixel (i + 4, j + 4) is patch pixel (i, j)
    assert win[1, 0, 4, 4] == img[0, 0, 16, 8]


def test_extract_patches_layout():
    torch.manual_seed(0)
    H, W, h, w = 40, 56, 10, 14
    shot, plate = torch.rand(1, 3, H, W), torch.rand(1, 3, H, W)
    a, f, hid = torch.rand(1, 1, h, w), torch.rand(1, 3, h, w), torch.rand(1, 32, h, w)
    cells = (torch.tensor([0, 0]), torch.tensor([1, 4]), torch.tensor([2, 6]))
    p = P.extract_patches(shot, plate, a, f, hid, cells)
    assert p.shape == (2, 42, 16, 16)
    assert torch.equal(p[0, 0:3, 4:12, 4:12], shot[0, :, 8:16, 16:24])
    assert torch.equal(p[0, 3:6, 4:12, 4:12], plate[0, :, 8:16, 16:24])
    up = F.interpolate(torch.cat([a, f, hid], 1), size=(H, W), mode='bilinear', align_corners=False)
    assert (p[0, 6:, 4:12, 4:12] - up[0, :, 8:16, 16:24]).abs().max() < 1e-5


def test_cell_error_selection_and_budget():
    err = torch.zeros(1, 1, 8, 8)
    err[0, 0, 7, 7] = 1.0
    ce = P.cell_error(err, 61, 90)
    assert ce.shape == (1, 1, math.ceil(61 / 8), math.ceil(90 / 8))
    b, cy, cx = P.select_top_k(ce, 1)
    assert (cy.item(), cx.item()) == (ce.shape[2] - 1, ce.shape[3] - 1)
    assert P.budget_k(61, 90, 0.08) == round(0.08 * 61 * 90 / 64)
    b, cy, cx = P.select_threshold(ce, 0.5)
    assert b.numel() >= 1 and (ce[b, 0, cy, cx] > 0.5).all()


def test_paste_writes_only_in_image_pixels():
    H, W = 13, 11
    full = torch.zeros(1, 2, H, W)
    cells = (torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    vals = torch.ones(2, 2, 8, 8)
    vals[1] *= 2
    out = P.paste_patches(full, vals, cells)
    assert (out[0, :, :8, :8] == 1).all()
    assert (out[0, :, 8:13, 8:11] == 2).all()
    assert (out[0, :, :8, 8:] == 0).all() and (out[0, :, 8:, :8] == 0).all()
    centres, valid = P.gather_centres(torch.rand(1, 1, H, W), cells)
    assert valid[1].sum() == 5 * 3 and valid[0].all()


def test_patch_changes_counts_in_image_pixels_only():
    full = torch.ones(1, 1, 10, 11)
    full[0, 0, 0, :] = 0  # first row of cell (0, 0)
    cells = (torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([0, 1]))  # (0,0) and the 2x3 corner cell
    values = torch.full((2, 1, 8, 8), 0.5)
    ch = P.patch_changes(full, values, cells)
    assert torch.allclose(ch, torch.tensor([(8 * 0.5 + 56 * 0.5) / 64, 0.5]))
    values[0] = 1.0
    assert abs(float(P.patch_changes(full, values, cells)[0]) - 8 / 64) < 1e-6


def test_grow_cells_neighbours_of_changed_cells_most_changed_first_within_limit():
    # the engine's growCells case (test/unit/neural-sampling.test.ts): a 4 x 5 grid, cells 0, 6 (1,1), 19 (3,4)
    cells = (torch.tensor([0, 0, 0]), torch.tensor([0, 1, 3]), torch.tensor([0, 1, 4]))
    changes = torch.tensor([0.05, 0.4, 0.1])

    def fresh():
        r = torch.zeros(1, 4, 5, dtype=torch.bool)
        r[cells] = True
        return r

    refined = fresh()
    b, cy, cx = P.grow_cells(cells, changes, 0.05, refined, 100)
    assert (cy * 5 + cx).tolist() == [1, 2, 5, 7, 10, 11, 12, 13, 14, 18] and b.tolist() == [0] * 10
    assert int(refined.sum()) == 13
    assert P.grow_cells(cells, changes, 0.05, refined, 100)[0].numel() == 0
    b, cy, cx = P.grow_cells(cells, changes, 0.05, fresh(), 3)
    assert (cy * 5 + cx).tolist() == [1, 2, 5]
    assert P.grow_cells(cells, changes, 0.5, fresh(), 100)[0].numel() == 0
