"""Device-side, batched capture perturbations (cheap on the GPU, seeded by a torch.Generator).

Inputs/outputs are float tensors [B,3,H,W] in 0..1 on the training device.
  * residual misalignment of the plate: rotation <= maxRotDeg and shift <= maxShiftPx (bilinear, border
    replicate), applied after JPEG like the aligner would; ~20% of the plates stay exactly aligned
  * plate exposure x per-channel white-balance gain and offset
  * independent sensor noise on shot and plate (signal dependent), sigma ~ U(noiseSigma)
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch
import torch.nn.functional as F


def _u(gen: torch.Generator, shape: Tuple[int, ...], lo: float, hi: float, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo


def misalign(plate: torch.Tensor, gen: torch.Generator, max_shift_px: float, max_rot_deg: float) -> torch.Tensor:
    """Random rigid warp of each plate (about the image centre); 20% of the batch is left untouched."""
    B, _, H, W = plate.shape
    dev = plate.device
    if max_shift_px <= 0 and max_rot_deg <= 0:
        return plate
    keep = torch.rand((B,), generator=gen, device=dev) < 0.2
    th = _u(gen, (B,), -1, 1, dev) * math.radians(max_rot_deg)
    dx = _u(gen, (B,), -max_shift_px, max_shift_px, dev)
    dy = _u(gen, (B,), -max_shift_px, max_shift_px, dev)
    th, dx, dy = [torch.where(keep, torch.zeros_like(v), v) for v in (th, dx, dy)]
    c, s = torch.cos(th), torch.sin(th)
    # normalised coordinates (align_corners=False): x_n = (2x + 1)/W - 1; rotation in pixel space
    theta = torch.stack([
        torch.stack([c, -s * H / W, 2 * dx / W], dim=1),
        torch.stack([s * W / H, c, 2 * dy / H], dim=1),
    ], dim=1).to(plate.dtype)
    grid = F.affine_grid(theta, list(plate.shape), align_corners=False)
    return F.grid_sample(plate, grid, mode='bilinear', padding_mode='border', align_corners=False)


def perturb(shot: torch.Tensor, plate: torch.Tensor, gen: torch.Generator, cfg: Dict[str, Any],
            shift_scale: float = 1.0, noise_scale: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Applies misalignment, plate gains and sensor noise (see module docstring); returns (shot, plate).
    shift_scale / noise_scale shrink the misalignment / noise (the base stage works on downscaled frames)."""
    B = shot.shape[0]
    dev = shot.device
    plate = misalign(plate, gen, cfg['maxShiftPx'] * shift_scale, cfg['maxRotDeg'] * shift_scale)
    g0, g1 = cfg['gain']
    o0, o1 = cfg['offset']
    gain = _u(gen, (B, 1, 1, 1), g0, g1, dev) * _u(gen, (B, 3, 1, 1), 0.97, 1.03, dev)
    plate = plate * gain + _u(gen, (B, 1, 1, 1), o0, o1, dev)
    n0, n1 = [v * noise_scale for v in cfg['noiseSigma']]
    for_shot = _u(gen, (B, 1, 1, 1), n0, n1, dev)
    for_plate = _u(gen, (B, 1, 1, 1), n0, n1, dev)
    shot = shot + torch.randn(shot.shape, generator=gen, device=dev) * for_shot * (0.4 + 0.6 * shot.clamp(0, 1).sqrt())
    plate = plate + torch.randn(plate.shape, generator=gen, device=dev) * for_plate * (0.4 + 0.6 * plate.clamp(0, 1).sqrt())
    return shot.clamp(0, 1), plate.clamp(0, 1)
