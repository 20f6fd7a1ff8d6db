"""Losses (BGMv2): alpha L1 + Sobel-gradient L1, foreground L1 where alpha > 0, error-map MSE; plus alpha MSE
('alphaMse', the score `cleanplate eval` reports; weight 0 by default, so it is logged but not trained on).

All inputs float32 [B,C,H,W]; `weight` [B,1,H,W] in 0..1 masks pixels out (confidence, in-image patch pixels).
"""
from __future__ import annotations

from typing import Dict, Optional

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


def matting_losses(alpha: torch.Tensor, fgr: torch.Tensor, gt_alpha: torch.Tensor, gt_fgr: torch.Tensor,
                   weight: Optional[torch.Tensor] = None, fgr_weight: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """{'alpha', 'alphaMse', 'grad', 'fgr'}: fgr is compared where gt_alpha > 0 (times fgr_weight when given)."""
    out = {
        'alpha': _wmean((alpha - gt_alpha).abs(), weight),
        'alphaMse': _wmean((alpha - gt_alpha) ** 2, weight),
        'grad': _wmean((sobel(alpha) - sobel(gt_alpha)).abs(), weight),
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


# Weight of a part that a weights dict does not name: 1, except the alpha MSE, which is only monitored.
_DEFAULT_WEIGHT = {'alphaMse': 0.0}


def combine(parts: Dict[str, torch.Tensor], weights: Dict[str, float]) -> torch.Tensor:
    """Weighted sum of the named loss parts (missing weights count 1, alphaMse 0)."""
    total = None
    for k, v in parts.items():
        t = v * float(weights.get(k, _DEFAULT_WEIGHT.get(k, 1.0)))
        total = t if total is None else total + t
    assert total is not None
    return total
