"""device_train.sh, the one-shot GPU job, end to end on the CPU with the tiny config: it trains, exports a model
the engine can load, scores, summarises and probes the step speed, all under $OUT within its wall budget."""
import json
import os
import subprocess
import sys

from conftest import TRAIN_DIR, TINY_JSON

REPO = os.path.dirname(os.path.dirname(TRAIN_DIR))


def test_device_train_script_writes_every_output(tmp_path):
    out, run = tmp_path / 'out', tmp_path / 'run'
    env = dict(os.environ, OUT=str(out), RUN_DIR=str(run), CONFIG=TINY_JSON, DATA=str(tmp_path / 'no-data'),
               PYTHON=sys.executable, RESERVE_S='40')
    r = subprocess.run(['bash', os.path.join(TRAIN_DIR, 'device_train.sh'), '80'], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=150)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    files = sorted(str(f.relative_to(out)) for f in out.rglob('*') if f.is_file())
    # the device tool brings back at most 8 files from $OUT
    assert files == ['checkpoint/weights.pt', 'metrics.json', 'model/base.onnx', 'model/model.json',
                     'model/refiner.onnx', 'speed-probe.json', 'train-log.txt'], log
    assert '== train exit 0' in log and '== done after' in log
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['summary']['steps'] == {'base': 6, 'refiner': 4}
    assert metrics['heldOut']['items'] == 0 and metrics['export']['checker'] == 'ok'  # no GT items in this data
    probe = json.loads((out / 'speed-probe.json').read_text())
    assert probe['device'] == 'cpu' and probe['skipped'] == []
    v = probe['variants']
    assert set(v) == {'generator', 'reference', 'hostFloor', 'doubleBatch', 'memoryFormat', 'noSync'}
    assert v['doubleBatch']['batch'] == 2 * v['reference']['batch']
    assert v['memoryFormat']['channelsLast'] != v['reference']['channelsLast']
    assert v['noSync']['readBack'] is False and v['reference']['readBack'] is True
    assert all(x['msPerStep'] > 0 for k, x in v.items() if k != 'generator') and v['generator']['msPerSample'] > 0


def test_speed_probe_skips_what_does_not_fit_its_budget(tiny_cfg):
    import torch
    from cleanplate_train.speed import probe
    seen = []
    report = probe(tiny_cfg, torch.device('cpu'), 0.0, on_result=seen.append)
    assert report['variants'] == {} and seen == []
    assert report['skipped'] == ['generator', 'reference', 'hostFloor', 'doubleBatch', 'memoryFormat', 'noSync']
