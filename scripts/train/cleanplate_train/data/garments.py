"""Procedural garments with alpha: tops, dresses, skirts and scarves cut to a mannequin `Figure`, with cloth
textures (knit, weave, stripes, prints, plain) and the hard matting cases of apparel photography:
fringe (thin strands hanging at the hem), lace (hole patterns), knit fuzz (thin hairs along the outline) and
sheer fabric (partial alpha 0.2-0.7).

`garment(...)` returns (foreground colour HxWx3, alpha HxW), float32 0..1. Shapes are drawn 2x supersampled
and box-filtered, so sub-pixel strands get fractional alpha.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .studio import Figure
from .util import RESAMPLE, blur, clip01, from_pil, grid, random_colour, smooth_noise

SS = 2  # supersampling factor for drawn shapes

Point = Tuple[float, float]


def _draw_layer(h: int, w: int) -> Tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new('L', (w * SS, h * SS), 0)
    return im, ImageDraw.Draw(im)


def _finish_layer(im: Image.Image, h: int, w: int) -> np.ndarray:
    return from_pil(im.resize((w, h), RESAMPLE.BOX))


def _ss(points: List[Point]) -> List[Point]:
    return [(x * SS, y * SS) for x, y in points]


def _wavy(rng: np.random.Generator, x0: float, x1: float, y: float, amp: float, n: int = 24) -> List[Point]:
    """Points of a hem line from x0 to x1 around row y with random waviness of amplitude amp."""
    xs = np.linspace(x0, x1, n)
    ph, f = rng.uniform(0, 6.3), rng.uniform(1, 6)
    ys = y + amp * np.sin(np.linspace(0, f * np.pi, n) + ph)
    return list(zip(xs.tolist(), ys.tolist()))


def silhouette(rng: np.random.Generator, fig: Figure, h: int, w: int, kind: str) -> Tuple[np.ndarray, dict]:
    """Garment alpha (HxW, anti-aliased) and geometry info (hem points, sleeve polygons, rows)."""
    im, dr = _draw_layer(h, w)
    s, cx = fig.scale, fig.cx
    ease = rng.uniform(1.0, 1.25)
    info: dict = {'sleeves': []}
    if kind in ('top', 'dress'):
        y_sh = fig.y_at(rng.uniform(0.0, 0.06))
        sh = fig.shoulder * s * ease * rng.uniform(0.95, 1.15)
        neck_w = rng.uniform(0.1, 0.22) * s
        neck_d = rng.uniform(0.03, 0.3) * s
        y_arm = fig.y_at(rng.uniform(0.25, 0.35))
        waist = fig.waist * s * ease * rng.uniform(1.0, 1.3)
        y_waist = fig.y_at(0.62)
        if kind == 'top':
            t_hem = rng.uniform(0.7, 1.3)
            hem_w = fig.hip * s * ease * rng.uniform(0.95, 1.4)
        else:
            t_hem = rng.uniform(1.3, 2.4)
            hem_w = fig.hip * s * ease * rng.uniform(1.1, 2.6)
        y_hem = fig.y_at(t_hem)
        hem = _wavy(rng, cx + hem_w, cx - hem_w, y_hem, rng.uniform(0, 0.03) * s * (rng.random() < 0.5))
        neck = [(cx - neck_w + 2 * neck_w * k / 12, y_sh + neck_d * np.sin(np.pi * k / 12)) for k in range(13)]
        sh_y = y_sh + 0.04 * s
        body = ([(cx - neck_w, y_sh), (cx - sh, sh_y), (cx - sh * 0.92, y_arm), (cx - waist, y_waist)] + hem[::-1]
                + [(cx + waist, y_waist), (cx + sh * 0.92, y_arm), (cx + sh, sh_y), (cx + neck_w, y_sh)]
                + neck[::-1][1:-1])
        dr.polygon(_ss(body), fill=255)
        # sleeves: quadrilaterals from the shoulder/armpit edge, pushed out and down
        if rng.random() < 0.75:
            ang = np.deg2rad(rng.uniform(15, 80))
            length = rng.uniform(0.15, 0.95) * s
            cuff = rng.uniform(0.6, 1.3)
            for side in (-1.0, 1.0):
                a = np.array([cx + side * sh, sh_y])
                b = np.array([cx + side * sh * 0.92, y_arm])
                d = np.array([side * np.cos(ang), np.sin(ang)]) * length
                mid = (a + b) / 2 + d
                half = (a - b) / 2 * cuff
                poly = [tuple(a), tuple(mid + half), tuple(mid - half), tuple(b)]
                dr.polygon(_ss(poly), fill=255)
                info['sleeves'].append(poly)
        info.update(hem=hem, y_top=y_sh, y_hem=y_hem)
    elif kind == 'skirt':
        y_top = fig.y_at(rng.uniform(0.55, 0.7))
        top_w = fig.waist * s * rng.uniform(1.0, 1.2)
        y_hem = fig.y_at(rng.uniform(1.2, 2.0))
        hem_w = fig.hip * s * rng.uniform(1.1, 2.4)
        hem = _wavy(rng, cx + hem_w, cx - hem_w, y_hem, rng.uniform(0, 0.05) * s)
        dr.polygon(_ss([(cx - top_w, y_top), (cx + top_w, y_top)] + hem), fill=255)
        info.update(hem=hem, y_top=y_top, y_hem=y_hem)
    else:  # scarf: a long band hanging around the neck
        y_top = fig.y_at(-0.05)
        bw = rng.uniform(0.1, 0.3) * s
        y_hem = fig.y_at(rng.uniform(0.8, 1.8))
        xo = rng.uniform(0.1, 0.4) * s
        for side in (-1.0, 1.0):
            x = cx + side * xo
            dr.polygon(_ss([(x - bw / 2, y_top), (x + bw / 2, y_top), (x + bw / 2 + rng.normal(0, 0.05) * s, y_hem),
                            (x - bw / 2 + rng.normal(0, 0.05) * s, y_hem)]), fill=255)
        dr.rectangle(_ss([(cx - xo - bw / 2, y_top - bw * 0.6), (cx + xo + bw / 2, y_top + bw * 0.2)]), fill=255)
        hem = [(cx + xo + bw / 2, y_hem), (cx + xo - bw / 2, y_hem)]
        info.update(hem=hem, y_top=y_top, y_hem=y_hem)
    return _finish_layer(im, h, w), info


def bbox(alpha: np.ndarray, pad: int = 0) -> Tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of alpha > 0 grown by pad (the whole frame when alpha is empty)."""
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    cols = np.flatnonzero(alpha.max(axis=0) > 0)
    h, w = alpha.shape
    if rows.size == 0:
        return 0, h, 0, w
    return (max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad), max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad))


