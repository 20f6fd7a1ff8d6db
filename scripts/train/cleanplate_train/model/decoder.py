"""BGMv2 decoder: upsample x2 and fuse with the encoder skip at each scale, down to the base input resolution.

Inputs  x4 [B, c4, h/16, w/16] (ASPP output), x3 [B, c3, h/8, w/8], x2 [B, c2, h/4, w/4], x1 [B, c1, h/2, w/2],
        x0 [B, c0, h, w] (the network input itself).
Output  [B, channels[-1], h, w], raw (no activation); the base network splits it into alpha/fgr/error/hidden.
All upsampling is bilinear with align_corners=False (ONNX Resize, half_pixel).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode='bilinear', align_corners=False)


class Decoder(nn.Module):
    """Four fuse stages (3x3 conv on [upsampled, skip]); the last stage has no BatchNorm/ReLU."""

    def __init__(self, in_channels: Sequence[int], channels: Sequence[int]) -> None:
        """in_channels: (c4, c3, c2, c1, c0); channels: output width of each of the four stages."""
        super().__init__()
        c4, c3, c2, c1, c0 = in_channels
        d1, d2, d3, d4 = channels

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.stage1 = block(c4 + c3, d1)
        self.stage2 = block(d1 + c2, d2)
        self.stage3 = block(d2 + c1, d3)
        self.stage4 = nn.Conv2d(d3 + c0, d4, 3, padding=1)

    def forward(self, x4: torch.Tensor, x3: torch.Tensor, x2: torch.Tensor, x1: torch.Tensor,
                x0: torch.Tensor) -> torch.Tensor:
        x = self.stage1(torch.cat([_up(x4, x3), x3], dim=1))
        x = self.stage2(torch.cat([_up(x, x2), x2], dim=1))
        x = self.stage3(torch.cat([_up(x, x1), x1], dim=1))
        return self.stage4(torch.cat([_up(x, x0), x0], dim=1))
