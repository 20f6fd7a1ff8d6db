#!/usr/bin/env python3
"""Export a trained run to ONNX (base.onnx, refiner.onnx, model.json), or write the tiny parity fixture.

  /usr/bin/python3 scripts/train/export.py --run RUN_DIR --out models/cleanplate-bgm [--version V]
  /usr/bin/python3 scripts/train/export.py --tiny [--out test/fixtures/bgm-tiny]

Checks: onnx.checker + I/O names (when the onnx package exists); onnxruntime vs PyTorch max abs diff < 1e-4
(when onnxruntime is importable, e.g. on the GPU machine). Exit code 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cleanplate_train import config as C  # noqa: E402
from cleanplate_train import onnx_export as X  # noqa: E402
from cleanplate_train.checkpoint import load_checkpoint  # noqa: E402
from cleanplate_train.infer import downscale  # noqa: E402
from cleanplate_train.model import patches as P  # noqa: E402
from cleanplate_train.model.refiner import Refiner, RefinerConfig  # noqa: E402

PARITY_TOLERANCE = 1e-4
TINY_SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))


def _write_bin(out_dir: str, name: str, t: torch.Tensor) -> Dict[str, Any]:
    arr = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4'))
    arr.tofile(os.path.join(out_dir, name))
    return {'file': name, 'shape': list(arr.shape)}


def _randomise_batchnorm(m: torch.nn.Module, g: torch.Generator) -> None:
    """Gives BatchNorm layers non-trivial statistics so the random fixture exercises them."""
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_((torch.rand(n, generator=g) - 0.5) * 0.2)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_((torch.rand(n, generator=g) - 0.5) * 0.4)


def _fixture_images(g: torch.Generator, H: int, W: int) -> Dict[str, torch.Tensor]:
    """Smooth plate with noise, shot = plate with a soft disc and a thin bar over it (deterministic)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing='ij')
    plate = torch.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * xx * yy]).unsqueeze(0)
    plate = (plate + 0.02 * torch.randn(1, 3, H, W, generator=g)).clamp(0, 1)
    d = ((yy - 0.5) ** 2 + ((xx - 0.45) * W / H) ** 2).sqrt()
    a = ((0.3 - d) / 0.05).clamp(0, 1)
    a = torch.maximum(a, ((xx - 0.8).abs() < 0.02).float() * 0.7)
    fg = torch.tensor([0.9, 0.2, 0.1]).view(1, 3, 1, 1)
    shot = (a * fg + (1 - a) * plate + 0.02 * torch.randn(1, 3, H, W, generator=g)).clamp(0, 1)
    return {'shot': shot, 'plate': plate}


