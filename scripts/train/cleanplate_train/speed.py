"""Where the base stage's time goes, measured on the training machine itself.

The H100 runs trained at 222-256 samples/s with the loader never waited for (data-wait ~0 %), far below what
the GPU's arithmetic allows for this network; `probe` finds out what bounds such a step, so that a later run
can choose its batch size, memory format and worker count from numbers instead of guesses. It times the base
stage's optimiser step exactly as trainer.py runs it (device-side perturbation, forward, losses, the
finiteness check and the logged values read back, backward, clipping, AdamW) on random batches, in variants:

  reference      the config's batch and size and memory format
  hostFloor      batch 2 at 64 px: what Python and kernel launches alone cost per step
  doubleBatch    twice the batch: well under twice the time means the step is bound by the host, not the GPU
  memoryFormat   the reference with channels_last toggled
  noSync         the reference without reading loss values back each step (trainer.py reads them every step)
  generator      the data generator in this process: ms per composite on one core; times loader.workers gives
                 the loader's ceiling in samples/s

Variants run in that order (generator first: it needs no device); one whose guessed time (a second to build
the model plus the reference's steady step time scaled by the pixels per step: the reference itself also pays
the device's start-up, ~9 s on the H100) does not fit the budget left is listed under 'skipped'. Nothing here is trained or saved; the numbers only describe this machine.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .config import build_models
from .data.augment import perturb
from .data.compose import make_sample, sample_rng
from .data.sources import Sources
from .trainer import base_loss

Log = Callable[[str], None]


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_base_step(cfg: Dict[str, Any], device: torch.device, batch: int, size: int, channels_last: bool,
                   read_back: bool = True, warmup: int = 3, steps: int = 5) -> float:
    """Milliseconds per base-stage optimiser step on a random [batch, *, size, size] batch (fresh weights)."""
    torch.manual_seed(0)
    base, _ = build_models(cfg)
    base.to(device).train()
    if channels_last:
        base.to(memory_format=torch.channels_last)
    b = {k: torch.rand(batch, c, size, size, device=device) for k, c in (('shot', 3), ('plate', 3), ('alpha', 1), ('fgr', 3))}
    params = list(base.parameters())
    opt = torch.optim.AdamW(params, lr=1e-6)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    amp = device.type == 'cuda' and bool(cfg.get('amp', True))
    c, d = cfg['base'], cfg['data']

    def one() -> None:
        x = dict(b)
        x['shot'], x['plate'] = perturb(x['shot'], x['plate'], gen, d, float(c.get('shiftScale', 1.0)),
                                        float(c.get('noiseScale', 1.0)))
        loss, parts, _ = base_loss(base, x, c['lossWeights'], amp)
        opt.zero_grad(set_to_none=True)
        if read_back and not torch.isfinite(loss):
            return
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if read_back:
            _ = [float(v.detach()) for v in parts.values()]

    for _ in range(warmup):
        one()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(device)
    return (time.perf_counter() - t) / steps * 1000.0


def time_generator(cfg: Dict[str, Any], sources: Sources, size: int, samples: int = 8) -> float:
    """Milliseconds per base-stage composite of the data generator in this process (one core)."""
    d = cfg['data']
    make_sample(sample_rng(int(cfg['seed']), 9, 0), sources, size, size, d, False)
    t = time.perf_counter()
    for i in range(samples):
        make_sample(sample_rng(int(cfg['seed']), 9, 1 + i), sources, size, size, d, False)
    return (time.perf_counter() - t) / samples * 1000.0


def probe(cfg: Dict[str, Any], device: torch.device, budget_s: float, sources: Optional[Sources] = None,
          log: Optional[Log] = None, on_result: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Runs the variants of the module docstring within `budget_s`; returns {device, variants, skipped}.
    Each variant: {'msPerStep', 'samplesPerSecond', 'batch', 'size', 'channelsLast'} (generator: msPerSample
    and loaderCeiling). `on_result` gets the report after every variant (write it out: a kill keeps what ran)."""
    t0 = time.perf_counter()
    c = cfg['base']
    batch, size, cl = int(c['batch']), int(c['size']), bool(cfg.get('channelsLast'))
    workers = max(1, int(cfg['loader']['workers']))
    report: Dict[str, Any] = {'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
                              'torch': str(torch.__version__), 'variants': {}, 'skipped': []}
    say = log or (lambda m: None)

    def step(b: int, s: int, fmt: bool, read_back: bool = True) -> Callable[[], Dict[str, Any]]:
        def run() -> Dict[str, Any]:
            ms = time_base_step(cfg, device, b, s, fmt, read_back)
            return {'msPerStep': round(ms, 2), 'samplesPerSecond': round(b * 1000.0 / ms, 1), 'batch': b, 'size': s,
                    'channelsLast': fmt, 'readBack': read_back}
        return run

    def generator() -> Dict[str, Any]:
        ms = time_generator(cfg, sources or Sources(), size)
        return {'msPerSample': round(ms, 1), 'workers': workers, 'loaderCeiling': round(workers * 1000.0 / ms, 1)}

    plan: List[Tuple[str, Callable[[], Dict[str, Any]]]] = [
        ('generator', generator),
        ('reference', step(batch, size, cl)),
        ('hostFloor', step(2, 64, cl)),
        ('doubleBatch', step(2 * batch, size, cl)),
        ('memoryFormat', step(batch, size, not cl)),
        ('noSync', step(batch, size, cl, read_back=False)),
    ]
    work = {'generator': 0.0, 'reference': 1.0, 'hostFloor': 2 * 64 * 64 / (batch * size * size), 'doubleBatch': 2.0,
            'memoryFormat': 1.0, 'noSync': 1.0}
    ref_s = 0.0  # steady seconds of the reference's warmup + timed steps; the first variant also pays device start-up
    for name, run in plan:
        left = budget_s - (time.perf_counter() - t0)
        guess = 1.0 + 1.5 * ref_s * max(work[name], 0.05)  # model build + steps scaled by the pixels per step
        if left < guess:
            report['skipped'].append(name)
            continue
        t = time.perf_counter()
        try:
            report['variants'][name] = run()
        except RuntimeError as e:  # e.g. out of memory at twice the batch: recorded, the rest still runs
            report['variants'][name] = {'error': str(e).splitlines()[0][:200]}
            if device.type == 'cuda':
                torch.cuda.empty_cache()
        if name == 'reference' and 'msPerStep' in report['variants'][name]:
            ref_s = report['variants'][name]['msPerStep'] * 8 / 1000.0  # time_base_step: 3 warmup + 5 timed
        elif name == 'reference':
            ref_s = time.perf_counter() - t
        say('speed probe: %s %s (%.1fs)' % (name, report['variants'][name], time.perf_counter() - t))
        if on_result:
            on_result(report)
    return report