def in_box(fn, h: int, w: int, box: Tuple[int, int, int, int], fill, channels: int = 0) -> np.ndarray:
    """Runs fn(hb, wb) on the box size and pastes the result into an h x w canvas filled with `fill`."""
    y0, y1, x0, x1 = box
    out = np.empty((h, w, channels) if channels else (h, w), np.float32)
    out[...] = fill
    out[y0:y1, x0:x1] = fn(y1 - y0, x1 - x0)
    return out


def texture(rng: np.random.Generator, h: int, w: int, colour: np.ndarray, px: float) -> np.ndarray:
    """Cloth colour field HxWx3: plain / knit / weave / stripes / print, with folds and lighting.
    px: pixels per 'cloth unit' (larger when zoomed in), sets the pattern period."""
    yy, xx = grid(h, w)
    kind = rng.choice(['plain', 'knit', 'weave', 'stripes', 'print'], p=[0.25, 0.2, 0.2, 0.2, 0.15])
    c2 = random_colour(rng) if rng.random() < 0.5 else np.clip(colour * rng.uniform(0.6, 1.3), 0, 1)
    th = rng.uniform(0, np.pi)
    u = (xx * np.cos(th) + yy * np.sin(th))
    v = (-xx * np.sin(th) + yy * np.cos(th))
    period = max(2.0, px * rng.uniform(0.5, 3.0))
    amp = rng.uniform(0.05, 0.3)
    if kind == 'plain':
        pat = 0.5 + 0.1 * (smooth_noise(rng, h, w, int(rng.integers(8, 64))) - 0.5)
        img = colour[None, None, :] * (0.9 + 0.2 * pat[..., None])
    elif kind == 'knit':  # rows of V-shaped stitches
        fu = (u / period) % 1.0
        fv = (v / (period * 1.3) + np.abs(fu - 0.5)) % 1.0
        pat = np.abs(fv - 0.5) * 2
        img = colour[None, None, :] * (1 - amp + amp * 2 * pat[..., None])
    elif kind == 'weave':  # basket weave: alternating horizontal/vertical gratings
        cu, cv = np.floor(u / (period * 2)), np.floor(v / (period * 2))
        hor = ((cu + cv) % 2) == 0
        pat = np.where(hor, np.sin(v / period * np.pi * 2), np.sin(u / period * np.pi * 2)) * 0.5 + 0.5
        img = colour[None, None, :] * (1 - amp + amp * 2 * pat[..., None])
    elif kind == 'stripes':
        sw = max(2.0, px * rng.uniform(1.0, 8.0))
        stripe = (((u / sw) % 1.0) < rng.uniform(0.2, 0.6)).astype(np.float32)
        stripe = blur(stripe, 0.5)
        img = colour[None, None, :] * (1 - stripe[..., None]) + c2[None, None, :] * stripe[..., None]
    else:  # print: dots, blobs and flowers
        pim = Image.new('RGB', (w, h), tuple(int(v * 255) for v in colour))
        dr = ImageDraw.Draw(pim)
        n = int(rng.integers(20, 300))
        r_max = max(2.0, px * rng.uniform(1, 6))
        for _ in range(n):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.3, 1.0) * r_max
            col = tuple(int(v * 255) for v in (random_colour(rng) if rng.random() < 0.7 else c2))
            dr.ellipse([x - r, y - r * rng.uniform(0.5, 1.5), x + r, y + r], fill=col)
        img = from_pil(pim)
    # folds (vertical-ish) and lighting
    fold_f = rng.uniform(0.5, 4.0) / max(w, 1) * 2 * np.pi
    ph = smooth_noise(rng, h, w, 6) * rng.uniform(0, 8)
    folds = 1 + rng.uniform(0, 0.25) * np.sin(xx * fold_f + ph)
    light = 1 + rng.uniform(-0.2, 0.2) * (yy / h - 0.5) + rng.uniform(-0.2, 0.2) * (xx / w - 0.5)
    img = img * (folds * light)[..., None]
    return clip01(img.astype(np.float32))


