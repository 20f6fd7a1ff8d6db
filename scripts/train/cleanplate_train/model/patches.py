"""The patch contract of docs/neural-contract.md, shared by training, Python inference and the parity fixture.

Conventions (full resolution H x W, base resolution h x w, B images, N selected patches):
  * Patch grid: 8 x 8 cells starting at (0, 0); ceil(H/8) x ceil(W/8) cells; the last row/column may stick out.
  * Window of cell (cy, cx): rows cy*8-4 .. cy*8+11, columns cx*8-4 .. cx*8+11 (16 x 16), coordinates clamped
    to the image (replicate padding).
  * Base outputs are bilinearly upsampled with half-pixel centres (PyTorch align_corners=False):
    source = (x + 0.5) * w / W - 0.5 clamped to [0, w - 1]; we sample that directly at the window positions,
    which equals F.interpolate(..., size=(H, W)) followed by a clamped gather (tested).
  * Cell error = bilinear resample of the base error map to ceil(H/8) x ceil(W/8).
Cells are passed as three int64 tensors (b, cy, cx) of length N.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F

PATCH = 8
CONTEXT = 4
WINDOW = PATCH + 2 * CONTEXT

Cells = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def upsample(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with half-pixel centres (the contract's upsampling), [B,C,h,w] -> [B,C,*size]."""
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


def grid_shape(H: int, W: int) -> Tuple[int, int]:
    """Number of 8 x 8 cells (rows, columns) covering an H x W image."""
    return math.ceil(H / PATCH), math.ceil(W / PATCH)


