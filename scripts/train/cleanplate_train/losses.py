"""Losses (BGMv2): alpha L1 + Sobel-gradient L1, foreground L1 where alpha > 0, error-map MSE; plus two terms that
are logged but weighted 0 unless a config names them:
- 'alphaMse': alpha MSE, the score `cleanplate eval` reports;
- 'solid': class-balanced alpha L1 on the solid inside of the subject and of the backdrop (target alpha 1 or 0 with
  no other value within SOLID_RADIUS px), the mean of the two classes' errors. The MSE term alone lets a network
  hedge (alpha 0.6-0.9) inside subjects whose colour is close to the plate's; this term makes each solid class
  count the same whatever its area, and L1 favours a decisive answer over the squared error's mean.

All inputs float32 [B,C,H,W]; `weight` [B,1,H,W] in 0..1 masks pixels out (confidence, in-image patch pixels).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel responses of a 1-channel map: [B,2,H,W] (replicate padding)."""
    k = torch.stack([_SOBEL, _SOBEL.t()]).unsqueeze(1).to(x.device, x.dtype)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), k)


def _wmean(x: torch.Tensor, w: Optional[torch.Tensor]) -> torch.Tensor:
    if w is None:
        return x.mean()
    w = w.expand_as(x)
    return (x * w).sum() / w.sum().clamp(min=1.0)


SOLID_RADIUS = 4


def solid_masks(gt_alpha: torch.Tensor, radius: int = SOLID_RADIUS) -> Tuple[torch.Tensor, torch.Tensor]:
    """(inside, outside) float masks [B,1,H,W]: target alpha >= 0.99 (<= 0.01) in the whole (2r+1)² window
    (replicate padding, so an image border does not count as an edge)."""
    k = 2 * radius + 1
    pad = (radius, radius, radius, radius)
    not_in = (gt_alpha < 0.99).to(gt_alpha.dtype)
    not_out = (gt_alpha > 0.01).to(gt_alpha.dtype)
    inside = 1.0 - F.max_pool2d(F.pad(not_in, pad, mode='replicate'), k, stride=1)
    outside = 1.0 - F.max_pool2d(F.pad(not_out, pad, mode='replicate'), k, stride=1)
    return inside, outside


def matting_losses(alpha: torch.Tensor, fgr: torch.Tensor, gt_alpha: torch.Tensor, gt_fgr: torch.Tensor,
                   weight: Optional[torch.Tensor] = None, fgr_weight: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """{'alpha', 'alphaMse', 'grad', 'solid', 'fgr'}: fgr is compared where gt_alpha > 0 (times fgr_weight when
    given)."""
    inside, outside = solid_masks(gt_alpha)
    if weight is not None:
        inside, outside = inside * weight, outside * weight
    out = {
        'alpha': _wmean((alpha - gt_alpha).abs(), weight),
        'alphaMse': _wmean((alpha - gt_alpha) ** 2, weight),
        'grad': _wmean((sobel(alpha) - sobel(gt_alpha)).abs(), weight),
        'solid': 0.5 * (_wmean((1.0 - alpha).abs(), inside) + _wmean(alpha.abs(), outside)),
    }
    fw = (gt_alpha > 0).to(alpha.dtype)
    if weight is not None:
        fw = fw * weight
    if fgr_weight is not None:
        fw = fw * fgr_weight
    out['fgr'] = _wmean((fgr - gt_fgr).abs(), fw)
    return out


def error_loss(err: torch.Tensor, target: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """MSE between the predicted error map and the (detached) actual |alpha error|."""
    return _wmean((err - target.detach()) ** 2, weight)


# Weight of a part that a weights dict does not name: 1, except the alpha MSE and solid terms, only monitored.
_DEFAULT_WEIGHT = {'alphaMse': 0.0, 'solid': 0.0}


def combine(parts: Dict[str, torch.Tensor], weights: Dict[str, float]) -> torch.Tensor:
    """Weighted sum of the named loss parts (missing weights count 1, alphaMse and solid 0)."""
    total = None
    for k, v in parts.items():
        t = v * float(weights.get(k, _DEFAULT_WEIGHT.get(k, 1.0)))
        total = t if total is None else total + t
    assert total is not None
    return total
