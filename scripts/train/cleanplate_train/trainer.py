"""Training loop: stage 'base' (low-resolution composites) then stage 'refiner' (full-resolution crops, base at a
random 1/4..1/12 downscale, refiner on patches picked by predicted error plus random ones), per docs/neural-contract.md.

Resumable (run_dir/checkpoint.pt), time-budgeted (the base stage gets base.timeFraction of the budget, the
refiner the rest), cosine LR with warm-up, AdamW, bf16 autocast on CUDA, gradient clipping, optional data
echoing (loader.echo optimiser steps per generated batch, see config.py).
"""
from __future__ import annotations

import math
import os
import platform
import signal
import time
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from . import losses as L
from .checkpoint import load_checkpoint, save_checkpoint
from .config import build_models, resolve_path
from .data.augment import perturb
from .data.dataset import STREAM_BASE, STREAM_REFINER, SynthDataset, choose_transfer, make_loader, shm_free_bytes
from .data.sources import Sources, load_sources
from .infer import downscale
from .model import patches as P
from .model.base import BaseNet
from .model.refiner import Refiner

STAGES = ('base', 'refiner')
Batch = Dict[str, torch.Tensor]


def to_device(raw: Dict[str, Any], device: torch.device) -> Batch:
    """uint8 loader batch (tensors or numpy arrays) -> float32 0..1 tensors on device."""
    out = {}
    for k, v in raw.items():
        t = torch.from_numpy(v) if not isinstance(v, torch.Tensor) else v
        out[k] = t.to(device, non_blocking=True).float().div_(255.0)
    return out


