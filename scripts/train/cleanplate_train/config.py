"""Training configuration (JSON) with defaults, and model construction from it.

A config file only needs the keys it changes; `load_config` deep-merges it over DEFAULTS.
Paths in "data" are resolved against the repository root unless absolute.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from .model.base import BaseConfig, BaseNet
from .model.refiner import Refiner, RefinerConfig

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

ALL_GT = ['alphamatting-GT%02d' % i for i in range(1, 28, 2)] + ['lemur']
TRAIN_GT = ['alphamatting-GT01', 'alphamatting-GT03', 'alphamatting-GT05', 'alphamatting-GT07',
            'alphamatting-GT09', 'alphamatting-GT11', 'alphamatting-GT13', 'lemur']
HELD_OUT_GT = ['alphamatting-GT15', 'alphamatting-GT17', 'alphamatting-GT19', 'alphamatting-GT21',
               'alphamatting-GT23', 'alphamatting-GT25', 'alphamatting-GT27']

DEFAULTS: Dict[str, Any] = {
    'name': 'default',
    'seed': 1,
    'model': {'base': BaseConfig().to_dict(), 'refiner': RefinerConfig().to_dict()},
    'data': {
        # folder with gt/ and train-extra/ (as in ../shared/data or the carried .traindata)
        'root': '../shared/data',
        'backgrounds': 'scripts/train/cache/backgrounds',
        'trainGt': TRAIN_GT,
        'heldOutGt': HELD_OUT_GT,
        'evalBackgrounds': 3,          # the last N wallpaper files are kept out of training (held-out scoring)
        'maxForegroundSide': 1024,     # real foregrounds are downscaled to this at load time
        'maxBackgroundSide': 1024,
        'fgMix': {'garment': 0.62, 'real': 0.33, 'empty': 0.05},
        'bgMix': {'studio': 0.6, 'photo': 0.4},
        'hardCase': 0.15,              # white-on-white / black-on-black garment over mannequin
        'distractorProb': 0.0,         # share of samples with 1-2 foreground-like objects in the background (both frames)
        'realRecolour': 0.0,           # share of real foregrounds whose colour channels are permuted
        'shadowProb': 0.6,
        'shadowStrength': [0.08, 0.45],  # darkening of the backdrop under the subject's soft shadow
        'jpegProb': 0.6,
        'blurProb': 0.3,
        'maxShiftPx': 3.0,
        'maxRotDeg': 0.5,
        'noiseSigma': [0.0, 0.025],    # sensor noise (GPU side), per image
        'gain': [0.9, 1.1],            # plate exposure x WB gains (GPU side)
        'offset': [-0.02, 0.02],
    },
    'base': {'size': 512, 'batch': 24, 'lr': 1e-3, 'weightDecay': 1e-4, 'steps': 1000000, 'timeFraction': 0.65,
             'warmupSteps': 100, 'shiftScale': 0.3, 'noiseScale': 0.6,
             'lossWeights': {'alpha': 1.0, 'alphaMse': 0.0, 'solid': 0.0, 'grad': 1.0, 'fgr': 1.0, 'err': 1.0}},
    'refiner': {'size': 768, 'batch': 8, 'lr': 5e-4, 'baseLrScale': 0.2, 'weightDecay': 1e-4, 'steps': 1000000,
                'timeFraction': 0.35, 'warmupSteps': 20, 'downscale': [4, 12], 'minBaseSize': 64,
                'errorFraction': 0.06, 'randomFraction': 0.02, 'shiftScale': 1.0, 'noiseScale': 1.0,
                'lossWeights': {'alpha': 1.0, 'alphaMse': 0.0, 'solid': 0.0, 'grad': 1.0, 'fgr': 1.0, 'err': 1.0, 'base': 0.5}},
    # transfer: auto | shm | pipe. echo: optimiser steps per loaded batch (data echoing, Choi et al. 2019: when
    # the generator is the bottleneck, each batch is reused with a new device-side perturbation, every other
    # time mirrored left-right).
    'loader': {'workers': 0, 'prefetch': 4, 'transfer': 'auto', 'echo': 1},
    'amp': True,                     # bf16 autocast (CUDA only)
    'channelsLast': False,           # NHWC memory format for the networks
    'logEveryS': 10.0,
    'logEverySteps': 20,
    'checkpointEveryS': 120.0,
    # flipAverage off and growRounds 0 keep the held-out numbers comparable with earlier runs' logs (the engine's
    # defaults are on and 2)
    'eval': {'baseLongSide': 256, 'pixelBudget': 0.08, 'flipAverage': False, 'growRounds': 0, 'backgrounds': 3, 'maxSide': 800, 'seed': 7},
}


def deep_merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    """Returns base with `over` merged in recursively (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def unknown_keys(base: Dict[str, Any], over: Dict[str, Any], prefix: str = '') -> List[str]:
    """Dotted paths of the keys in `over` that `base` does not have (recursing where both are dicts)."""
    out: List[str] = []
    for k, v in over.items():
        if k not in base:
            out.append(prefix + k)
        elif isinstance(v, dict) and isinstance(base[k], dict):
            out += unknown_keys(base[k], v, prefix + k + '.')
    return out


def load_config(path: str) -> Dict[str, Any]:
    """Reads a JSON config file and merges it over DEFAULTS; a key DEFAULTS lacks (a typo, an option that
    does not exist) is an error rather than silently ignored."""
    with open(path, 'r', encoding='utf-8') as f:
        over = json.load(f)
    bad = unknown_keys(DEFAULTS, over)
    if bad:
        raise ValueError('%s: unknown config keys: %s' % (path, ', '.join(bad)))
    return deep_merge(DEFAULTS, over)


def load_config_or_report(path: str, prog: str) -> Optional[Dict[str, Any]]:
    """`load_config` for the command-line tools: a missing, unreadable or invalid file is one line on stderr
    (`prog: reason`) and None, for the caller to exit with status 2."""
    try:
        return load_config(path)
    except (OSError, ValueError) as e:
        print('%s: %s' % (prog, e), file=sys.stderr)
        return None


def resolve_path(p: str) -> str:
    """Absolute path: p itself when absolute, else relative to the repository root."""
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(REPO_ROOT, p))


def build_models(cfg: Dict[str, Any]) -> Tuple[BaseNet, Refiner]:
    """Fresh base network and refiner with the widths of cfg['model']."""
    return (BaseNet(BaseConfig.from_dict(cfg['model']['base'])),
            Refiner(RefinerConfig.from_dict(cfg['model']['refiner'])))
