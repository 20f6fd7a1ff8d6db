"""MobileNetV2-style encoder with a width multiplier and output stride 16.

Input  x [B, Cin, h, w] (h, w multiples of 16), any range (the base network feeds normalised images).
Output features (x1, x2, x3, x4):
  x1 [B, c(16),  h/2,  w/2]
  x2 [B, c(24),  h/4,  w/4]
  x3 [B, c(32),  h/8,  w/8]
  x4 [B, c(320), h/16, w/16]   (the last two stages are dilated instead of strided, as in BGMv2/DeepLabv3)
where c(n) = make_divisible(n * width, 8).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

# (expansion t, channels c, repeats n, stride s) as in MobileNetV2; stages after stride 16 use dilation 2 instead.
MOBILENET_V2_STAGES: Tuple[Tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Rounds a channel count to a multiple of `divisor` (never below 90% of v), as torchvision does."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Sequential:
    """k x k convolution ('same' padding) + BatchNorm + ReLU6."""
    pad = (k - 1) // 2 * dilation
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand -> 3x3 depthwise (stride/dilation) -> 1x1 linear projection (+ skip)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, dilation: int = 1) -> None:
        super().__init__()
        hidden = int(round(cin * expand))
        layers: List[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn_relu(cin, hidden, 1))
        layers += [
            conv_bn_relu(hidden, hidden, 3, stride=stride, groups=hidden, dilation=dilation),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_skip else y


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 feature extractor (no classifier), output stride 16; see the module docstring for shapes.

    Args:
        in_ch: input channels.
        width: width multiplier (1.0 = MobileNetV2; 0.25 for the tiny test model).
        depth: repeat multiplier per stage (1.0 = MobileNetV2; lower values keep >= 1 block per stage).
    """

    def __init__(self, in_ch: int, width: float = 1.0, depth: float = 1.0,
                 stages: Sequence[Tuple[int, int, int, int]] = MOBILENET_V2_STAGES) -> None:
        super().__init__()
        cin = make_divisible(32 * width)
        self.stem = conv_bn_relu(in_ch, cin, 3, stride=2)
        blocks: List[nn.Module] = []
        stride_so_far, dilation = 2, 1
        # indices (into blocks) whose outputs are x1, x2, x3; x4 is the last block
        self.tap_after: List[int] = []
        for t, c, n, s in stages:
            cout = make_divisible(c * width)
            reps = max(1, int(round(n * depth)))
            for i in range(reps):
                stride, block_dilation = (s if i == 0 else 1), dilation
                if stride == 2 and stride_so_far >= 16:
                    # keep output stride 16: this block stays on the grid, the following ones are dilated
                    stride, dilation = 1, dilation * 2
                elif stride == 2:
                    stride_so_far *= 2
                blocks.append(InvertedResidual(cin, cout, stride, t, block_dilation))
                cin = cout
            if c in (16, 24, 32):
                self.tap_after.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.channels = (make_divisible(16 * width), make_divisible(24 * width), make_divisible(32 * width), cin)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        feats: List[torch.Tensor] = []
        x = self.stem(x)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.tap_after:
                feats.append(x)
        return feats[0], feats[1], feats[2], x
