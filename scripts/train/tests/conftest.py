"""Shared pytest fixtures: import path, the tiny config (procedural data only unless a test asks for real data)."""
import copy
import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_DIR = os.path.dirname(HERE)
sys.path.insert(0, TRAIN_DIR)

from cleanplate_train import config as C  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
SHARED_DATA = os.path.normpath(os.path.join(C.REPO_ROOT, '..', 'shared', 'data'))
TINY_JSON = os.path.join(TRAIN_DIR, 'configs', 'tiny.json')


@pytest.fixture
def tiny_cfg(tmp_path):
    """tiny.json with no real data (fast, works without ../shared/data)."""
    cfg = C.load_config(TINY_JSON)
    cfg['data']['root'] = str(tmp_path / 'no-data')
    cfg['data']['backgrounds'] = str(tmp_path / 'no-backgrounds')
    return copy.deepcopy(cfg)


def write_json(path, obj):
    """Writes obj as JSON to path (helper for tests)."""
    import json
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f)
    return str(path)