def _region(rng: np.random.Generator, h: int, w: int, info: dict, alpha: np.ndarray) -> np.ndarray:
    """A sub-region of the garment for lace/sheer: a band above the hem, the sleeves, or everything."""
    r = rng.random()
    if r < 0.4:
        yy = np.arange(h, dtype=np.float32)[:, None]
        band = rng.uniform(0.1, 0.5) * max(info['y_hem'] - info['y_top'], 8)
        return np.broadcast_to((yy > info['y_hem'] - band).astype(np.float32), (h, w)).copy()
    if r < 0.6 and info['sleeves']:
        im, dr = _draw_layer(h, w)
        for poly in info['sleeves']:
            dr.polygon(_ss(poly), fill=255)
        return _finish_layer(im, h, w)
    return np.ones((h, w), np.float32)


def lace(rng: np.random.Generator, h: int, w: int, px: float) -> np.ndarray:
    """Hole pattern HxW (1 = hole): a rotated lattice of round/elliptic holes, sometimes with a second scale."""
    yy, xx = grid(h, w)
    th = rng.uniform(0, np.pi)
    period = max(3.0, px * rng.uniform(1.0, 6.0))
    u = (xx * np.cos(th) + yy * np.sin(th)) / period
    v = (-xx * np.sin(th) + yy * np.cos(th)) / (period * rng.uniform(0.7, 1.4))
    if rng.random() < 0.5:  # staggered rows
        u = u + 0.5 * (np.floor(v) % 2)
    du, dv = (u % 1.0) - 0.5, (v % 1.0) - 0.5
    d = np.sqrt(du * du + dv * dv) * period
    r = rng.uniform(0.2, 0.42) * period
    holes = np.clip(r - d + 0.5, 0, 1)
    if rng.random() < 0.4:  # floral: small holes between the big ones
        d2 = np.sqrt((np.abs(du) - 0.5) ** 2 + (np.abs(dv) - 0.5) ** 2) * period
        holes = np.maximum(holes, np.clip(r * 0.4 - d2 + 0.5, 0, 1))
    return holes.astype(np.float32)