def cell_error(error_low: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Per-cell error [B,1,ceil(H/8),ceil(W/8)] from the base error map [B,1,h,w]."""
    return upsample(error_low, grid_shape(H, W))


def select_top_k(cell_err: torch.Tensor, k: int) -> Cells:
    """The k cells with the largest error of each image (k clipped to the cell count); returns (b, cy, cx)."""
    B, _, gh, gw = cell_err.shape
    k = max(0, min(int(k), gh * gw))
    flat = cell_err.reshape(B, gh * gw)
    idx = torch.topk(flat, k, dim=1).indices if k > 0 else flat.new_zeros((B, 0), dtype=torch.long)
    b = torch.arange(B, device=cell_err.device).unsqueeze(1).expand(B, k).reshape(-1)
    idx = idx.reshape(-1)
    return b, idx // gw, idx % gw


def budget_k(H: int, W: int, pixel_budget: float) -> int:
    """Cells allowed by a pixel budget: round(pixel_budget * H * W / 64)."""
    return int(round(pixel_budget * H * W / (PATCH * PATCH)))


def select_threshold(cell_err: torch.Tensor, threshold: float) -> Cells:
    """All cells whose error exceeds `threshold`; returns (b, cy, cx)."""
    b, _, cy, cx = torch.nonzero(cell_err > threshold, as_tuple=True)
    return b, cy, cx


def window_coords(cy: torch.Tensor, cx: torch.Tensor, H: int, W: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Clamped full-res row/column indices of each 16 x 16 window: ys [N,16], xs [N,16] (int64)."""
    offs = torch.arange(WINDOW, device=cy.device) - CONTEXT
    ys = (cy.unsqueeze(1) * PATCH + offs).clamp(0, H - 1)
    xs = (cx.unsqueeze(1) * PATCH + offs).clamp(0, W - 1)
    return ys, xs


def gather_windows(img: torch.Tensor, b: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Gathers img[b, :, ys, xs] as [N, C, S, S] from img [B,C,H,W] with ys, xs [N,S] (already clamped)."""
    out = img[b[:, None, None], :, ys[:, :, None], xs[:, None, :]]  # [N, S, S, C]
    return out.permute(0, 3, 1, 2)


def _source_index(dst: torch.Tensor, src_size: int, dst_size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Half-pixel bilinear source taps for integer destination indices: (i0, i1, weight of i1)."""
    scale = src_size / dst_size
    src = ((dst.to(torch.float32) + 0.5) * scale - 0.5).clamp(min=0.0)
    i0 = src.floor().to(torch.long).clamp(max=src_size - 1)
    i1 = (i0 + 1).clamp(max=src_size - 1)
    return i0, i1, (src - i0.to(torch.float32))


def gather_upsampled(low: torch.Tensor, b: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
                     H: int, W: int) -> torch.Tensor:
    """Values of upsample(low, (H, W)) at full-res positions ys, xs [N,S]: [N, C, S, S], without the full upsample."""
    h, w = low.shape[2], low.shape[3]
    y0, y1, wy = _source_index(ys, h, H)
    x0, x1, wx = _source_index(xs, w, W)
    wy = wy[:, None, :, None].to(low.dtype)
    wx = wx[:, None, None, :].to(low.dtype)
    top = gather_windows(low, b, y0, x0) * (1 - wx) + gather_windows(low, b, y0, x1) * wx
    bot = gather_windows(low, b, y1, x0) * (1 - wx) + gather_windows(low, b, y1, x1) * wx
    return top * (1 - wy) + bot * wy


def extract_patches(shot: torch.Tensor, plate: torch.Tensor, alpha_low: torch.Tensor, fgr_low: torch.Tensor,
                    hidden_low: torch.Tensor, cells: Cells) -> torch.Tensor:
    """Refiner input [N, 42, 16, 16] for the given cells.

    shot, plate [B,3,H,W] full resolution 0..1; alpha_low [B,1,h,w], fgr_low [B,3,h,w], hidden_low [B,32,h,w].
    """
    b, cy, cx = cells
    H, W = shot.shape[2], shot.shape[3]
    ys, xs = window_coords(cy, cx, H, W)
    low = torch.cat([alpha_low, fgr_low, hidden_low], dim=1)
    return torch.cat([gather_windows(shot, b, ys, xs), gather_windows(plate, b, ys, xs),
                      gather_upsampled(low, b, ys, xs, H, W)], dim=1)


def centre_coords(cy: torch.Tensor, cx: torch.Tensor, H: int, W: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full-res coordinates of each 8 x 8 patch: ys [N,8], xs [N,8] (clamped) and valid [N,1,8,8] (in-image)."""
    offs = torch.arange(PATCH, device=cy.device)
    ys = cy.unsqueeze(1) * PATCH + offs
    xs = cx.unsqueeze(1) * PATCH + offs
    valid = ((ys < H)[:, :, None] & (xs < W)[:, None, :]).unsqueeze(1)
    return ys.clamp(max=H - 1), xs.clamp(max=W - 1), valid


def gather_centres(img: torch.Tensor, cells: Cells) -> Tuple[torch.Tensor, torch.Tensor]:
    """Full-res pixels under each 8 x 8 patch [N,C,8,8] (clamped) and the in-image mask [N,1,8,8] (bool)."""
    b, cy, cx = cells
    ys, xs, valid = centre_coords(cy, cx, img.shape[2], img.shape[3])
    return gather_windows(img, b, ys, xs), valid


def paste_patches(full: torch.Tensor, values: torch.Tensor, cells: Cells) -> torch.Tensor:
    """Copy of full [B,C,H,W] with the in-image pixels of each 8 x 8 patch replaced by values [N,C,8,8]."""
    b, cy, cx = cells
    H, W = full.shape[2], full.shape[3]
    ys, xs, valid = centre_coords(cy, cx, H, W)
    n = b.shape[0]
    bb = b[:, None, None].expand(n, PATCH, PATCH)[valid[:, 0]]
    yy = ys[:, :, None].expand(n, PATCH, PATCH)[valid[:, 0]]
    xx = xs[:, None, :].expand(n, PATCH, PATCH)[valid[:, 0]]
    vals = values.permute(0, 2, 3, 1)[valid[:, 0]]  # [M, C]
    out = full.clone()
    out[bb, :, yy, xx] = vals.to(out.dtype)
    return out


def patch_changes(full: torch.Tensor, values: torch.Tensor, cells: Cells) -> torch.Tensor:
    """Mean |values - full| over each patch's in-image pixels [N] (alpha: full [B,1,H,W], values [N,1,8,8])."""
    cur, valid = gather_centres(full, cells)
    v = valid.to(values.dtype)
    return ((values - cur).abs() * v).sum(dim=(1, 2, 3)) / v.sum(dim=(1, 2, 3))


def grow_cells(cells: Cells, changes: torch.Tensor, min_change: float, refined: torch.Tensor, limit: int) -> Cells:
    """The engine's refine.grow step: the not yet refined 8-neighbours of every cell changed by more than
    min_change, neighbours of the most changed cells first, at most `limit`; marks them in `refined`
    [B, gh, gw] (bool, updated in place) and returns them sorted by (b, cy, cx)."""
    b, cy, cx = (t.tolist() for t in cells)
    _, gh, gw = refined.shape
    order = sorted((i for i in range(len(b)) if float(changes[i]) > min_change),
                   key=lambda i: (-float(changes[i]), b[i], cy[i], cx[i]))
    picked = []
    for i in order:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                y, x = cy[i] + dy, cx[i] + dx
                if len(picked) >= limit or not (0 <= y < gh and 0 <= x < gw) or bool(refined[b[i], y, x]):
                    continue
                refined[b[i], y, x] = True
                picked.append((b[i], y, x))
    picked.sort()
    dev = refined.device
    cols = list(zip(*picked)) if picked else ([], [], [])
    return tuple(torch.tensor(c, dtype=torch.long, device=dev) for c in cols)  # type: ignore[return-value]
