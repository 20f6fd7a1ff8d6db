"""Training: a step reduces the loss on a fixed batch; train.py end to end with resume; evaluation runs."""
import json
import os

import torch

import train as train_cli
from cleanplate_train.checkpoint import load_checkpoint
from cleanplate_train.config import build_models
from cleanplate_train.data.compose import make_sample, sample_rng
from cleanplate_train.data.sources import Sources
from cleanplate_train.infer import matte
from cleanplate_train.trainer import base_loss, lr_factor, refiner_loss
from conftest import write_json


def _batch(cfg, n, size, full_res):
    items = [make_sample(sample_rng(2, 0, i), Sources(), size, size, cfg['data'], full_res) for i in range(n)]
    return {k: torch.stack([torch.from_numpy(it[k]) for it in items]).float() / 255 for k in items[0]}


def test_base_step_reduces_loss(tiny_cfg):
    torch.manual_seed(0)
    base, _ = build_models(tiny_cfg)
    b = _batch(tiny_cfg, 2, 48, False)
    opt = torch.optim.AdamW(base.parameters(), lr=2e-3)
    lw = tiny_cfg['base']['lossWeights']
    first = None
    for _ in range(3):
        loss, parts, _ = base_loss(base, b, lw, False)
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    after, _, _ = base_loss(base, b, lw, False)
    assert float(after) < first
    assert set(parts) == {'alpha', 'alphaMse', 'grad', 'solid', 'fgr', 'err'}


def test_refiner_step_reduces_loss(tiny_cfg):
    torch.manual_seed(0)
    base, refiner = build_models(tiny_cfg)
    full = _batch(tiny_cfg, 2, 64, True)
    rc = dict(tiny_cfg['refiner'], downscale=[2, 2], errorFraction=0.3, randomFraction=0.1)
    opt = torch.optim.AdamW(list(refiner.parameters()) + list(base.parameters()), lr=2e-3)

    def run():
        g = torch.Generator().manual_seed(1)
        return refiner_loss(base, refiner, full, rc, g, False)

    loss0, parts = run()
    for _ in range(3):
        loss, _ = run()
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss1, _ = run()
    assert float(loss1) < float(loss0)
    assert parts['patches'] > 0 and 'base_alpha' in parts


def test_lr_schedule():
    assert lr_factor(0, 10, 0.0) < lr_factor(9, 10, 0.0) == 1.0
    assert abs(lr_factor(100, 10, 1.0) - 0.02) < 1e-9
    assert lr_factor(100, 10, 0.5) < lr_factor(100, 10, 0.25)


def test_train_cli_runs_and_resumes(tiny_cfg, tmp_path):
    cfg_path = write_json(tmp_path / 'cfg.json', tiny_cfg)
    run = str(tmp_path / 'run')
    assert train_cli.main(['--config', cfg_path, '--out', run, '--max-steps', '3']) == 0
    ck = load_checkpoint(run)
    assert ck['stage'] == 'base' and ck['stage_step'] == 3 and ck['optimizer'] is not None
    assert train_cli.main(['--config', cfg_path, '--out', run, '--resume']) == 0
    ck = load_checkpoint(run)
    assert ck['stage'] == 'done'
    assert ck['total_steps'] == tiny_cfg['base']['steps'] + tiny_cfg['refiner']['steps']
    assert ck['summary']['steps'] == {'base': tiny_cfg['base']['steps'], 'refiner': tiny_cfg['refiner']['steps']}
    assert ck['summary']['heldOutGt'] == tiny_cfg['data']['heldOutGt']
    assert any(h['stage'] == 'refiner' for h in ck['history'])
    with open(os.path.join(run, 'config.json')) as f:
        assert json.load(f)['name'] == 'tiny'
    assert os.path.getsize(os.path.join(run, 'train-log.txt')) > 0


def test_time_budget_stops_and_saves(tiny_cfg, tmp_path):
    tiny_cfg['base']['steps'] = 100000
    cfg_path = write_json(tmp_path / 'cfg.json', tiny_cfg)
    run = str(tmp_path / 'run')
    assert train_cli.main(['--config', cfg_path, '--out', run, '--time-budget-s', '3']) == 0
    ck = load_checkpoint(run)
    assert ck['stage'] in ('base', 'refiner', 'done') and ck['total_steps'] > 0


