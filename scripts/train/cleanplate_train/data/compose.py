"""One training sample: foreground (garment or real) over a studio/photo background, shot + perturbed plate.

shot  = a * F + (1 - a) * B_shot,  B_shot = B with a soft shadow of the subject (shot only)
plate = B perturbed like a second capture: blur, JPEG (the mannequin belongs to B: it is in both and must not
be matted; so do the distractors, foreground-like objects pasted into B with probability distractorProb, which
make a subject's look alone no evidence of foreground: only its difference from the plate is). Residual misalignment (<= maxShiftPx, <= maxRotDeg, applied after JPEG as the aligner would),
sensor noise and exposure/white-balance changes are added later, batched on the device (augment.py).
Output: uint8 CHW arrays.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
from PIL import Image

from .garments import garment
from .sources import Foreground, Sources
from .studio import backdrop, mannequin, photo_background, random_figure
from .util import RESAMPLE, blur, blur_fine, from_pil, jpeg, random_colour, resize, to_u8

_TONES = ['white', 'grey', 'black', 'pastel', 'any']
_TONE_P = [0.4, 0.2, 0.15, 0.1, 0.15]


def place_real(rng: np.random.Generator, fg: Foreground, h: int, w: int, full_res: bool,
               recolour: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """Real foreground resized/flipped/colour-jittered and placed on an h x w canvas so its boundary is in view;
    with probability `recolour` its colour channels are also permuted (a green pumpkin turns purple), so the few
    real foregrounds cannot be learnt by their colours."""
    ih, iw = fg.alpha.shape
    if full_res:
        s = rng.uniform(0.6, 1.5)
    else:
        s = rng.uniform(0.4, 1.1) * min(h / ih, w / iw)
    nh, nw = max(8, int(ih * s)), max(8, int(iw * s))
    img = Image.fromarray(fg.image).resize((nw, nh), RESAMPLE.BILINEAR)
    al = Image.fromarray(fg.alpha).resize((nw, nh), RESAMPLE.BILINEAR)
    if rng.random() < 0.3:
        ang = rng.uniform(-12, 12)
        img = img.rotate(ang, RESAMPLE.BILINEAR, expand=True)
        al = al.rotate(ang, RESAMPLE.BILINEAR, expand=True)
    f, a = from_pil(img), from_pil(al)
    if rng.random() < 0.5:
        f, a = f[:, ::-1], a[:, ::-1]
    f = np.clip(f * rng.uniform(0.85, 1.15, 3).astype(np.float32), 0, 1) ** np.float32(rng.uniform(0.8, 1.25))
    if recolour > 0 and rng.random() < recolour:
        f = np.ascontiguousarray(f[..., rng.permutation(3)])
    nh, nw = a.shape
    # pick a boundary pixel of the resized foreground and put it somewhere in the middle of the canvas
    k = int(rng.integers(0, fg.edge_ys.size)) if fg.edge_ys.size else 0
    ey = fg.edge_ys[k] * nh / ih if fg.edge_ys.size else nh / 2
    ex = fg.edge_xs[k] * nw / iw if fg.edge_xs.size else nw / 2
    if not full_res and nh <= h and nw <= w and rng.random() < 0.6:  # whole object in view
        oy, ox = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
    else:
        oy = int(rng.uniform(0.2, 0.8) * h - ey)
        ox = int(rng.uniform(0.2, 0.8) * w - ex)
    F = np.zeros((h, w, 3), np.float32)
    A = np.zeros((h, w), np.float32)
    y0, x0 = max(0, oy), max(0, ox)
    y1, x1 = min(h, oy + nh), min(w, ox + nw)
    if y1 > y0 and x1 > x0:
        F[y0:y1, x0:x1] = f[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        A[y0:y1, x0:x1] = a[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    return F, A


def shift_image(x: np.ndarray, dx: float, dy: float, rot_deg: float) -> np.ndarray:
    """Rigid misalignment (rotation about the centre + shift) of a uint8 HxWx3 image, edge pixels replicated."""
    h, w = x.shape[:2]
    th = np.deg2rad(rot_deg)
    c, s = np.cos(th), np.sin(th)
    cx, cy = w / 2, h / 2
    # inverse map: output (X, Y) samples input at R^-1 (X - c - d) + c
    a, b = c, s
    d_, e = -s, c
    tx = cx - a * (cx + dx) - b * (cy + dy)
    ty = cy - d_ * (cx + dx) - e * (cy + dy)
    pad = 8
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode='edge')
    im = Image.fromarray(padded).transform((w, h), Image.Transform.AFFINE,
                                           (a, b, tx + pad, d_, e, ty + pad), resample=RESAMPLE.BILINEAR)
    return np.asarray(im)


def _u8(x: np.ndarray) -> np.ndarray:
    return to_u8(x)


def soft_shadow(A: np.ndarray, dx: float, dy: float, radius: float, strength: float) -> np.ndarray:
    """Shadow attenuation HxW (0 = none): the alpha shifted by (dx, dy), blurred by radius; computed at 1/4 size."""
    h, w = A.shape
    f = 4
    small = np.roll(np.roll(A[::f, ::f], int(round(dy / f)), axis=0), int(round(dx / f)), axis=1)
    small = blur_fine(small, radius / f)
    return resize(small, (w, h)) * np.float32(strength)


def add_distractors(rng: np.random.Generator, sources: Sources, B: np.ndarray, n: int, full_res: bool,
                    px: float, recolour: float = 0.0) -> np.ndarray:
    """B (HxWx3 float 0..1) with n foreground-like objects composited into it: real foregrounds when there are
    any (else garments on random figures), part of the background from here on (in shot and plate alike)."""
    h, w = B.shape[:2]
    for _ in range(n):
        if sources.foregrounds and rng.random() < 0.7:
            F, A = place_real(rng, sources.foregrounds[int(rng.integers(0, len(sources.foregrounds)))], h, w, full_res,
                              recolour)
        else:
            fig = random_figure(rng, h, w, (0.9, 2.5) if full_res else (0.2, 0.5))
            F, A = garment(rng, fig, h, w, px, None)
        B = A[..., None] * F + (1 - A[..., None]) * B
    return B.astype(np.float32)


def make_sample(rng: np.random.Generator, sources: Sources, h: int, w: int, cfg: Dict[str, Any],
                full_res: bool) -> Dict[str, np.ndarray]:
    """A composite sample of size h x w. full_res: a full-resolution crop (zoomed-in figure, 1-3 px strands)
    instead of a whole low-resolution frame. Returns uint8 arrays shot, plate, fgr (3xHxW) and alpha (1xHxW)."""
    d = cfg
    px = rng.uniform(1.0, 3.0) if full_res else rng.uniform(0.5, 1.5)
    fig = random_figure(rng, h, w, (0.9, 2.5) if full_res else (0.3, 0.65))
    hard = rng.random() < d['hardCase']
    hard_tone = str(rng.choice(['white', 'black'])) if hard else None
    # background: backdrop or photo, usually with a mannequin
    use_photo = sources.backgrounds and rng.random() < d['bgMix']['photo'] / max(1e-6, sum(d['bgMix'].values()))
    if use_photo and not hard:
        B = photo_background(rng, sources.backgrounds[int(rng.integers(0, len(sources.backgrounds)))], h, w)
        with_mannequin = rng.random() < 0.4
    else:
        B = backdrop(rng, h, w, hard_tone or str(rng.choice(_TONES, p=_TONE_P)))
        with_mannequin = hard or rng.random() < 0.85
    if with_mannequin:
        M, m = mannequin(rng, fig, h, w, hard_tone or str(rng.choice(['white', 'black', 'skin', 'grey'], p=[0.4, 0.25, 0.2, 0.15])))
        B = M * m[..., None] + B * (1 - m[..., None])
    if d.get('distractorProb', 0.0) > 0 and rng.random() < d['distractorProb']:
        B = add_distractors(rng, sources, B, int(rng.integers(1, 3)), full_res, px, d.get('realRecolour', 0.0))
    # foreground
    mix = d['fgMix']
    tot = sum(mix.values())
    r = rng.random() * tot
    if r < mix['garment'] or (r < mix['garment'] + mix['real'] and not sources.foregrounds):
        F, A = garment(rng, fig, h, w, px, hard_tone)
    elif r < mix['garment'] + mix['real']:
        F, A = place_real(rng, sources.foregrounds[int(rng.integers(0, len(sources.foregrounds)))], h, w, full_res,
                          d.get('realRecolour', 0.0))
    else:
        F, A = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
        F[:] = random_colour(rng)
    # soft shadow of the subject, in the shot only
    B_shot = B
    if rng.random() < d['shadowProb'] and A.any():
        dx, dy = rng.normal(0, 0.04) * w, rng.uniform(0, 0.06) * h
        lo, hi = d.get('shadowStrength', (0.08, 0.45))
        sh = soft_shadow(A, dx, dy, rng.uniform(0.01, 0.05) * max(h, w), rng.uniform(lo, hi))
        B_shot = B * (1 - sh[..., None])
    shot = _u8(A[..., None] * F + (1 - A[..., None]) * B_shot)
    # plate: blurred, compressed second capture of B (misalignment, noise and gains: augment.py, on the device)
    plate = _u8(B)
    if rng.random() < d['blurProb']:
        which = rng.random() < 0.5
        radius = rng.uniform(0.3, 1.0)
        if which:
            plate = _u8(blur(plate.astype(np.float32) / 255.0, radius))
        else:
            shot = _u8(blur(shot.astype(np.float32) / 255.0, radius))
    if rng.random() < d['jpegProb']:
        plate = jpeg(plate, int(rng.integers(70, 97)))
        shot = jpeg(shot, int(rng.integers(70, 97)))
    return {
        'shot': np.ascontiguousarray(shot.transpose(2, 0, 1)),
        'plate': np.ascontiguousarray(plate.transpose(2, 0, 1)),
        'fgr': np.ascontiguousarray(_u8(F).transpose(2, 0, 1)),
        'alpha': _u8(A)[None],
    }


def sample_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator for sample `index` of stream `stream` (0 base, 1 refiner, 2 eval...): deterministic per seed."""
    return np.random.default_rng([int(seed), int(stream), int(index)])


def composite_eval(rng: np.random.Generator, image: np.ndarray, alpha: np.ndarray, background: np.ndarray,
                   cfg: Dict[str, Any], mannequin_tone: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Scoring composite of a ground-truth item (uint8 image HxWx3, alpha HxW) over a background
    (photo uint8, or None-like empty array for a studio backdrop with mannequin): shot/plate uint8 HxWx3,
    alpha float32 HxW (exact ground truth)."""
    h, w = alpha.shape
    if background.size:
        B = photo_background(rng, background, h, w)
    else:
        B = backdrop(rng, h, w, 'white')
        fig = random_figure(rng, h, w)
        M, m = mannequin(rng, fig, h, w, mannequin_tone or 'white')
        B = M * m[..., None] + B * (1 - m[..., None])
    A = alpha.astype(np.float32) / 255.0
    F = image.astype(np.float32) / 255.0
    shot = _u8(A[..., None] * F + (1 - A[..., None]) * B)
    plate = shift_image(_u8(B), rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5), rng.uniform(-0.3, 0.3))
    plate = jpeg(plate, 90)
    shot = jpeg(shot, 90)
    return {'shot': shot, 'plate': plate, 'alpha': A}
