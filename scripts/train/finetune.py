#!/usr/bin/env python3
"""Fine-tune a trained model on a studio's own pairs, then export it.

  /usr/bin/python3 scripts/train/finetune.py --pairs DIR --init RUN_DIR --out FT_RUN [--base-steps 300]
      [--refiner-steps 200] [--time-budget-s S] [--device cpu|cuda]
  /usr/bin/python3 scripts/train/export.py --run FT_RUN --out models/cleanplate-bgm

DIR holds sub-folders (or is one folder) with shot.*, plate.* and optionally alpha.* (hand-retouched cutout:
RGBA or greyscale). Without alpha.* a classical difference key provides pseudo-labels on confident pixels only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cleanplate_train.tune import finetune  # noqa: E402


def main(argv=None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pairs', required=True)
    ap.add_argument('--init', required=True, help='run folder or checkpoint.pt to start from')
    ap.add_argument('--out', required=True, help='output run folder')
    ap.add_argument('--base-steps', type=int, default=None)
    ap.add_argument('--refiner-steps', type=int, default=None)
    ap.add_argument('--base-size', type=int, default=None)
    ap.add_argument('--refiner-size', type=int, default=None)
    ap.add_argument('--batch', type=int, default=None)
    ap.add_argument('--lr', type=float, default=None)
    ap.add_argument('--max-side', type=int, default=None, help='downscale pairs to this long side when loading')
    ap.add_argument('--time-budget-s', type=float, default=None)
    ap.add_argument('--device', default=None)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    ov = {k: v for k, v in {'baseSteps': a.base_steps, 'refinerSteps': a.refiner_steps, 'baseSize': a.base_size,
                            'refinerSize': a.refiner_size, 'baseBatch': a.batch, 'refinerBatch': a.batch,
                            'lr': a.lr, 'maxSide': a.max_side}.items() if v is not None}
    state = finetune(a.pairs, a.init, a.out, ov, a.device, a.time_budget_s, a.seed)
    print(json.dumps(state['summary'].get('finetune', {})))
    return 0


if __name__ == '__main__':
    sys.exit(main())