def write_tiny_fixture(out_dir: str) -> Dict[str, Any]:
    """Builds the random-weight tiny model (configs/tiny.json widths) and writes the committed parity fixture."""
    os.makedirs(out_dir, exist_ok=True)
    cfg = C.load_config(os.path.join(HERE, 'configs', 'tiny.json'))
    torch.manual_seed(TINY_SEED)
    base, _ = C.build_models(cfg)
    refiner = Refiner(RefinerConfig.from_dict(cfg['model']['refiner']), zero_init_out=False)
    g = torch.Generator().manual_seed(TINY_SEED)
    _randomise_batchnorm(base, g)
    _randomise_batchnorm(refiner, g)
    base.eval()
    refiner.eval()
    h, w, H, W = 32, 48, 61, 90
    imgs = _fixture_images(g, H, W)
    shot_l, plate_l = downscale(imgs['shot'], (h, w)), downscale(imgs['plate'], (h, w))
    with torch.no_grad():
        alpha_l, fgr_l, err_l, hid_l = base(shot_l, plate_l)
        gh, gw = P.grid_shape(H, W)
        cells = (torch.zeros(4, dtype=torch.long), torch.tensor([0, gh - 1, 3, gh - 1]), torch.tensor([0, gw - 1, 5, 0]))
        patches = P.extract_patches(imgs['shot'], imgs['plate'], alpha_l, fgr_l, hid_l, cells)
        ref_a, ref_f = refiner(patches)
        ce = P.cell_error(err_l, H, W)
        k = P.budget_k(H, W, 0.08)
        _, sel_y, sel_x = P.select_top_k(ce, k)
    X.export_models(base, refiner, out_dir, 'tiny-random-%d' % TINY_SEED, h,
                    {'kind': 'random weights (test fixture, not trained)', 'seed': TINY_SEED,
                     'config': 'scripts/train/configs/tiny.json', 'heldOutGt': cfg['data']['heldOutGt'],
                     'params': {'base': X.param_count(base), 'refiner': X.param_count(refiner)}})
    wb = lambda name, t: _write_bin(out_dir, name, t)  # noqa: E731
    parity = {
        'format': 'cleanplate-bgm-parity/1',
        'dtype': 'float32 little-endian, NCHW, row-major',
        'tolerance': PARITY_TOLERANCE,
        'base': {
            'h': h, 'w': w, 'seed': TINY_SEED,
            'inputs': {'shot': wb('parity-shot.bin', shot_l), 'plate': wb('parity-plate.bin', plate_l)},
            'outputs': {'alpha': wb('parity-base-alpha.bin', alpha_l), 'fgr_res': wb('parity-base-fgr_res.bin', fgr_l),
                        'error': wb('parity-base-error.bin', err_l), 'hidden': wb('parity-base-hidden.bin', hid_l)},
            'note': 'base inputs = full-res images below downscaled (bilinear, antialias) to h x w',
        },
        'patches': {
            'fullH': H, 'fullW': W,
            'fullShot': wb('parity-full-shot.bin', imgs['shot']), 'fullPlate': wb('parity-full-plate.bin', imgs['plate']),
            'cells': [[int(a), int(b)] for a, b in zip(cells[1], cells[2])],
            'note': 'parity-patches.bin = contract extraction of these [cy, cx] cells from the full-res shot/plate and '
                    'the base outputs above (bilinear half-pixel upsampling to fullH x fullW, clamped reads)',
        },
        'refiner': {
            'n': 4, 'inputs': {'patches': wb('parity-patches.bin', patches)},
            'outputs': {'alpha': wb('parity-ref-alpha.bin', ref_a), 'fgr_res': wb('parity-ref-fgr_res.bin', ref_f)},
        },
        'selection': {
            'cellsH': gh, 'cellsW': gw, 'cellError': wb('parity-cell-error.bin', ce), 'pixelBudget': 0.08, 'k': k,
            'topCells': [[int(a), int(b)] for a, b in zip(sel_y, sel_x)],
            'note': 'cellError = base error bilinearly resampled to cellsH x cellsW; topCells in descending error',
        },
    }
    with open(os.path.join(out_dir, 'parity.json'), 'w', encoding='utf-8') as f:
        json.dump(parity, f, indent=2)
        f.write('\n')
    report = X.check_onnx(out_dir)
    report['parity'] = X.ort_parity(base, refiner, out_dir)
    report['totalBytes'] = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    return report


def export_run(run_dir: str, out_dir: str, version: str = '') -> Dict[str, Any]:
    """Exports the latest checkpoint of a training run; returns the check report (raises when parity fails)."""
    ck = load_checkpoint(run_dir)
    if ck is None:
        raise FileNotFoundError('no checkpoint in %s' % run_dir)
    cfg = ck['config']
    base, refiner = C.build_models(cfg)
    base.load_state_dict(ck['base'])
    refiner.load_state_dict(ck['refiner'])
    training = dict(ck.get('summary', {}))
    training.setdefault('heldOutGt', cfg['data']['heldOutGt'])
    training['params'] = {'base': X.param_count(base), 'refiner': X.param_count(refiner)}
    X.export_models(base, refiner, out_dir, version or '%s-%s' % (cfg.get('name', 'run'), ck.get('total_steps', 0)),
                    int(cfg['base']['size']), training)
    report = X.check_onnx(out_dir)
    report['parity'] = X.ort_parity(base, refiner, out_dir)
    report['params'] = training['params']
    return report


def main() -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', help='training run folder (holds checkpoint.pt)')
    ap.add_argument('--out', help='output folder')
    ap.add_argument('--version', default='')
    ap.add_argument('--tiny', action='store_true', help='write the random-weight parity fixture')
    ap.add_argument('--report', default=None, help='also write the check report JSON here')
    a = ap.parse_args()
    if a.tiny:
        report = write_tiny_fixture(a.out or os.path.join(C.REPO_ROOT, 'test', 'fixtures', 'bgm-tiny'))
    else:
        if not a.run or not a.out:
            ap.error('--run and --out are required (or --tiny)')
        report = export_run(a.run, a.out, a.version)
    print(json.dumps(report, indent=2))
    if a.report:
        with open(a.report, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
    bad = {k: v for k, v in (report.get('parity') or {}).items() if not v < PARITY_TOLERANCE}
    if bad:
        print('PARITY FAILED: %s' % bad, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
