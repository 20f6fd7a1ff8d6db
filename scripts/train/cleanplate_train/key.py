"""A small classical difference key (numpy + PIL) with a confidence mask, for pseudo-labels and baselines.

shot, plate: float32 HxWx3 in 0..1 (aligned). The key measures the colour distance |shot - plate| in units
of the estimated noise sigma: alpha = clamp((d - lo) / (hi - lo), 0, 1). Confident pixels are those the
noise cannot explain either way: background where d < bgSigma and no foreground within `margin` px,
foreground where the key is 1 and stays 1 after shrinking the region by `margin` px.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
from PIL import Image, ImageFilter

from .data.util import from_pil, to_pil_l


def noise_sigma(shot: np.ndarray, plate: np.ndarray) -> float:
    """Robust noise sigma of shot - plate (see diff_sigma)."""
    return diff_sigma(shot - plate)


def diff_sigma(diff: np.ndarray) -> float:
    """Robust noise sigma of a difference image HxWx3: the 15th percentile of |diff| (per channel, over a
    subsample) / 0.189, the Gaussian ratio; robust while >= ~20% of the frame is unchanged background."""
    d = np.abs(diff[::3, ::3].reshape(-1, 3))
    q = np.quantile(d, 0.15, axis=0) / 0.189
    return float(max(np.mean(q), 0.5 / 255.0))


def _box_grow(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by ~r pixels (box blur > 0)."""
    if r <= 0:
        return mask
    im = to_pil_l(mask.astype(np.float32)).filter(ImageFilter.BoxBlur(r))
    return np.asarray(im) > 0


def box3(x: np.ndarray) -> np.ndarray:
    """3 x 3 mean filter (edge replicate), float precision."""
    p = np.pad(x, ((1, 1), (1, 1)) + ((0, 0),) * (x.ndim - 2), mode='edge')
    h, w = x.shape[:2]
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += p[dy:dy + h, dx:dx + w]
    return out / np.float32(9.0)


def difference_key(shot: np.ndarray, plate: np.ndarray, lo: float = 4.0, hi: float = 10.0,
                   smooth: bool = True) -> Tuple[np.ndarray, np.ndarray, float]:
    """(alpha HxW 0..1, normalised distance HxW in sigmas, sigma) of the difference key.
    smooth: 3 x 3 mean of the difference first (the sigma is then measured on the smoothed difference)."""
    diff = (shot - plate).astype(np.float32)
    sigma = diff_sigma(diff)
    sigma_eff = sigma
    if smooth:
        diff = box3(diff)
        sigma_eff = diff_sigma(diff)
    d = np.sqrt((diff ** 2).sum(axis=2) / 3.0) / sigma_eff
    alpha = np.clip((d - lo) / (hi - lo), 0, 1).astype(np.float32)
    return alpha, d.astype(np.float32), sigma


def pseudo_labels(shot: np.ndarray, plate: np.ndarray, margin: int = 6, bg_sigma: float = 2.5,
                  lo: float = 4.0, hi: float = 10.0) -> Dict[str, np.ndarray]:
    """{'alpha': 0/1 pseudo alpha, 'weight': 1 where confident, 'key': the soft key alpha} (float32 HxW)."""
    key, d, _ = difference_key(shot, plate, lo, hi)
    fg = key >= 1.0
    near_fg = _box_grow(d > lo, margin)
    conf_bg = (d < bg_sigma) & ~near_fg
    conf_fg = ~_box_grow(~fg, margin)
    alpha = conf_fg.astype(np.float32)
    weight = (conf_bg | conf_fg).astype(np.float32)
    return {'alpha': alpha, 'weight': weight, 'key': key}


def load_rgb(path: str, max_side: int = 0) -> np.ndarray:
    """Image file -> float32 HxWx3 0..1 (EXIF orientation ignored: shot and plate are treated identically)."""
    im = Image.open(path).convert('RGB')
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
    return from_pil(im)
