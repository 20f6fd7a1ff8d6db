"""ONNX export: valid models with the contract's I/O, and the committed tiny parity fixture is reproducible."""
import json
import os

import numpy as np
import onnx
import pytest
import torch

import export as export_cli
from cleanplate_train import onnx_export as X
from cleanplate_train.config import REPO_ROOT, build_models

FIXTURE = os.path.join(REPO_ROOT, 'test', 'fixtures', 'bgm-tiny')


def _dims(v):
    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]


def test_export_io_names_shapes_and_model_json(tiny_cfg, tmp_path):
    torch.manual_seed(0)
    base, refiner = build_models(tiny_cfg)
    out = str(tmp_path / 'model')
    meta = X.export_models(base, refiner, out, 'test', 64, {'heldOutGt': ['x']})
    rep = X.check_onnx(out)
    assert rep['checker'] == 'ok'
    b = onnx.load(os.path.join(out, 'base.onnx'))
    assert [i.name for i in b.graph.input] == ['shot', 'plate']
    assert [o.name for o in b.graph.output] == ['alpha', 'fgr_res', 'error', 'hidden']
    assert _dims(b.graph.input[0]) == [1, 3, 'h', 'w']
    assert _dims(b.graph.output[3]) == [1, 32, 'h', 'w']
    r = onnx.load(os.path.join(out, 'refiner.onnx'))
    assert [i.name for i in r.graph.input] == ['patches'] and _dims(r.graph.input[0]) == ['n', 42, 16, 16]
    assert [o.name for o in r.graph.output] == ['alpha', 'fgr_res']
    assert _dims(r.graph.output[0]) == ['n', 1, 8, 8] and _dims(r.graph.output[1]) == ['n', 3, 8, 8]
    assert b.opset_import[0].version == 17
    with open(os.path.join(out, 'model.json')) as f:
        mj = json.load(f)
    assert mj == meta
    assert mj['format'] == 'cleanplate-bgm/1' and mj['hiddenChannels'] == 32 and mj['patchSize'] == 8
    assert mj['patchContext'] == 4 and mj['baseMultiple'] == 16 and mj['opset'] == 17
    assert mj['trainedBaseLongSide'] == 64 and mj['training']['heldOutGt'] == ['x']


def _load_bin(folder, entry):
    return np.fromfile(os.path.join(folder, entry['file']), dtype='<f4').reshape(entry['shape'])


@pytest.mark.skipif(not os.path.isfile(os.path.join(FIXTURE, 'parity.json')), reason='fixture not generated')
def test_committed_fixture_is_reproducible(tmp_path):
    out = str(tmp_path / 'fx')
    rep = export_cli.write_tiny_fixture(out)
    assert rep['checker'] == 'ok' and rep['totalBytes'] < 1024 * 1024
    with open(os.path.join(FIXTURE, 'parity.json')) as f:
        committed = json.load(f)
    with open(os.path.join(out, 'parity.json')) as f:
        fresh = json.load(f)
    assert committed == fresh
    for section in ('base', 'refiner'):
        for group in ('inputs', 'outputs'):
            for name, entry in committed[section][group].items():
                a, b = _load_bin(FIXTURE, entry), _load_bin(out, entry)
                assert a.shape == tuple(entry['shape'])
                assert np.abs(a - b).max() < 1e-5, (section, name)
    assert committed['base']['outputs']['hidden']['shape'] == [1, 32, 32, 48]
    assert committed['refiner']['inputs']['patches']['shape'] == [4, 42, 16, 16]
    total = sum(os.path.getsize(os.path.join(FIXTURE, n)) for n in os.listdir(FIXTURE))
    assert total < 1024 * 1024