def lr_factor(step: int, warmup: int, progress: float, floor: float = 0.02) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay with progress 0..1 down to `floor`."""
    w = min(1.0, (step + 1) / max(1, warmup))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))
    return w * (floor + (1 - floor) * cos)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast context on CUDA (a no-op context elsewhere)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == 'cuda')


def base_loss(base: BaseNet, b: Batch, lw: Dict[str, float], amp: bool,
              err_target: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], Tuple[torch.Tensor, ...]]:
    """Base forward + losses on a batch {shot, plate, alpha, fgr[, weight, fgr_weight]} at base resolution.
    err_target defaults to |alpha_pred - alpha_gt|. Returns (loss, parts, outputs as float32)."""
    with autocast(b['shot'].device, amp):
        out = base(b['shot'], b['plate'])
    alpha, fgr_res, err, hid = [o.float() for o in out]
    fgr = (b['shot'] + fgr_res).clamp(0, 1)
    parts = L.matting_losses(alpha, fgr, b['alpha'], b['fgr'], b.get('weight'), b.get('fgr_weight'))
    tgt = (alpha - b['alpha']).abs() if err_target is None else err_target
    parts['err'] = L.error_loss(err, tgt, b.get('weight'))
    return L.combine(parts, lw), parts, (alpha, fgr_res, err, hid)


def refiner_loss(base: BaseNet, refiner: Refiner, full: Batch, rcfg: Dict[str, Any], gen: torch.Generator,
                 amp: bool) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Joint step on full-resolution crops: base at a random downscale, refiner on selected patches."""
    B, _, H, W = full['shot'].shape
    dev = full['shot'].device
    d0, d1 = rcfg['downscale']
    factor = d0 + (d1 - d0) * float(torch.rand((), generator=gen, device=dev))
    hs = max(rcfg['minBaseSize'], int(round(H / factor / 16)) * 16)
    ws = max(rcfg['minBaseSize'], int(round(W / factor / 16)) * 16)
    low = {k: downscale(v, (hs, ws)) for k, v in full.items()}
    # actual error of the upsampled coarse alpha at full res, pooled back to base res = what refinement can fix
    lw = rcfg['lossWeights']
    with autocast(dev, amp):
        out = base(low['shot'], low['plate'])
    a_l, f_l, e_l, h_l = [o.float() for o in out]
    up_err = (P.upsample(a_l.detach(), (H, W)) - full['alpha']).abs()
    err_t = F.interpolate(up_err, size=(hs, ws), mode='area')
    fgr_l = (low['shot'] + f_l).clamp(0, 1)
    bparts = L.matting_losses(a_l, fgr_l, low['alpha'], low['fgr'], low.get('weight'), low.get('fgr_weight'))
    bparts['err'] = L.error_loss(e_l, err_t, low.get('weight'))
    gh, gw = P.grid_shape(H, W)
    ce = P.cell_error(e_l.detach(), H, W)
    b1, y1, x1 = P.select_top_k(ce, int(round(rcfg['errorFraction'] * gh * gw)))
    k_rand = max(1, int(round(rcfg['randomFraction'] * gh * gw)))
    flat = torch.randint(0, gh * gw, (B * k_rand,), generator=gen, device=dev)
    b2 = torch.arange(B, device=dev).repeat_interleave(k_rand)
    cells = (torch.cat([b1, b2]), torch.cat([y1, flat // gw]), torch.cat([x1, flat % gw]))
    patches = P.extract_patches(full['shot'], full['plate'], a_l, f_l, h_l, cells)
    with autocast(dev, amp):
        ra, rf = refiner(patches)
    ra, rf = ra.float(), rf.float()
    ga, valid = P.gather_centres(full['alpha'], cells)
    gf, _ = P.gather_centres(full['fgr'], cells)
    w = valid.float()
    if 'weight' in full:
        w = w * P.gather_centres(full['weight'], cells)[0]
    fw = P.gather_centres(full['fgr_weight'], cells)[0] if 'fgr_weight' in full else None
    rfgr = (patches[:, 0:3, 4:12, 4:12] + rf).clamp(0, 1)
    rparts = L.matting_losses(ra, rfgr, ga, gf, w, fw)
    loss = L.combine(rparts, lw) + float(lw.get('base', 0.5)) * L.combine(bparts, lw)
    parts = dict(rparts)
    parts.update({'base_' + k: v for k, v in bparts.items()})
    parts['patches'] = torch.tensor(float(patches.shape[0]))
    return loss, parts


class Trainer:
    """Runs both stages under a time budget; see the module docstring."""

    def __init__(self, cfg: Dict[str, Any], run_dir: str, device: Optional[str] = None,
                 time_budget_s: Optional[float] = None, log: Optional[Callable[[str], None]] = None,
                 sources: Optional[Sources] = None, max_steps: Optional[int] = None,
                 init: Optional[str] = None) -> None:
        self.cfg = cfg
        self.init = init  # weights file (a checkpoint or weights.pt) to start a fresh run from
        self.max_steps = max_steps  # optimiser steps allowed in this invocation (None: no limit)
        self.steps_this_run = 0
        self.run_dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        self.budget = time_budget_s
        self.t0 = time.time()
        self.deadline = self.t0 + time_budget_s if time_budget_s else float('inf')
        self._log_file = open(os.path.join(run_dir, 'train-log.txt'), 'a', encoding='utf-8')
        self._log_ext = log
        self.stop_requested = False
        self.sources = sources
        if self.device.type == 'cuda':
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    # ---------------------------------------------------------------- utilities
    def log(self, msg: str) -> None:
        """Timestamped line to stdout (or the given logger) and run_dir/train-log.txt."""
        line = '[%7.1fs] %s' % (time.time() - self.t0, msg)
        (self._log_ext or print)(line)
        self._log_file.write(line + '\n')
        self._log_file.flush()

    def _load_sources(self) -> Sources:
        if self.sources is None:
            d = self.cfg['data']
            t = time.time()
            self.sources = load_sources(resolve_path(d['root']), d['trainGt'], resolve_path(d['backgrounds']),
                                        int(d['evalBackgrounds']), int(d['maxForegroundSide']), int(d['maxBackgroundSide']))
            self.log('data: %d real foregrounds, %d background photos from %s (%.1fs)' % (
                len(self.sources.foregrounds), len(self.sources.backgrounds), d['root'], time.time() - t))
            if not self.sources.foregrounds or not self.sources.backgrounds:
                self.log('WARNING: missing real data; training on procedural foregrounds/backdrops only')
        return self.sources

    def _fresh_state(self) -> Dict[str, Any]:
        torch.manual_seed(int(self.cfg['seed']))
        base, refiner = build_models(self.cfg)
        return {'version': 1, 'config': self.cfg, 'base': base.state_dict(), 'refiner': refiner.state_dict(),
                'optimizer': None, 'stage': 'base', 'stage_step': 0, 'stage_elapsed': 0.0, 'stage_budget': None,
                'total_steps': 0, 'history': [], 'summary': {'steps': {}, 'seconds': {}, 'samplesPerSecond': {}}}

    # ---------------------------------------------------------------- main entry
    def run(self, resume: bool = False) -> Dict[str, Any]:
        """Trains until both stages are done or the time budget is spent; returns the final state dict."""
        import numpy
        self.log('torch %s, numpy %s, device %s%s, %d CPUs, budget %s' % (
            torch.__version__, numpy.__version__, self.device,
            ' (%s)' % torch.cuda.get_device_name(0) if self.device.type == 'cuda' else '', os.cpu_count() or 0,
            '%.0fs' % self.budget if self.budget else 'none'))
        state = load_checkpoint(self.run_dir) if resume else None
        if state is None:
            state = self._fresh_state()
            if resume:
                self.log('no checkpoint in %s: starting fresh' % self.run_dir)
            if self.init:
                w = load_checkpoint(self.init)
                if w is None:
                    raise FileNotFoundError('no weights in %s' % self.init)
                state['base'], state['refiner'] = w['base'], w['refiner']
                self.log('initialised from %s (fine-tuning: fresh optimiser and schedule)' % self.init)
        else:
            self.log('resuming at stage %s step %d' % (state['stage'], state['stage_step']))
        base, refiner = build_models(state['config'])
        base.load_state_dict(state['base'])
        refiner.load_state_dict(state['refiner'])
        base.to(self.device)
        refiner.to(self.device)
        if self.cfg.get('channelsLast'):  # NHWC convolutions (faster bf16 cuDNN kernels); weights stay plain
            base.to(memory_format=torch.channels_last)
            refiner.to(memory_format=torch.channels_last)
        self.base, self.refiner, self.state = base, refiner, state
        prev = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, self._on_term)
        except ValueError:  # not in the main thread
            prev = None
        if state['stage'] in STAGES:
            self._load_sources()
        try:
            while state['stage'] in STAGES and not self._out_of_time() and not self.stop_requested:
                self._run_stage(state['stage'])
        finally:
            if prev is not None:
                signal.signal(signal.SIGTERM, prev)
            self.save()
        self.log('finished: stage=%s total_steps=%d' % (state['stage'], state['total_steps']))
        return state

    def _on_term(self, *_: Any) -> None:
        self.stop_requested = True

    def _out_of_time(self) -> bool:
        if self.max_steps is not None and self.steps_this_run >= self.max_steps:
            return True
        return time.time() >= self.deadline

    def save(self) -> None:
        """Writes the checkpoint (models, optimizer, progress, history) and config.json."""
        s = self.state
        s['base'] = {k: v.detach().cpu() for k, v in self.base.state_dict().items()}
        s['refiner'] = {k: v.detach().cpu() for k, v in self.refiner.state_dict().items()}
        save_checkpoint(self.run_dir, s)

    def _optimizer(self, stage: str) -> torch.optim.Optimizer:
        c = self.cfg[stage]
        if stage == 'base':
            groups = [{'params': list(self.base.parameters()), 'lr': c['lr'], 'scale': 1.0}]
        else:
            groups = [{'params': list(self.refiner.parameters()), 'lr': c['lr'], 'scale': 1.0}]
            if not self._base_frozen(stage):
                groups.append({'params': list(self.base.parameters()), 'lr': c['lr'] * c['baseLrScale'],
                               'scale': c['baseLrScale']})
        return torch.optim.AdamW(groups, lr=c['lr'], weight_decay=c['weightDecay'])

    def _base_frozen(self, stage: str) -> bool:
        """refiner.baseLrScale 0: the refiner stage trains the refiner alone (base in eval mode, no base gradients)."""
        return stage == 'refiner' and float(self.cfg['refiner']['baseLrScale']) == 0.0

    # ---------------------------------------------------------------- one stage
    def _run_stage(self, stage: str) -> None:
        s, c, d = self.state, self.cfg[stage], self.cfg['data']
        now = time.time()
        if s['stage_budget'] is None:
            if self.budget:
                frac = c['timeFraction'] if stage == 'base' else 1.0
                s['stage_budget'] = max(1.0, min(frac * self.budget, self.deadline - now)) if stage == 'base' \
                    else max(1.0, self.deadline - now)
            else:
                s['stage_budget'] = float('inf')
            self.log('stage %s: budget %.0fs, max %d steps, batch %d x %dpx' % (
                stage, s['stage_budget'], c['steps'], c['batch'], c['size']))
        if self.device.type == 'cuda':
            # The refiner sees a different patch count every step: cuDNN autotuning would re-run for each shape.
            torch.backends.cudnn.benchmark = stage == 'base'
        opt = self._optimizer(stage)
        if s.get('optimizer') is not None and s.get('optimizer_stage') == stage:
            opt.load_state_dict(s['optimizer'])
        sources = self._load_sources()
        full_res = stage == 'refiner'
        ds = SynthDataset(sources, d, int(c['size']), full_res, int(self.cfg['seed']),
                          STREAM_REFINER if full_res else STREAM_BASE)
        workers = int(self.cfg['loader']['workers'])
        prefetch = int(self.cfg['loader']['prefetch'])
        echo = max(1, int(self.cfg['loader'].get('echo', 1)))
        transfer = choose_transfer(ds, int(c['batch']), workers, prefetch, str(self.cfg['loader'].get('transfer', 'auto')))
        self.log('loader: %d workers, prefetch %d, transfer %s, echo %d (/dev/shm free %.0f MB)' % (
            workers, prefetch, transfer, echo, shm_free_bytes() / 1e6))
        # Step k trains on loaded batch k // echo, so a resumed stage continues the same sequence.
        loader = make_loader(ds, int(c['batch']), workers, prefetch, (s['stage_step'] // echo) * int(c['batch']),
                             self.device.type == 'cuda', transfer)
        it = iter(loader)
        amp = self.device.type == 'cuda' and bool(self.cfg.get('amp', True))
        self.base.train()
        self.refiner.train()
        frozen = self._base_frozen(stage)
        if frozen:  # batch-norm statistics stay as trained, and no backward pass through the base
            self.base.eval()
        self.base.requires_grad_(not frozen)
        gen = torch.Generator(device=self.device)
        params = [p for g in opt.param_groups for p in g['params']]
        win: Dict[str, float] = {}
        win_n, win_samples, win_unique, win_t0, win_wait = 0, 0, 0, time.time(), 0.0
        clean: Optional[Batch] = None
        last_log, last_ckpt = time.time(), time.time()
        stage_t0 = time.time() - s['stage_elapsed']
        skipped = 0
        try:
            while True:
                step = s['stage_step']
                elapsed = time.time() - stage_t0
                progress = 1.0 if c['steps'] <= 0 else max(step / c['steps'], elapsed / s['stage_budget'])
                if progress >= 1.0 or self._out_of_time() or self.stop_requested:
                    break
                for g in opt.param_groups:
                    g['lr'] = c['lr'] * g['scale'] * lr_factor(step, int(c['warmupSteps']), progress)
                if clean is None or step % echo == 0:
                    tw = time.time()
                    raw = next(it)
                    win_wait += time.time() - tw
                    clean = to_device(raw, self.device)
                    win_unique += int(c['batch'])
                # Echoes of a batch: a new perturbation each (seeded by the step), mirrored every other time.
                b = {k: v.flip(-1) for k, v in clean.items()} if (step % echo) % 2 == 1 else dict(clean)
                gen.manual_seed((int(self.cfg['seed']) * 1000003 + (7919 if full_res else 0) + step) % (2 ** 62))
                b['shot'], b['plate'] = perturb(b['shot'], b['plate'], gen, d, float(c.get('shiftScale', 1.0)),
                                                float(c.get('noiseScale', 1.0)))
                if full_res:
                    loss, parts = refiner_loss(self.base, self.refiner, b, c, gen, amp)
                else:
                    loss, parts, _ = base_loss(self.base, b, c['lossWeights'], amp)
                opt.zero_grad(set_to_none=True)
                if not torch.isfinite(loss):
                    skipped += 1
                    self.log('non-finite loss at step %d: skipped' % step)
                    s['stage_step'] += 1
                    continue
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
                s['stage_step'] += 1
                s['total_steps'] += 1
                self.steps_this_run += 1
                win['loss'] = win.get('loss', 0.0) + float(loss.detach())
                for k, v in parts.items():
                    win[k] = win.get(k, 0.0) + float(v.detach())
                win_n += 1
                win_samples += int(c['batch'])
                t = time.time()
                if win_n >= int(self.cfg['logEverySteps']) or t - last_log >= float(self.cfg['logEveryS']):
                    sps = win_samples / max(1e-6, t - win_t0)
                    avg = {k: v / win_n for k, v in win.items()}
                    rec = {'stage': stage, 'step': s['stage_step'], 't': round(t - self.t0, 1),
                           'lr': opt.param_groups[0]['lr'], 'samplesPerSecond': round(sps, 2),
                           'uniqueSamplesPerSecond': round(win_unique / max(1e-6, t - win_t0), 2),
                           'dataWait': round(win_wait / max(1e-6, t - win_t0), 3)}
                    rec.update({k: round(v, 5) for k, v in avg.items()})
                    s['history'].append(rec)
                    self.log('%s step %d loss %.4f (%s) lr %.2e %.1f samples/s data-wait %.0f%%' % (
                        stage, s['stage_step'], avg['loss'],
                        ' '.join('%s=%.4f' % (k, v) for k, v in avg.items() if k not in ('loss', 'patches')),
                        rec['lr'], sps, 100 * rec['dataWait']))
                    win, win_n, win_samples, win_unique, win_t0, win_wait, last_log = {}, 0, 0, 0, t, 0.0, t
                if t - last_ckpt >= float(self.cfg['checkpointEveryS']):
                    s['stage_elapsed'] = t - stage_t0
                    s['optimizer'], s['optimizer_stage'] = opt.state_dict(), stage
                    self.save()
                    last_ckpt = t
        finally:
            del it
        s['stage_elapsed'] = time.time() - stage_t0
        done = (s['stage_step'] >= c['steps'] or s['stage_elapsed'] >= s['stage_budget'])
        hist = [h for h in s['history'] if h['stage'] == stage]
        summ = s['summary']
        summ['steps'][stage] = s['stage_step']
        summ['seconds'][stage] = round(s['stage_elapsed'], 1)
        if hist:
            summ['samplesPerSecond'][stage] = round(sum(h['samplesPerSecond'] for h in hist[1:] or hist) / len(hist[1:] or hist), 2)
        summ['hardware'] = torch.cuda.get_device_name(0) if self.device.type == 'cuda' else 'cpu (%s)' % platform.machine()
        summ['torch'] = str(torch.__version__)
        summ['config'] = self.cfg.get('name')
        summ['heldOutGt'] = self.cfg['data']['heldOutGt']
        summ['data'] = {'realForegrounds': [f.name for f in (self.sources.foregrounds if self.sources else [])],
                        'backgroundPhotos': len(self.sources.backgrounds) if self.sources else 0,
                        'procedural': 'garments (knit/weave/stripes/prints; fringe, lace, fuzz, sheer) on mannequins'}
        if skipped:
            summ.setdefault('skippedSteps', {})[stage] = skipped
        if done:
            self.log('stage %s done: %d steps in %.0fs' % (stage, s['stage_step'], s['stage_elapsed']))
            nxt = STAGES.index(stage) + 1
            s['stage'] = STAGES[nxt] if nxt < len(STAGES) else 'done'
            s['stage_step'], s['stage_elapsed'], s['stage_budget'] = 0, 0.0, None
            s['optimizer'], s['optimizer_stage'] = None, None
        else:
            s['optimizer'], s['optimizer_stage'] = opt.state_dict(), stage
        self.save()
