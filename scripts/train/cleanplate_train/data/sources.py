"""Real data sources: foregrounds with alpha (gt items, train-extra) and background photos (wallpaper cache).

Layout of a data root (../shared/data or the carried .traindata):
  gt/<name>/image.png + alpha.png             (alphamatting GTxx, lemur)
  train-extra/<name>/image.jpg + alpha-model-made.png
Background folder: *.jpg / *.png photos (scripts/train/fetch_backgrounds.sh).
Everything is loaded once into uint8 arrays (shared by forked DataLoader workers).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image


@dataclass
class Foreground:
    """A real foreground: image uint8 HxWx3, alpha uint8 HxW, and boundary pixel coordinates (ys, xs)."""
    name: str
    image: np.ndarray
    alpha: np.ndarray
    edge_ys: np.ndarray
    edge_xs: np.ndarray


@dataclass
class Sources:
    """All real data the generator may use."""
    foregrounds: List[Foreground] = field(default_factory=list)
    backgrounds: List[np.ndarray] = field(default_factory=list)
    background_names: List[str] = field(default_factory=list)


def _limit(im: Image.Image, max_side: int) -> Image.Image:
    s = max_side / max(im.size)
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)
    return im


def load_foreground(image_path: str, alpha_path: str, max_side: int, name: str = '') -> Foreground:
    """Loads an image + alpha pair (alpha resized to the image if needed), limited to max_side."""
    img = Image.open(image_path).convert('RGB')
    alpha = Image.open(alpha_path).convert('L')
    if alpha.size != img.size:
        alpha = alpha.resize(img.size, Image.Resampling.BILINEAR)
    img, alpha = _limit(img, max_side), _limit(alpha, max_side)
    a = np.asarray(alpha, dtype=np.uint8)
    ys, xs = np.nonzero((a > 5) & (a < 250))
    if ys.size == 0:
        ys, xs = np.nonzero(a > 127)
    step = max(1, ys.size // 4000)
    return Foreground(name or os.path.basename(os.path.dirname(image_path)), np.asarray(img, dtype=np.uint8), a,
                      ys[::step].astype(np.int32), xs[::step].astype(np.int32))


def gt_item_paths(root: str, name: str) -> Optional[tuple]:
    """(image, alpha) paths of a gt/<name> or train-extra/<name> item, or None when missing."""
    for img, alpha in (('gt/%s/image.png' % name, 'gt/%s/alpha.png' % name),
                       ('train-extra/%s/image.jpg' % name, 'train-extra/%s/alpha-model-made.png' % name)):
        pi, pa = os.path.join(root, img), os.path.join(root, alpha)
        if os.path.isfile(pi) and os.path.isfile(pa):
            return pi, pa
    return None


def background_files(folder: str) -> List[str]:
    """Sorted background photo paths in folder (empty when it does not exist)."""
    files: List[str] = []
    for ext in ('*.jpg', '*.jpeg', '*.png'):
        files += glob.glob(os.path.join(folder, ext))
    return sorted(files)


def load_sources(root: str, gt_names: Sequence[str], bg_folder: str, held_out_bg: int, max_fg_side: int,
                 max_bg_side: int, use_train_extra: bool = True) -> Sources:
    """Loads training foregrounds (gt_names + all of train-extra) and the training backgrounds
    (all but the last `held_out_bg` files). Missing folders give empty lists (procedural data still works)."""
    src = Sources()
    names = list(gt_names)
    if use_train_extra and os.path.isdir(os.path.join(root, 'train-extra')):
        names += sorted(os.listdir(os.path.join(root, 'train-extra')))
    for n in names:
        p = gt_item_paths(root, n)
        if p is not None:
            src.foregrounds.append(load_foreground(p[0], p[1], max_fg_side, n))
    files = background_files(bg_folder)
    files = files[:len(files) - held_out_bg] if held_out_bg > 0 else files
    for f in files:
        src.backgrounds.append(np.asarray(_limit(Image.open(f).convert('RGB'), max_bg_side), dtype=np.uint8))
        src.background_names.append(os.path.basename(f))
    return src


def load_eval_backgrounds(bg_folder: str, count: int, max_side: int) -> List[np.ndarray]:
    """The last `count` background files (kept out of training), as uint8 arrays."""
    files = background_files(bg_folder)[-count:] if count > 0 else []
    return [np.asarray(_limit(Image.open(f).convert('RGB'), max_side), dtype=np.uint8) for f in files]
