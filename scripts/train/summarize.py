#!/usr/bin/env python3
"""Writes the short metrics JSON of a training run: loss curve, samples/s, steps, held-out scores, export report.

  python3 scripts/train/summarize.py --run RUN --out metrics.json [--heldout heldout.json] [--export export.json]
  python3 scripts/train/summarize.py --run RUN --weights OUT/checkpoint/weights.pt   (weights-only copy)
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from cleanplate_train.checkpoint import load_checkpoint  # noqa: E402

CURVE_KEYS = ('stage', 'step', 't', 'loss', 'alpha', 'alphaMse', 'solid', 'base_alpha', 'base_alphaMse', 'base_solid', 'err', 'base_err', 'lr', 'samplesPerSecond', 'dataWait')


def _read_json(path):
    if path and os.path.isfile(path):
        with open(path, 'r', encoding='utf-8') as f:
            try:
                return json.load(f)
            except json.JSONDecodeError:
                return None
    return None


def main(argv=None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', required=True)
    ap.add_argument('--out', default=None)
    ap.add_argument('--heldout', default=None)
    ap.add_argument('--export', default=None)
    ap.add_argument('--weights', default=None, help='write a weights-only checkpoint copy (no optimizer) here')
    a = ap.parse_args(argv)
    ck = load_checkpoint(a.run)
    if ck is None:
        print('no checkpoint in %s' % a.run, file=sys.stderr)
        return 1
    if a.weights:
        os.makedirs(os.path.dirname(os.path.abspath(a.weights)), exist_ok=True)
        slim = {k: v for k, v in ck.items() if k != 'optimizer'}
        slim['optimizer'] = None
        torch.save(slim, a.weights)
        print('weights: %s (%.1f MB)' % (a.weights, os.path.getsize(a.weights) / 1e6))
    if a.out:
        m = {
            'stage': ck.get('stage'), 'totalSteps': ck.get('total_steps'), 'summary': ck.get('summary', {}),
            'lossCurve': [{k: h[k] for k in CURVE_KEYS if k in h} for h in ck.get('history', [])],
            'heldOut': _read_json(a.heldout), 'export': _read_json(a.export),
        }
        with open(a.out, 'w', encoding='utf-8') as f:
            json.dump(m, f, indent=1)
            f.write('\n')
        print('metrics: %s' % a.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
