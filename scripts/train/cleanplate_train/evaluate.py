"""Held-out scoring: the held-out GT items composited over held-out backgrounds (the last wallpapers, kept out
of training) and a white studio backdrop with a white mannequin; plate misaligned <= 1.5 px, JPEG q90, noise.

Reports whole-image MSE x 1e3 of base+refiner (docs/neural-contract.md inference, budget mode), base only (upsampled coarse
alpha) and the naive difference key, overall and per item.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from PIL import Image

from .config import resolve_path
from .data.compose import composite_eval, sample_rng
from .data.sources import gt_item_paths, load_eval_backgrounds
from .infer import matte
from .key import difference_key
from .model.base import BaseNet
from .model.refiner import Refiner


def _load_item(root: str, name: str, max_side: int) -> Optional[Dict[str, np.ndarray]]:
    p = gt_item_paths(root, name)
    if p is None:
        return None
    img = Image.open(p[0]).convert('RGB')
    al = Image.open(p[1]).convert('L').resize(img.size, Image.Resampling.BILINEAR)
    s = max_side / max(img.size)
    if s < 1:
        size = (round(img.width * s), round(img.height * s))
        img, al = img.resize(size, Image.Resampling.LANCZOS), al.resize(size, Image.Resampling.LANCZOS)
    return {'image': np.asarray(img), 'alpha': np.asarray(al)}


def evaluate(base: BaseNet, refiner: Refiner, cfg: Dict[str, Any], device: Optional[str] = None,
             log=print) -> Dict[str, Any]:
    """Scores the models on cfg['data']['heldOutGt'] (see module docstring). Returns a metrics dict."""
    e, d = cfg['eval'], cfg['data']
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    root = resolve_path(d['root'])
    bgs: List[np.ndarray] = load_eval_backgrounds(resolve_path(d['backgrounds']), int(e['backgrounds']), 1024)
    bgs.append(np.zeros((0, 0, 3), np.uint8))  # studio: white backdrop + white mannequin
    was = base.training, refiner.training
    base.eval()
    refiner.eval()
    t0 = time.time()
    per: Dict[str, Dict[str, float]] = {}
    acc = {'refined': [], 'baseOnly': [], 'naiveKey': []}
    patches = 0
    try:
        for i, name in enumerate(d['heldOutGt']):
            item = _load_item(root, name, int(e['maxSide']))
            if item is None:
                continue
            scores = {k: [] for k in acc}
            for j, bg in enumerate(bgs):
                rng = sample_rng(int(e['seed']), 100 + i, j)
                c = composite_eval(rng, item['image'], item['alpha'], bg, d)
                noise = [rng.normal(0, 0.006, c['shot'].shape), rng.normal(0, 0.006, c['shot'].shape)]
                shot = np.clip(c['shot'] / 255.0 + noise[0], 0, 1).astype(np.float32)
                plate = np.clip(c['plate'] / 255.0 + noise[1], 0, 1).astype(np.float32)
                st = torch.from_numpy(shot.transpose(2, 0, 1)).unsqueeze(0).to(dev)
                pt = torch.from_numpy(plate.transpose(2, 0, 1)).unsqueeze(0).to(dev)
                with torch.no_grad():
                    r = matte(base, refiner, st, pt, int(e['baseLongSide']), 'budget', float(e['pixelBudget']),
                              flip_average=bool(e.get('flipAverage', False)), grow_rounds=int(e.get('growRounds', 0)))
                gt = c['alpha']
                a_ref = r['alpha'][0, 0].float().cpu().numpy()
                a_base = r['coarse_alpha'][0, 0].float().cpu().numpy()
                a_key = difference_key(shot, plate)[0]
                patches += int(r['patches'])
                scores['refined'].append(float(((a_ref - gt) ** 2).mean()) * 1e3)
                scores['baseOnly'].append(float(((a_base - gt) ** 2).mean()) * 1e3)
                scores['naiveKey'].append(float(((a_key - gt) ** 2).mean()) * 1e3)
            per[name] = {k: round(float(np.mean(v)), 3) for k, v in scores.items()}
            for k in acc:
                acc[k] += scores[k]
    finally:
        base.train(was[0])
        refiner.train(was[1])
    out: Dict[str, Any] = {
        'mseX1e3': {k: round(float(np.mean(v)), 3) if v else None for k, v in acc.items()},
        'perItem': per, 'items': len(per), 'backgrounds': len(bgs), 'composites': len(acc['refined']),
        'baseLongSide': int(e['baseLongSide']), 'pixelBudget': float(e['pixelBudget']),
        'flipAverage': bool(e.get('flipAverage', False)), 'growRounds': int(e.get('growRounds', 0)),
        'refinedPatches': patches, 'seconds': round(time.time() - t0, 1),
    }
    log('held-out: %s over %d composites (%.1fs)' % (out['mseX1e3'], out['composites'], out['seconds']))
    return out