def test_reference_inference_shapes(tiny_cfg):
    base, refiner = build_models(tiny_cfg)
    base.eval()
    refiner.eval()
    shot, plate = torch.rand(1, 3, 70, 90), torch.rand(1, 3, 70, 90)
    r = matte(base, refiner, shot, plate, base_long_side=48, pixel_budget=0.1)
    assert r['alpha'].shape == (1, 1, 70, 90) and r['foreground'].shape == (1, 3, 70, 90)
    assert int(r['patches']) == round(0.1 * 70 * 90 / 64)
    assert r['alpha'].min() >= 0 and r['alpha'].max() <= 1


def test_flip_average_makes_the_coarse_alpha_mirror_equivariant(tiny_cfg):
    torch.manual_seed(0)
    base, refiner = build_models(tiny_cfg)
    base.eval()
    refiner.eval()
    shot, plate = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    kw = dict(base_long_side=48, use_refiner=False)
    one, flipped = matte(base, refiner, shot, plate, **kw), matte(base, refiner, shot.flip(3), plate.flip(3), **kw)
    # a random network is far from equivariant; the averaged one is exactly (up to float rounding)
    assert (one['coarse_alpha'] - flipped['coarse_alpha'].flip(3)).abs().max() > 1e-3
    avg = matte(base, refiner, shot, plate, flip_average=True, **kw)
    avg_f = matte(base, refiner, shot.flip(3), plate.flip(3), flip_average=True, **kw)
    assert (avg['coarse_alpha'] - avg_f['coarse_alpha'].flip(3)).abs().max() < 1e-5
    assert torch.allclose(avg['coarse_alpha'], (one['coarse_alpha'] + flipped['coarse_alpha'].flip(3)) / 2, atol=1e-5)


def test_data_echo_trains_echo_steps_per_loaded_batch_and_resumes_in_sequence(tiny_cfg, tmp_path, monkeypatch):
    from cleanplate_train.data.dataset import STREAM_BASE, SynthDataset
    loaded = []
    original = SynthDataset.__getitem__

    def counting(self, i):
        loaded.append((self.stream, i))
        return original(self, i)

    monkeypatch.setattr(SynthDataset, '__getitem__', counting)
    cfg = dict(tiny_cfg, loader=dict(tiny_cfg['loader'], echo=2))
    cfg_path = write_json(tmp_path / 'cfg.json', cfg)
    run = str(tmp_path / 'run')
    batch = cfg['base']['batch']
    assert train_cli.main(['--config', cfg_path, '--out', run, '--max-steps', '3']) == 0
    # steps 0, 1 -> batch 0; step 2 -> batch 1 (its echo would be step 3)
    assert [i for s, i in loaded if s == STREAM_BASE] == list(range(2 * batch))
    ck = load_checkpoint(run)
    assert ck['stage_step'] == 3 and ck['history'][-1]['uniqueSamplesPerSecond'] > 0
    loaded.clear()
    assert train_cli.main(['--config', cfg_path, '--out', run, '--resume', '--max-steps', '2']) == 0
    # resumed at step 3 (the echo of batch 1: loaded again, same samples), then step 4 -> batch 2
    assert [i for s, i in loaded if s == STREAM_BASE] == list(range(batch, 3 * batch))


def test_refiner_stage_with_base_lr_scale_0_trains_the_refiner_alone(tiny_cfg, tmp_path):
    """baseLrScale 0 (configs/cpu-refiner.json): base weights and batch-norm statistics stay exactly as initialised."""
    torch.manual_seed(0)
    base, refiner = build_models(tiny_cfg)
    init = str(tmp_path / 'init')
    from cleanplate_train.checkpoint import save_checkpoint
    save_checkpoint(init, {'config': tiny_cfg, 'base': base.state_dict(), 'refiner': refiner.state_dict(),
                           'total_steps': 0, 'summary': {}})
    cfg = dict(tiny_cfg, base=dict(tiny_cfg['base'], steps=0), refiner=dict(tiny_cfg['refiner'], baseLrScale=0.0))
    cfg_path = write_json(tmp_path / 'cfg.json', cfg)
    run = str(tmp_path / 'run')
    assert train_cli.main(['--config', cfg_path, '--out', run, '--init', init]) == 0
    ck = load_checkpoint(run)
    assert ck['stage'] == 'done' and ck['summary']['steps'] == {'base': 0, 'refiner': tiny_cfg['refiner']['steps']}
    for k, v in base.state_dict().items():
        assert torch.equal(ck['base'][k], v), k
    assert any(not torch.equal(ck['refiner'][k], v) for k, v in refiner.state_dict().items())


