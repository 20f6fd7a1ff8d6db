"""Reference inference (PyTorch) following docs/neural-contract.md: base at low resolution, refiner on selected patches.

This mirrors what the TypeScript engine does with the ONNX files; used by evaluation and fine-tuning checks.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F

from .model import patches as P
from .model.base import BaseNet
from .model.refiner import Refiner

BASE_MULTIPLE = 16


def base_size(H: int, W: int, long_side: int) -> Tuple[int, int]:
    """Base-network size for a full-res H x W image: long side ~long_side, both multiples of 16 (>= 16)."""
    s = min(1.0, long_side / max(H, W))
    return (max(BASE_MULTIPLE, int(round(H * s / BASE_MULTIPLE)) * BASE_MULTIPLE),
            max(BASE_MULTIPLE, int(round(W * s / BASE_MULTIPLE)) * BASE_MULTIPLE))


def downscale(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Area-like downscale (bilinear with antialiasing) of [B,C,H,W] to size; plain bilinear when enlarging."""
    if size[0] < x.shape[2] or size[1] < x.shape[3]:
        return F.interpolate(x, size=size, mode='bilinear', align_corners=False, antialias=True)
    return P.upsample(x, size)


@torch.no_grad()
def matte(base: BaseNet, refiner: Refiner, shot: torch.Tensor, plate: torch.Tensor, base_long_side: int = 512,
          mode: str = 'budget', pixel_budget: float = 0.08, threshold: float = 0.1,
          use_refiner: bool = True, flip_average: bool = False, grow_rounds: int = 0, grow_min_change: float = 0.05,
          grow_max_patches: int = 1024) -> Dict[str, torch.Tensor]:
    """Mattes full-res shot/plate [1,3,H,W] (0..1). Returns alpha [1,1,H,W], foreground [1,3,H,W] (0..1),
    coarse_alpha (upsampled base alpha) and the number of refined patches ('patches', 0-d tensor).
    flip_average: the engine's `engine.neural.flipAverage` (base also run on the mirrored pair; alpha, residual
    and error averaged with the mirrored-back outputs; hidden features from the unmirrored run).
    grow_*: the engine's `engine.neural.refine.grow` (after each refiner pass, the unrefined neighbours of the
    patches it changed by more than grow_min_change are refined next, for grow_rounds rounds, at most
    grow_max_patches in all; changes measured in float here, on 8-bit alpha in the engine)."""
    H, W = shot.shape[2], shot.shape[3]
    hs, ws = base_size(H, W, base_long_side)
    shot_l, plate_l = downscale(shot, (hs, ws)), downscale(plate, (hs, ws))
    alpha_l, fgr_l, err_l, hid_l = base(shot_l, plate_l)
    if flip_average:
        m_alpha, m_fgr, m_err, _ = base(shot_l.flip(3), plate_l.flip(3))
        alpha_l, fgr_l, err_l = ((a + m.flip(3)) / 2 for a, m in ((alpha_l, m_alpha), (fgr_l, m_fgr), (err_l, m_err)))
    alpha = P.upsample(alpha_l, (H, W))
    fgr_res = P.upsample(fgr_l, (H, W))
    coarse = alpha
    n = 0
    if use_refiner:
        ce = P.cell_error(err_l, H, W)
        cells = P.select_top_k(ce, P.budget_k(H, W, pixel_budget)) if mode == 'budget' else P.select_threshold(ce, threshold)
        n = int(cells[0].numel())
        refined = torch.zeros(ce.shape[0], ce.shape[2], ce.shape[3], dtype=torch.bool, device=ce.device)
        refined[cells] = True
        grown = 0
        for r in range(grow_rounds + 1):
            if cells[0].numel() == 0:
                break
            ra, rf = refiner(P.extract_patches(shot, plate, alpha_l, fgr_l, hid_l, cells))
            changes = P.patch_changes(alpha, ra, cells)
            alpha = P.paste_patches(alpha, ra, cells)
            fgr_res = P.paste_patches(fgr_res, rf, cells)
            if r == grow_rounds:
                break
            cells = P.grow_cells(cells, changes, grow_min_change, refined, grow_max_patches - grown)
            grown += int(cells[0].numel())
        n += grown
    return {'alpha': alpha, 'foreground': (shot + fgr_res).clamp(0, 1), 'coarse_alpha': coarse,
            'patches': torch.tensor(n)}
