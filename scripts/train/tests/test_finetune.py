"""Fine-tuning on a tiny folder of pairs (one with an alpha target, one with pseudo-labels), and the key."""
import os

import numpy as np
import torch
from PIL import Image

from cleanplate_train.checkpoint import load_checkpoint, save_checkpoint
from cleanplate_train.config import build_models
from cleanplate_train.key import difference_key, pseudo_labels
from cleanplate_train.tune import find_pairs, finetune, load_pair


def _pair(rng, h=72, w=96):
    yy, xx = np.mgrid[0:h, 0:w]
    plate = np.stack([0.3 + 0.4 * xx / w, 0.5 + 0.2 * yy / h, np.full((h, w), 0.6)], -1)
    alpha = ((np.abs(yy - h / 2) < h / 4) & (np.abs(xx - w / 2) < w / 4)).astype(np.float64)
    fg = np.array([0.9, 0.1, 0.2])
    shot = alpha[..., None] * fg + (1 - alpha[..., None]) * plate
    noise = lambda: rng.normal(0, 0.01, plate.shape)  # noqa: E731
    u8 = lambda x: (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)  # noqa: E731
    return u8(shot + noise()), u8(plate + noise()), u8(alpha)


def test_pseudo_labels_are_confident_away_from_edges():
    shot, plate, alpha = _pair(np.random.default_rng(0))
    s, p = shot.astype(np.float32) / 255, plate.astype(np.float32) / 255
    key, _, sigma = difference_key(s, p)
    assert 0.005 < sigma < 0.03
    assert np.abs(key - alpha / 255).mean() < 0.05
    pl = pseudo_labels(s, p, margin=3)
    a, w = pl['alpha'], pl['weight']
    assert w[36, 48] == 1 and a[36, 48] == 1       # object centre: confident foreground
    assert w[2, 2] == 1 and a[2, 2] == 0           # corner: confident background
    assert w[18, 48] == 0                          # on the edge: no label
    assert ((a == 1) <= (alpha > 0)).all()


def test_finetune_tiny_folder(tiny_cfg, tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / 'pairs'
    for name, with_alpha in (('p1', True), ('p2', False)):
        shot, plate, alpha = _pair(rng)
        os.makedirs(root / name)
        Image.fromarray(shot).save(root / name / 'shot.jpg', quality=95)
        Image.fromarray(plate).save(root / name / 'plate.png')
        if with_alpha:
            rgba = np.concatenate([shot, alpha[..., None]], -1)
            Image.fromarray(rgba).save(root / name / 'alpha.png')
    assert [os.path.basename(p) for p in find_pairs(str(root))] == ['p1', 'p2']
    p1 = load_pair(str(root / 'p1'), 0, 3)
    assert not p1.pseudo and p1.weight.min() == 255
    torch.manual_seed(0)
    base, refiner = build_models(tiny_cfg)
    init = str(tmp_path / 'init')
    save_checkpoint(init, {'config': tiny_cfg, 'base': base.state_dict(), 'refiner': refiner.state_dict(),
                           'total_steps': 0, 'summary': {}})
    out = str(tmp_path / 'ft')
    state = finetune(str(root), init, out, {'baseSteps': 2, 'refinerSteps': 2, 'baseSize': 48, 'refinerSize': 48,
                                            'baseBatch': 2, 'refinerBatch': 2, 'downscale': [2, 3], 'minBaseSize': 16},
                     device='cpu', log=lambda *_: None)
    assert state['summary']['finetune']['pseudoLabels'] == ['p2']
    ck = load_checkpoint(out)
    assert ck['stage'] == 'done' and len(ck['history']) == 4
    changed = any(not torch.equal(ck['base'][k], v) for k, v in base.state_dict().items() if v.dtype.is_floating_point)
    assert changed


def test_shipped_weights_load_and_match_the_model_contract():
    """models/cleanplate-bgm/weights.pt (the --init of studio fine-tuning) is the architecture model.json describes."""
    import json
    from cleanplate_train.config import REPO_ROOT
    folder = os.path.join(REPO_ROOT, 'models', 'cleanplate-bgm')
    w = load_checkpoint(os.path.join(folder, 'weights.pt'))
    assert w is not None
    base, refiner = build_models(w['config'])
    base.load_state_dict(w['base'])  # strict: every tensor present with its shape
    refiner.load_state_dict(w['refiner'])
    info = json.load(open(os.path.join(folder, 'model.json')))
    base.eval()
    torch.manual_seed(0)
    # A photo-like frame (smooth colour regions and sensor noise; per-pixel uniform noise is nothing a camera
    # sees, and there a model may answer anything).
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 12), size=(128, 192), mode='bilinear',
                                             align_corners=False)
    shot = (smooth + 0.02 * torch.randn(1, 3, 128, 192)).clamp(0, 1)
    with torch.no_grad():
        alpha, fgr_res, err, hidden = base(shot, shot)
    assert hidden.shape[1] == info['hiddenChannels']
    assert info['training']['steps']['base'] == w['summary']['steps']['base']
    # Shot identical to plate: nothing is foreground.
    assert float(alpha.mean()) < 0.01 and float(alpha.max()) < 0.1