def test_grow_refines_neighbours_of_changed_patches_within_the_cap(tiny_cfg):
    torch.manual_seed(0)
    base, refiner = build_models(tiny_cfg)
    base.eval()
    refiner.eval()
    with torch.no_grad():  # a fresh refiner starts close to the coarse alpha; make it change patches
        for p in refiner.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    shot, plate = torch.rand(1, 3, 70, 90), torch.rand(1, 3, 70, 90)
    kw = dict(base_long_side=48, pixel_budget=0.03)
    k = round(0.03 * 70 * 90 / 64)
    plain = matte(base, refiner, shot, plate, **kw)
    grown = matte(base, refiner, shot, plate, grow_rounds=3, grow_min_change=0.0, **kw)
    capped = matte(base, refiner, shot, plate, grow_rounds=3, grow_min_change=0.0, grow_max_patches=5, **kw)
    assert int(plain['patches']) == k
    assert int(grown['patches']) > k + 8 and int(capped['patches']) == k + 5
    # growing only adds refined patches: the coarse alpha is the same, the refined one differs
    assert torch.equal(plain['coarse_alpha'], grown['coarse_alpha'])
    assert (plain['alpha'] - grown['alpha']).abs().max() > 1e-3
    none = matte(base, refiner, shot, plate, grow_rounds=3, grow_min_change=1.0, **kw)
    assert int(none['patches']) == k and torch.equal(none['alpha'], plain['alpha'])


def test_every_shipped_config_loads_and_unknown_keys_are_errors(tmp_path):
    import glob
    import pytest
    from cleanplate_train.config import load_config
    from conftest import TRAIN_DIR
    paths = sorted(glob.glob(os.path.join(TRAIN_DIR, 'configs', '*.json')))
    assert len(paths) >= 4
    for p in paths:
        cfg = load_config(p)
        assert cfg['base']['size'] > 0 and len(cfg['refiner']['downscale']) == 2
    bad = tmp_path / 'typo.json'
    write_json(str(bad), {'refiner': {'downscales': [2, 8]}, 'evalx': {}})
    with pytest.raises(ValueError, match=r'unknown config keys: refiner\.downscales, evalx'):
        load_config(str(bad))


def test_tools_refuse_a_bad_config_with_one_line_and_status_2(tmp_path, capsys):
    import probe_speed
    bad = write_json(str(tmp_path / 'typo.json'), {'base': {'sise': 256}})
    for tool in (train_cli, probe_speed):
        assert tool.main(['--config', bad, '--out', str(tmp_path / 'x')] if tool is train_cli else ['--config', bad]) == 2
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and 'unknown config keys: base.sise' in err, err
    assert tool.main(['--config', str(tmp_path / 'missing.json')]) == 2
    assert 'No such file' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()


def test_solid_term_weighs_the_inside_and_the_backdrop_equally_and_ignores_edges():
    from cleanplate_train import losses as L
    gt = torch.zeros(1, 1, 40, 40)
    gt[..., 10:30, 10:30] = 1.0
    gt[..., 10:30, 29] = 0.5  # a soft edge column
    inside, outside = L.solid_masks(gt, radius=4)
    assert inside[0, 0, 14:26, 14:25].min() == 1 and inside.sum() == 12 * 11
    assert outside[0, 0, 20, 5] == 1 and outside[0, 0, 20, 6] == 0 and outside[0, 0, 0, 0] == 1
    fgr = torch.zeros(1, 3, 40, 40)
    # hedging inside the subject (alpha 0.7) costs 0.5 * 0.3 however small the subject is
    hedge = gt.clone()
    hedge[..., 14:26, 14:25] = 0.7
    assert abs(float(L.matting_losses(hedge, fgr, gt, fgr)['solid']) - 0.15) < 1e-6
    # edge pixels are not solid: any value there costs nothing
    edge = gt.clone()
    edge[..., 10:30, 26:30] = 0.2
    assert float(L.matting_losses(edge, fgr, gt, fgr)['solid']) == 0
    # logged, but not trained on unless a config weighs it
    parts = L.matting_losses(hedge, fgr, gt, fgr)
    assert float(L.combine(parts, {})) == float(parts['alpha'] + parts['grad'] + parts['fgr'])
