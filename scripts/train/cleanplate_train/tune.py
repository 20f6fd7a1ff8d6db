"""Fine-tuning on a studio's own captures: a folder of pairs (shot.*, plate.*, optional alpha.*).

Folder layout: DIR/<pair>/shot.jpg + plate.jpg [+ alpha.png]  (or DIR itself holding one pair).
Targets: alpha.* is a hand-retouched cutout: RGBA (alpha channel + clean colours) or greyscale alpha.
Without alpha.*, pseudo-labels come from the difference key (key.py): loss only on confident pixels.
Shot and plate must already be aligned (tripod captures). Both stages of training are run (base on whole
downscaled frames, refiner on full-resolution crops) starting from a trained checkpoint.
"""
from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from PIL import Image

from .checkpoint import load_checkpoint, save_checkpoint
from .config import build_models
from .data.augment import perturb
from .data.util import to_u8
from .key import load_rgb, pseudo_labels
from .trainer import base_loss, lr_factor, refiner_loss, to_device

IMAGE_EXT = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp')

FINETUNE_DEFAULTS: Dict[str, Any] = {
    'baseSize': 512, 'baseBatch': 4, 'baseSteps': 300, 'refinerSize': 512, 'refinerBatch': 4, 'refinerSteps': 200,
    'lr': 2e-4, 'baseLrScale': 0.2, 'weightDecay': 1e-4, 'maxSide': 3000, 'margin': 6, 'warmupSteps': 10,
    'downscale': [4, 12], 'minBaseSize': 64, 'errorFraction': 0.06, 'randomFraction': 0.02,
    'augment': {'maxShiftPx': 1.0, 'maxRotDeg': 0.1, 'gain': [0.97, 1.03], 'offset': [-0.01, 0.01],
                'noiseSigma': [0.0, 0.01]},
}


@dataclass
class Pair:
    """One capture pair as uint8 arrays: shot/plate/fgr HxWx3, alpha/weight/fgr_weight HxW (0..255)."""
    name: str
    shot: np.ndarray
    plate: np.ndarray
    alpha: np.ndarray
    weight: np.ndarray
    fgr: np.ndarray
    fgr_weight: np.ndarray
    pseudo: bool


def _find(folder: str, stem: str) -> Optional[str]:
    for p in sorted(glob.glob(os.path.join(folder, stem + '.*'))):
        if p.lower().endswith(IMAGE_EXT):
            return p
    return None


def find_pairs(root: str) -> List[str]:
    """Folders (root itself or its sub-folders) that hold a shot.* and a plate.*."""
    cands = [root] + sorted(os.path.join(root, d) for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    return [c for c in cands if _find(c, 'shot') and _find(c, 'plate')]


def load_pair(folder: str, max_side: int, margin: int) -> Pair:
    """Loads a pair folder; builds targets from alpha.* or pseudo-labels (see module docstring)."""
    shot = load_rgb(_find(folder, 'shot') or '', max_side)
    plate = load_rgb(_find(folder, 'plate') or '', max_side)
    if plate.shape != shot.shape:
        raise ValueError('%s: shot %s and plate %s differ in size' % (folder, shot.shape, plate.shape))
    h, w = shot.shape[:2]
    ap = _find(folder, 'alpha')
    if ap:
        im = Image.open(ap)
        if im.size != (w, h):
            im = im.resize((w, h), Image.Resampling.BILINEAR)
        if im.mode in ('RGBA', 'LA'):
            rgba = np.asarray(im.convert('RGBA'), dtype=np.float32) / 255.0
            alpha, fgr = rgba[..., 3], rgba[..., :3]
            fgr_w = (alpha > 0).astype(np.float32)
        else:
            alpha = np.asarray(im.convert('L'), dtype=np.float32) / 255.0
            fgr, fgr_w = shot, (alpha > 0.98).astype(np.float32)
        weight = np.ones((h, w), np.float32)
        pseudo = False
    else:
        pl = pseudo_labels(shot, plate, margin=margin)
        alpha, weight = pl['alpha'], pl['weight']
        fgr, fgr_w = shot, pl['alpha'] * pl['weight']
        pseudo = True
    return Pair(os.path.basename(os.path.abspath(folder)), to_u8(shot), to_u8(plate), to_u8(alpha), to_u8(weight),
                to_u8(fgr), to_u8(fgr_w), pseudo)


def _stack(p: Pair, y0: int, x0: int, ch: int, cw: int, size: int, flip: bool) -> Dict[str, np.ndarray]:
    out = {}
    for k in ('shot', 'plate', 'fgr', 'alpha', 'weight', 'fgr_weight'):
        a = getattr(p, k)[y0:y0 + ch, x0:x0 + cw]
        if (ch, cw) != (size, size):
            a = np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BILINEAR))
        if flip:
            a = a[:, ::-1]
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        out[k] = np.ascontiguousarray(a)
    return out