def net(rng: np.random.Generator, h: int, w: int, px: float) -> np.ndarray:
    """Hole pattern HxW (1 = hole) of a net: mesh, fishnet or tulle, i.e. a lattice of thin threads around holes
    much larger than the threads (the inverse of lace). Square, diamond or hexagonal-ish cells, threads
    anti-aliased analytically (sub-pixel threads give fractional alpha), sometimes wavy (knotted nets)."""
    yy, xx = grid(h, w)
    th = rng.choice([0.0, np.pi / 4, rng.uniform(0, np.pi)])
    period = max(2.0, px * rng.uniform(1.5, 10.0))
    if rng.random() < 0.4:  # wavy threads: displace the coordinates by low-frequency noise
        amp = period * rng.uniform(0.05, 0.25)
        yy = yy + amp * (smooth_noise(rng, h, w, int(rng.integers(4, 24))) - 0.5) * 2
        xx = xx + amp * (smooth_noise(rng, h, w, int(rng.integers(4, 24))) - 0.5) * 2
    width = max(0.3, period * rng.uniform(0.06, 0.3))  # thread width in pixels
    threads = np.zeros((h, w), np.float32)
    angles = [th, th + np.pi / 2] if rng.random() < 0.7 else [th, th + np.pi / 3, th + 2 * np.pi / 3]
    for a in angles:
        t = (xx * np.cos(a) + yy * np.sin(a)) / period
        d = np.abs(t - np.round(t)) * period  # distance to the nearest thread centre line, pixels
        threads = np.maximum(threads, np.clip(width / 2 - d + 0.5, 0, 1))
    return (1 - threads).astype(np.float32)


def fringe(rng: np.random.Generator, h: int, w: int, hem: List[Point], length: float, px: float) -> np.ndarray:
    """Thin hanging strands from the hem line: alpha layer HxW (fractional where strands are sub-pixel)."""
    im, dr = _draw_layer(h, w)
    xs = np.array([p[0] for p in hem])
    ys = np.array([p[1] for p in hem])
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    spacing = max(1.5, px * rng.uniform(0.4, 2.5))
    n = int(min(800, max(4, (xs[-1] - xs[0]) / spacing)))
    width = max(1, int(round(px * rng.uniform(0.25, 1.2) * SS)))
    val = int(rng.uniform(0.7, 1.0) * 255)
    for x in np.linspace(xs[0], xs[-1], n) + rng.normal(0, spacing * 0.2, n):
        y = float(np.interp(x, xs, ys)) - 2
        L = length * rng.uniform(0.6, 1.0)
        k = 6
        drift = np.cumsum(rng.normal(0, L * 0.03, k))
        pts = [(x + drift[i], y + L * i / (k - 1)) for i in range(k)]
        dr.line(_ss(pts), fill=val, width=width)
    return _finish_layer(im, h, w)


