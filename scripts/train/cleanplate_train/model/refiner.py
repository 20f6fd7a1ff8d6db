"""Refiner: recomputes selected 8x8 patches at full resolution from 16x16 context windows (docs/neural-contract.md).

Input  patches [N, 42, 16, 16]: 0-2 shot, 3-5 plate (full-res pixels), 6 coarse alpha, 7-9 coarse fgr_res,
       10-41 hidden (base outputs bilinearly upsampled to full resolution).
Output alpha [N, 1, 8, 8] 0..1, fgr_res [N, 3, 8, 8]; output pixel (i, j) is window pixel (i + 4, j + 4).
Network: four 'valid' 3x3 convs (16 -> 14 -> 12 -> 10 -> 8) predicting a residual on the coarse values at the
patch centre (the last conv starts at zero, so an untrained refiner returns the coarse values).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Tuple

import torch
from torch import nn

PATCH_CHANNELS = 42


@dataclass
class RefinerConfig:
    """Widths of the three hidden valid convolutions."""
    channels: List[int] = field(default_factory=lambda: [64, 48, 32])

    @staticmethod
    def from_dict(d: Dict) -> 'RefinerConfig':
        """Builds a config from a (possibly partial) dict."""
        return RefinerConfig(**{k: v for k, v in d.items() if k in RefinerConfig.__dataclass_fields__})

    def to_dict(self) -> Dict:
        """Plain-dict form (JSON-able)."""
        return asdict(self)


class Refiner(nn.Module):
    """See the module docstring. Internally adds shot - plate as 3 extra channels (45 into the first conv)."""

    def __init__(self, cfg: RefinerConfig = RefinerConfig(), zero_init_out: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        c1, c2, c3 = cfg.channels

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.body = nn.Sequential(block(PATCH_CHANNELS + 3, c1), block(c1, c2), block(c2, c3))
        self.out = nn.Conv2d(c3, 4, 3)
        if zero_init_out:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, patches: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([patches, (patches[:, 0:3] - patches[:, 3:6]) * 2.0], dim=1)
        y = self.out(self.body(x))
        centre = patches[:, 6:10, 4:12, 4:12]
        alpha = (centre[:, 0:1] + y[:, 0:1]).clamp(0.0, 1.0)
        fgr_res = centre[:, 1:4] + y[:, 1:4]
        return alpha, fgr_res