def sample_batch(rng: np.random.Generator, pairs: List[Pair], n: int, size: int, full_res: bool) -> Dict[str, torch.Tensor]:
    """n random crops: whole-frame-ish crops resized to size (base) or size x size full-res crops centred near
    uncertain/edge pixels (refiner). uint8 tensors [n,C,size,size]."""
    items = []
    for _ in range(n):
        p = pairs[int(rng.integers(0, len(pairs)))]
        h, w = p.alpha.shape
        if full_res:
            c = min(size, h, w)
            a = p.alpha
            edge = np.nonzero((p.weight[::4, ::4] < 128) | ((a[::4, ::4] > 5) & (a[::4, ::4] < 250)))
            if edge[0].size and rng.random() < 0.7:
                k = int(rng.integers(0, edge[0].size))
                cy, cx = edge[0][k] * 4, edge[1][k] * 4
            else:
                cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
            y0 = int(np.clip(cy - c // 2, 0, h - c))
            x0 = int(np.clip(cx - c // 2, 0, w - c))
            items.append(_stack(p, y0, x0, c, c, size, rng.random() < 0.5))
        else:
            c = int(min(h, w) * rng.uniform(0.6, 1.0))
            y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            items.append(_stack(p, y0, x0, c, c, size, rng.random() < 0.5))
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def finetune(pairs_dir: str, init: str, out_dir: str, overrides: Optional[Dict[str, Any]] = None,
             device: Optional[str] = None, time_budget_s: Optional[float] = None, seed: int = 0,
             log=print) -> Dict[str, Any]:
    """Fine-tunes the checkpoint `init` (run folder or file) on the pairs; writes out_dir/checkpoint.pt (export
    it with export.py --run out_dir). Returns the saved state."""
    ck = load_checkpoint(init)
    if ck is None:
        raise FileNotFoundError('no checkpoint at %s' % init)
    cfg = dict(ck['config'])
    ft = dict(FINETUNE_DEFAULTS)
    ft.update(cfg.get('finetune', {}))
    ft.update(overrides or {})
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    amp = dev.type == 'cuda'
    folders = find_pairs(pairs_dir)
    if not folders:
        raise FileNotFoundError('no shot.*/plate.* pairs under %s' % pairs_dir)
    t0 = time.time()
    pairs = [load_pair(f, int(ft['maxSide']), int(ft['margin'])) for f in folders]
    for p in pairs:
        log('pair %s: %dx%d, %s, confident %.0f%%' % (p.name, p.alpha.shape[1], p.alpha.shape[0],
                                                    'pseudo-labels' if p.pseudo else 'alpha target',
                                                    100 * float((p.weight > 127).mean())))
    base, refiner = build_models(cfg)
    base.load_state_dict(ck['base'])
    refiner.load_state_dict(ck['refiner'])
    base.to(dev).train()
    refiner.to(dev).train()
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    deadline = t0 + time_budget_s if time_budget_s else float('inf')
    history: List[Dict[str, Any]] = []
    rcfg = dict(ft, lossWeights=cfg['refiner']['lossWeights'])
    for stage, steps in (('base', int(ft['baseSteps'])), ('refiner', int(ft['refinerSteps']))):
        if stage == 'base':
            groups = [{'params': list(base.parameters()), 'scale': 1.0}]
        else:
            groups = [{'params': list(refiner.parameters()), 'scale': 1.0},
                      {'params': list(base.parameters()), 'scale': float(ft['baseLrScale'])}]
        opt = torch.optim.AdamW(groups, lr=float(ft['lr']), weight_decay=float(ft['weightDecay']))
        for step in range(steps):
            if time.time() >= deadline:
                log('time budget spent during %s' % stage)
                break
            for g in opt.param_groups:
                g['lr'] = float(ft['lr']) * g['scale'] * lr_factor(step, int(ft['warmupSteps']), step / max(1, steps))
            size = int(ft['refinerSize'] if stage == 'refiner' else ft['baseSize'])
            batch = int(ft['refinerBatch'] if stage == 'refiner' else ft['baseBatch'])
            b = to_device(sample_batch(rng, pairs, batch, size, stage == 'refiner'), dev)
            b['shot'], b['plate'] = perturb(b['shot'], b['plate'], gen, ft['augment'])
            if stage == 'base':
                loss, parts, _ = base_loss(base, b, cfg['base']['lossWeights'], amp)
            else:
                loss, parts = refiner_loss(base, refiner, b, rcfg, gen, amp)
            opt.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                continue
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g['params']], 5.0)
            opt.step()
            history.append({'stage': stage, 'step': step + 1, 'loss': round(float(loss.detach()), 5)})
            if (step + 1) % 10 == 0 or step == 0 or step + 1 == steps:
                log('finetune %s step %d/%d loss %.4f' % (stage, step + 1, steps, float(loss.detach())))
    state = {'version': 1, 'config': cfg, 'base': {k: v.detach().cpu() for k, v in base.state_dict().items()},
             'refiner': {k: v.detach().cpu() for k, v in refiner.state_dict().items()}, 'optimizer': None,
             'stage': 'done', 'stage_step': 0, 'stage_elapsed': 0.0, 'stage_budget': None,
             'total_steps': int(ck.get('total_steps', 0)) + len(history), 'history': history,
             'summary': dict(ck.get('summary', {}), finetune={
                 'pairs': [p.name for p in pairs], 'pseudoLabels': [p.name for p in pairs if p.pseudo],
                 'steps': len(history), 'seconds': round(time.time() - t0, 1), 'from': os.path.abspath(init)})}
    save_checkpoint(out_dir, state)
    return state