def fuzz(rng: np.random.Generator, h: int, w: int, alpha: np.ndarray, px: float) -> np.ndarray:
    """Thin hairs along the garment outline (knit fuzz, mohair): alpha layer HxW."""
    soft = blur(alpha, 1.5)
    gy, gx = np.gradient(soft)
    ys, xs = np.nonzero((soft > 0.2) & (soft < 0.8))
    if ys.size == 0:
        return np.zeros((h, w), np.float32)
    n = int(min(ys.size, rng.integers(100, 1500)))
    pick = rng.choice(ys.size, n, replace=False)
    im, dr = _draw_layer(h, w)
    lo, hi = max(2.0, px * 1.0), max(4.0, px * rng.uniform(3, 12))
    for i in pick:
        y, x = float(ys[i]), float(xs[i])
        nx, ny = -gx[ys[i], xs[i]], -gy[ys[i], xs[i]]
        ang = np.arctan2(ny, nx) + rng.normal(0, 0.6)
        L = rng.uniform(lo, hi)
        mid = ang + rng.normal(0, 0.3)
        pts = [(x, y), (x + np.cos(mid) * L * 0.5, y + np.sin(mid) * L * 0.5), (x + np.cos(ang) * L, y + np.sin(ang) * L)]
        dr.line(_ss(pts), fill=int(rng.uniform(0.3, 0.9) * 255), width=1)
    return _finish_layer(im, h, w)


def garment(rng: np.random.Generator, fig: Figure, h: int, w: int, px: float,
            tone: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """A complete garment on `fig`: (foreground colour HxWx3, alpha HxW). px = pixels per cloth unit
    (~1 at base resolution, larger when zoomed in); tone forces the colour family (hard cases)."""
    kind = str(rng.choice(['top', 'dress', 'skirt', 'scarf'], p=[0.45, 0.3, 0.15, 0.1]))
    alpha, info = silhouette(rng, fig, h, w, kind)
    colour = random_colour(rng, tone or str(rng.choice(['any', 'white', 'black', 'grey', 'pastel'],
                                                        p=[0.55, 0.12, 0.12, 0.11, 0.1])))
    box = bbox(alpha, 2)
    fg = in_box(lambda hb, wb: texture(rng, hb, wb, colour, px), h, w, box, colour, 3)
    if rng.random() < 0.35:
        region = _region(rng, h, w, info, alpha)
        pattern = lace if rng.random() < 0.6 else net
        holes = in_box(lambda hb, wb: pattern(rng, hb, wb, px), h, w, box, 0.0)
        alpha = alpha * (1 - region * holes * rng.uniform(0.85, 1.0))
    if rng.random() < 0.2:
        region = _region(rng, h, w, info, alpha)
        level = rng.uniform(0.2, 0.7) * (1 + 0.15 * (smooth_noise(rng, h, w, 12) - 0.5))
        alpha = alpha * (1 - region * (1 - level))
    extra = np.zeros((h, w), np.float32)
    if rng.random() < 0.25:
        extra = np.maximum(extra, fringe(rng, h, w, info['hem'], rng.uniform(0.08, 0.35) * fig.scale, px))
    if rng.random() < 0.3:
        extra = np.maximum(extra, fuzz(rng, h, w, alpha, px))
    if extra.any():
        strand = np.clip(colour * rng.uniform(0.8, 1.15), 0, 1)[None, None, :]
        a_tot = extra + alpha * (1 - extra)
        fg = (extra[..., None] * strand + (alpha * (1 - extra))[..., None] * fg) / np.maximum(a_tot, 1e-6)[..., None]
        fg = np.where(a_tot[..., None] > 0, fg, strand)
        alpha = a_tot
    return clip01(fg.astype(np.float32)), clip01(alpha.astype(np.float32))
