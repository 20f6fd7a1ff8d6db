#!/usr/bin/env python3
"""Score a training run on the held-out GT items (MSE x 1e3: base+refiner, base only, naive key).

  /usr/bin/python3 scripts/train/evaluate.py --run RUN_DIR [--data ../shared/data] [--out metrics.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cleanplate_train.checkpoint import load_checkpoint  # noqa: E402
from cleanplate_train.config import build_models  # noqa: E402
from cleanplate_train.evaluate import evaluate  # noqa: E402


def main(argv=None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', required=True)
    ap.add_argument('--data', default=None, help='override data.root')
    ap.add_argument('--backgrounds', default=None, help='override data.backgrounds')
    ap.add_argument('--device', default=None)
    ap.add_argument('--out', default=None, help='write the metrics JSON here')
    a = ap.parse_args(argv)
    ck = load_checkpoint(a.run)
    if ck is None:
        ap.error('no checkpoint in %s' % a.run)
    cfg = ck['config']
    if a.data:
        cfg['data']['root'] = os.path.abspath(a.data)
    if a.backgrounds:
        cfg['data']['backgrounds'] = os.path.abspath(a.backgrounds)
    base, refiner = build_models(cfg)
    base.load_state_dict(ck['base'])
    refiner.load_state_dict(ck['refiner'])
    dev = a.device or ('cuda' if __import__('torch').cuda.is_available() else 'cpu')
    base.to(dev)
    refiner.to(dev)
    m = evaluate(base, refiner, cfg, dev)
    text = json.dumps(m, indent=2)
    if a.out:
        with open(a.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
