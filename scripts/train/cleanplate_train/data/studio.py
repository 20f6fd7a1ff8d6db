"""Studio scenes: seamless-paper backdrops, mannequin-like forms, photo backgrounds.

All functions return float32 arrays in 0..1: images HxWx3, masks HxW. A `Figure` fixes where the mannequin
stands; garments are cut to the same figure so they sit on the mannequin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .util import RESAMPLE, clip01, from_pil, random_colour, smooth_noise
from PIL import Image

# mannequin half-width profile: t = (y - neck_y) / scale  ->  half width / scale (shoulder/waist/hip filled in)
_PROFILE_T = np.array([-0.20, 0.0, 0.04, 0.10, 0.16, 0.35, 0.62, 0.95, 1.04, 1.08], np.float32)


@dataclass
class Figure:
    """Mannequin placement in pixels: centre column, neck base row, torso height (neck to hip) and proportions."""
    cx: float
    neck_y: float
    scale: float
    shoulder: float  # half widths relative to scale
    waist: float
    hip: float

    def profile(self) -> np.ndarray:
        """Half width / scale at the rows of _PROFILE_T."""
        s, w, h = self.shoulder, self.waist, self.hip
        return np.array([0.085, 0.09, 0.2, s * 0.92, s, s * 0.9, w, h, h * 0.9, 0.0], np.float32)

    def half_width(self, y: np.ndarray) -> np.ndarray:
        """Torso half width in pixels at rows y (0 above the neck top and below the hips)."""
        t = (y - self.neck_y) / self.scale
        hw = np.interp(t, _PROFILE_T, self.profile(), left=0.0, right=0.0)
        return hw * self.scale

    def y_at(self, t: float) -> float:
        """Row of relative height t (0 = neck base, 1 = hip line)."""
        return self.neck_y + t * self.scale


def random_figure(rng: np.random.Generator, h: int, w: int, zoom: Tuple[float, float] = (0.35, 0.7)) -> Figure:
    """A figure whose torso height is zoom * h; zoomed-in figures are shifted so an edge stays in view."""
    scale = rng.uniform(*zoom) * h
    cx = w * 0.5 + rng.normal(0, 0.08) * w
    neck_y = h * rng.uniform(0.05, 0.25)
    if scale > 0.8 * h:  # zoomed in (refiner crops): put a side edge or the neck near the middle
        side = rng.choice([-1.0, 1.0])
        cx = w * 0.5 - side * rng.uniform(0.15, 0.5) * scale
        neck_y = h * 0.5 - rng.uniform(-0.3, 1.2) * scale
    return Figure(cx, neck_y, scale, rng.uniform(0.42, 0.55), rng.uniform(0.27, 0.35), rng.uniform(0.34, 0.44))


def backdrop(rng: np.random.Generator, h: int, w: int, tone: str) -> np.ndarray:
    """Seamless paper: wall/floor sweep, vertical gradient, vignetting and faint paper texture."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    c = random_colour(rng, tone)
    floor = clip01((c * rng.uniform(0.85, 1.1) + rng.normal(0, 0.01, 3)).astype(np.float32))
    horizon = h * rng.uniform(0.55, 1.2)
    width = h * rng.uniform(0.05, 0.3)
    s = clip01((ys - horizon) / width * 0.5 + 0.5)
    s = s * s * (3 - 2 * s)                                            # [h,1]
    col = c[None, :] * (1 - s) + floor[None, :] * s                    # [h,3] per-row colour
    vx, vy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)
    k = rng.uniform(0.0, 0.45)
    row = 1.0 + rng.uniform(-0.12, 0.12) * (ys / h - 0.5) - k * ((ys - vy) / h) ** 2   # [h,1]
    colx = rng.uniform(-0.08, 0.08) * (xs / w - 0.5) - k * ((xs - vx) / w) ** 2        # [1,w]
    paper = (1.0 + rng.uniform(0.0, 0.04) * (smooth_noise(rng, h, w, int(rng.integers(4, 24))) - 0.5)) + colx
    img = col[:, None, :] * (paper * row)[..., None]
    return clip01(img.astype(np.float32))


def mannequin(rng: np.random.Generator, fig: Figure, h: int, w: int, tone: str) -> Tuple[np.ndarray, np.ndarray]:
    """A shaded torso form with neck and stand pole: (colour HxWx3, mask HxW with 1-px anti-aliased edges).
    Only the columns the form can cover are computed."""
    ys = np.arange(h, dtype=np.float32)[:, None]
    hip_end = fig.y_at(1.08)
    pole_w = max(1.5, 0.02 * fig.scale)
    hw = np.maximum(fig.half_width(ys), (ys > hip_end - 2) * pole_w).astype(np.float32)     # [h,1]
    is_pole = (ys > hip_end - 2) & (fig.half_width(ys) < pole_w)
    col_out = np.zeros((h, w, 3), np.float32)
    mask_out = np.zeros((h, w), np.float32)
    x0 = int(max(0, np.floor(fig.cx - hw.max() - 2)))
    x1 = int(min(w, np.ceil(fig.cx + hw.max() + 2)))
    c = random_colour(rng, tone)
    lx = rng.uniform(-0.7, 0.7)
    amb = rng.uniform(0.35, 0.6)
    spec = rng.uniform(0, 0.25)
    pole_grey = np.float32(rng.uniform(0.4, 1.0))
    tex_amp = rng.uniform(0, 0.03)
    if x1 <= x0:
        return col_out, mask_out
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    d = np.abs(xs - fig.cx)
    mask = clip01(hw - d + 0.5)
    u = np.clip((xs - fig.cx) / np.maximum(hw, 1e-3), -1, 1)
    nz = np.sqrt(1 - u * u)
    diffuse = clip01((u * lx + nz) / np.float32(np.sqrt(lx * lx + 1)))
    shade = amb + (1 - amb) * diffuse + spec * diffuse ** 12
    col = c[None, None, :] * shade[..., None]
    col = np.where(is_pole[..., None], (0.25 + 0.5 * nz[..., None]) * pole_grey, col)
    col += tex_amp * (smooth_noise(rng, h, x1 - x0, 16)[..., None] - 0.5)
    col_out[:, x0:x1] = clip01(col.astype(np.float32))
    mask_out[:, x0:x1] = mask
    return col_out, mask_out


def photo_background(rng: np.random.Generator, photo: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random crop of a photo (uint8 HxWx3) scaled to cover h x w, random flip, mild colour change."""
    ph, pw = photo.shape[:2]
    s = max(h / ph, w / pw) * rng.uniform(1.0, 1.8)
    ch, cw = min(ph, int(np.ceil(h / s))), min(pw, int(np.ceil(w / s)))
    y0 = int(rng.integers(0, ph - ch + 1))
    x0 = int(rng.integers(0, pw - cw + 1))
    im = Image.fromarray(photo[y0:y0 + ch, x0:x0 + cw]).resize((w, h), RESAMPLE.BILINEAR)
    x = from_pil(im)
    if rng.random() < 0.5:
        x = x[:, ::-1]
    x = x * rng.uniform(0.8, 1.15, 3).astype(np.float32)[None, None, :]
    return clip01(x.astype(np.float32))
