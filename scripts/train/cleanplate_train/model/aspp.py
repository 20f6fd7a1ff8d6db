"""Atrous spatial pyramid pooling (DeepLabv3) with depthwise-separable dilated branches.

Input  x [B, cin, h/16, w/16]; output [B, cout, h/16, w/16] (>= 0, after ReLU).
Branches: 1x1 conv, one separable 3x3 conv per dilation rate, and global average pooling (broadcast back).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _bn_relu(c: int) -> List[nn.Module]:
    return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]


class ASPP(nn.Module):
    """DeepLabv3 ASPP; separable branches keep the parameter count small (see module docstring for shapes)."""

    def __init__(self, cin: int, cout: int, rates: Sequence[int] = (3, 6, 9)) -> None:
        super().__init__()
        branches: List[nn.Module] = [nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), *_bn_relu(cout))]
        for r in rates:
            branches.append(nn.Sequential(
                nn.Conv2d(cin, cin, 3, padding=r, dilation=r, groups=cin, bias=False),
                nn.Conv2d(cin, cout, 1, bias=False), *_bn_relu(cout)))
        self.branches = nn.ModuleList(branches)
        # image pooling branch: no BatchNorm (a 1x1 map per image makes batch statistics unreliable)
        self.pool_conv = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(cout * (len(rates) + 2), cout, 1, bias=False), *_bn_relu(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        pooled = self.pool_conv(F.adaptive_avg_pool2d(x, 1))
        outs.append(pooled.expand(-1, -1, x.shape[2], x.shape[3]))
        return self.project(torch.cat(outs, dim=1))
