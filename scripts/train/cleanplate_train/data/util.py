"""Small numpy/PIL helpers shared by the synthesis modules. Images are float32 HxWx3 in 0..1, masks HxW 0..1."""
from __future__ import annotations

import io
from typing import Tuple

import numpy as np
from PIL import Image, ImageFilter

RESAMPLE = Image.Resampling


def clip01(x: np.ndarray) -> np.ndarray:
    """Clamps a float array to 0..1 in place (much faster than np.clip on numpy 1.x) and returns it."""
    np.maximum(x, 0.0, out=x)
    np.minimum(x, 1.0, out=x)
    return x


def to_pil_l(m: np.ndarray) -> Image.Image:
    """HxW float 0..1 -> PIL 'L'."""
    return Image.fromarray(to_u8(m))


def to_pil_rgb(x: np.ndarray) -> Image.Image:
    """HxWx3 float 0..1 -> PIL 'RGB'."""
    return Image.fromarray(to_u8(x))


def to_u8(x: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8 (rounded, clamped)."""
    y = x * np.float32(255.0)
    y += np.float32(0.5)
    np.maximum(y, 0.0, out=y)
    np.minimum(y, 255.0, out=y)
    return y.astype(np.uint8)


def from_pil(im: Image.Image) -> np.ndarray:
    """PIL image -> float32 array in 0..1 (HxW or HxWxC)."""
    return np.asarray(im, dtype=np.float32) * (1.0 / 255.0)


def blur(m: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur (PIL, 8-bit precision) of a 0..1 mask or RGB image."""
    if radius <= 0:
        return m
    im = to_pil_l(m) if m.ndim == 2 else to_pil_rgb(m)
    return from_pil(im.filter(ImageFilter.GaussianBlur(radius)))


def blur_fine(m: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a 0..1 mask keeping more precision: blurs a 16-bit-like split (hi, lo) in two 8-bit passes."""
    if radius <= 0:
        return m
    hi = np.floor(m * 255.0) / 255.0
    lo = (m - hi) * 255.0
    return blur(hi, radius) + blur(lo, radius) / 255.0


def resize(x: np.ndarray, size: Tuple[int, int], resample: int = RESAMPLE.BILINEAR) -> np.ndarray:
    """Resize float image/mask to size=(w, h) via 8-bit PIL."""
    im = to_pil_l(x) if x.ndim == 2 else to_pil_rgb(x)
    return from_pil(im.resize(size, resample))


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int = 1) -> np.ndarray:
    """Low-frequency noise in 0..1: a random (cells x cells) grid upsampled bilinearly to h x w."""
    gh, gw = max(2, cells), max(2, int(round(cells * w / max(h, 1))))
    shape = (gh, gw) if channels == 1 else (gh, gw, channels)
    g = rng.random(shape).astype(np.float32)
    im = Image.fromarray((g * 255).astype(np.uint8))
    return np.asarray(im.resize((w, h), RESAMPLE.BILINEAR), dtype=np.float32) * np.float32(1.0 / 255.0)


def jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of an HxWx3 uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format='JPEG', quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert('RGB'))


def grid(h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinate grids yy, xx (float32, HxW)."""
    return np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing='ij')


def random_colour(rng: np.random.Generator, tone: str = 'any') -> np.ndarray:
    """An RGB colour: 'white', 'black', 'grey', 'skin', 'pastel' or 'any' (saturated or muted)."""
    if tone == 'white':
        return np.clip(rng.uniform(0.86, 0.97) + rng.normal(0, 0.015, 3), 0, 1).astype(np.float32)
    if tone == 'black':
        return np.clip(rng.uniform(0.03, 0.12) + rng.normal(0, 0.01, 3), 0, 1).astype(np.float32)
    if tone == 'grey':
        return np.clip(rng.uniform(0.3, 0.75) + rng.normal(0, 0.01, 3), 0, 1).astype(np.float32)
    if tone == 'skin':
        base = np.array([0.85, 0.66, 0.52], np.float32) * rng.uniform(0.45, 1.08)
        return np.clip(base + rng.normal(0, 0.03, 3), 0, 1).astype(np.float32)
    if tone == 'pastel':
        return np.clip(0.75 + 0.2 * rng.random(3), 0, 1).astype(np.float32)
    c = rng.random(3).astype(np.float32)
    if rng.random() < 0.5:  # muted
        c = 0.5 * c + 0.5 * c.mean()
    return clip01(c * rng.uniform(0.3, 1.0) + rng.uniform(0, 0.2))
