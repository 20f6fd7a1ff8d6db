#!/usr/bin/env python3
"""Train the cleanplate base network and refiner (resumable, time-budgeted).

  /usr/bin/python3 scripts/train/train.py --config scripts/train/configs/tiny.json --out scripts/train/runs/tiny
  python3 scripts/train/train.py --config scripts/train/configs/gpu.json --out RUN --time-budget-s 400 --data .traindata

Stops cleanly when the budget is spent (or on SIGTERM) and saves RUN/checkpoint.pt; --resume continues it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cleanplate_train.config import load_config_or_report  # noqa: E402
from cleanplate_train.trainer import Trainer  # noqa: E402


def main(argv=None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', required=True, help='JSON config (merged over the defaults)')
    ap.add_argument('--out', required=True, help='run folder (checkpoint.pt, config.json, train-log.txt)')
    ap.add_argument('--time-budget-s', type=float, default=None, help='wall-clock budget for this invocation')
    ap.add_argument('--resume', action='store_true', help='continue from RUN/checkpoint.pt')
    ap.add_argument('--data', default=None, help='override data.root (folder with gt/ and train-extra/)')
    ap.add_argument('--backgrounds', default=None, help='override data.backgrounds')
    ap.add_argument('--workers', type=int, default=None, help='override loader.workers')
    ap.add_argument('--device', default=None, help='cpu / cuda (default: cuda when available)')
    ap.add_argument('--max-steps', type=int, default=None, help='stop (and save) after this many steps in this run')
    ap.add_argument('--init', default=None, help='start a fresh run from these weights (checkpoint or weights.pt): fine-tuning')
    ap.add_argument('--no-amp', action='store_true', help='disable bf16 autocast on CUDA')
    a = ap.parse_args(argv)
    cfg = load_config_or_report(a.config, 'train.py')
    if cfg is None:
        return 2
    if a.data:
        cfg['data']['root'] = os.path.abspath(a.data)
    if a.backgrounds:
        cfg['data']['backgrounds'] = os.path.abspath(a.backgrounds)
    if a.no_amp:
        cfg['amp'] = False
    if a.workers is not None:
        cfg['loader']['workers'] = a.workers
    tr = Trainer(cfg, a.out, a.device, a.time_budget_s, max_steps=a.max_steps, init=a.init)
    tr.log('config %s -> %s (device %s, workers %d)' % (a.config, a.out, tr.device, cfg['loader']['workers']))
    state = tr.run(resume=a.resume)
    print(json.dumps({'stage': state['stage'], 'total_steps': state['total_steps'], 'summary': state['summary']}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
