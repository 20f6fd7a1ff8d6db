"""Base network (BGMv2 base): one forward at low resolution on a shot + plate pair.

Inputs  shot  [B, 3, h, w] RGB 0..1, plate [B, 3, h, w] RGB 0..1; h, w multiples of 16.
Outputs (all [B, *, h, w], see docs/neural-contract.md):
  alpha   [B, 1]  0..1   coarse alpha (clamped)
  fgr_res [B, 3]  ~-1..1 foreground residual: foreground = clamp(shot + fgr_res, 0, 1)
  error   [B, 1]  0..1   predicted |alpha error| (clamped), drives patch selection
  hidden  [B, 32] >= 0   ReLU features for the refiner
Internally the encoder sees 9 channels: shot, plate and shot - plate (the ONNX interface stays 2 x RGB).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Tuple

import torch
from torch import nn

from .aspp import ASPP
from .decoder import Decoder
from .encoder import MobileNetV2Encoder

HIDDEN_CHANNELS = 32


@dataclass
class BaseConfig:
    """Widths of the base network. width/depth scale the MobileNetV2 encoder."""
    width: float = 1.0
    depth: float = 1.0
    aspp_channels: int = 128
    aspp_rates: List[int] = field(default_factory=lambda: [3, 6, 9])
    decoder_channels: List[int] = field(default_factory=lambda: [128, 64, 48])

    @staticmethod
    def from_dict(d: Dict) -> 'BaseConfig':
        """Builds a config from a (possibly partial) dict with the field names above."""
        return BaseConfig(**{k: v for k, v in d.items() if k in BaseConfig.__dataclass_fields__})

    def to_dict(self) -> Dict:
        """Plain-dict form (JSON-able)."""
        return asdict(self)


class BaseNet(nn.Module):
    """Encoder -> ASPP -> decoder; outputs (alpha, fgr_res, error, hidden) as in the module docstring."""

    IN_CHANNELS = 9

    def __init__(self, cfg: BaseConfig = BaseConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = MobileNetV2Encoder(self.IN_CHANNELS, cfg.width, cfg.depth)
        c1, c2, c3, c4 = self.encoder.channels
        self.aspp = ASPP(c4, cfg.aspp_channels, cfg.aspp_rates)
        self.decoder = Decoder((cfg.aspp_channels, c3, c2, c1, self.IN_CHANNELS),
                               list(cfg.decoder_channels) + [1 + 3 + 1 + HIDDEN_CHANNELS])

    def forward(self, shot: torch.Tensor, plate: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.cat([shot - 0.5, plate - 0.5, (shot - plate) * 2.0], dim=1) * 2.0
        x1, x2, x3, x4 = self.encoder(x)
        y = self.decoder(self.aspp(x4), x3, x2, x1, x)
        alpha = y[:, 0:1].clamp(0.0, 1.0)
        fgr_res = y[:, 1:4]
        error = y[:, 4:5].clamp(0.0, 1.0)
        hidden = torch.relu(y[:, 5:])
        return alpha, fgr_res, error, hidden
