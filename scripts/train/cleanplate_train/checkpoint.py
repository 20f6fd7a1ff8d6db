"""Checkpoints: plain dicts of tensors and JSON-able values (loadable with torch.load(weights_only=True))."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import torch

CHECKPOINT_NAME = 'checkpoint.pt'


def torch_load(path: str) -> Dict[str, Any]:
    """torch.load on CPU that works on torch 1.13 and 2.x (weights_only where available: we store plain data)."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except TypeError:  # very old torch without weights_only
        return torch.load(path, map_location='cpu')
    except Exception:  # noqa: BLE001 - fall back to full unpickling of our own file
        return torch.load(path, map_location='cpu', weights_only=False)


def save_checkpoint(run_dir: str, state: Dict[str, Any]) -> str:
    """Atomically writes run_dir/checkpoint.pt and run_dir/config.json (state['config']); returns the path."""
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CHECKPOINT_NAME)
    tmp = path + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)
    with open(os.path.join(run_dir, 'config.json'), 'w', encoding='utf-8') as f:
        json.dump(state.get('config', {}), f, indent=2)
    return path


def load_checkpoint(path_or_dir: str) -> Optional[Dict[str, Any]]:
    """Loads a checkpoint from a file or a run folder; None when there is none."""
    path = path_or_dir
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_NAME)
    if not os.path.isfile(path):
        return None
    return torch_load(path)
