#!/usr/bin/env python3
"""Measure what bounds a training step on this machine (see cleanplate_train/speed.py), within a time budget.

  python3 scripts/train/probe_speed.py --config scripts/train/configs/gpu-ft2.json --data .traindata \
      --backgrounds .traindata/backgrounds --budget-s 20 --out speed-probe.json

Writes the JSON report after every variant (a kill keeps what ran) and prints it at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from cleanplate_train.config import load_config_or_report, resolve_path  # noqa: E402
from cleanplate_train.data.sources import load_sources  # noqa: E402
from cleanplate_train.speed import probe  # noqa: E402


def main(argv=None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--config', required=True, help='the training config whose base stage is measured')
    ap.add_argument('--data', default=None, help='override data.root (real foregrounds for the generator timing)')
    ap.add_argument('--backgrounds', default=None, help='override data.backgrounds')
    ap.add_argument('--device', default=None, help='cpu / cuda (default: cuda when available)')
    ap.add_argument('--budget-s', type=float, default=20.0, help='stop starting new variants after this many seconds')
    ap.add_argument('--out', default=None, help='write the JSON report here')
    a = ap.parse_args(argv)
    cfg = load_config_or_report(a.config, 'probe_speed.py')
    if cfg is None:
        return 2
    d = cfg['data']
    root = os.path.abspath(a.data) if a.data else resolve_path(d['root'])
    bgs = os.path.abspath(a.backgrounds) if a.backgrounds else resolve_path(d['backgrounds'])
    sources = load_sources(root, d['trainGt'], bgs, int(d['evalBackgrounds']), int(d['maxForegroundSide']),
                           int(d['maxBackgroundSide']))
    device = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda':  # as the trainer's base stage runs
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def write(report) -> None:
        if a.out:
            tmp = a.out + '.tmp'
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(report, f, indent=1)
            os.replace(tmp, a.out)

    report = probe(cfg, device, a.budget_s, sources, log=lambda m: print(m, flush=True), on_result=write)
    write(report)
    print(json.dumps(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
