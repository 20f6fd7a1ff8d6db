"""quantize.py: calibration-pair discovery and head detection (Debian onnx); the full quantization only
where onnxruntime's quantization tools are installed (a virtual environment, not CI)."""
import json
import os
import shutil

import pytest

from conftest import TRAIN_DIR

import quantize  # noqa: E402  (scripts/train is on sys.path via conftest)

TINY_MODEL = os.path.join(TRAIN_DIR, '..', '..', 'test', 'fixtures', 'bgm-tiny')
SAMPLE = os.path.join(TRAIN_DIR, '..', '..', 'test', 'fixtures', 'sample-session')


def test_find_pairs_takes_every_shot_of_folders_with_a_plate(tmp_path):
    for rel in ('a/plate.jpg', 'a/shot-1.jpg', 'a/shot-2.png', 'a/notes.txt', 'b/shot.jpg', 'c/d/Plate.PNG', 'c/d/shot.png'):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b'')
    pairs = [(os.path.relpath(s, tmp_path), os.path.relpath(p, tmp_path)) for s, p in quantize.find_pairs([str(tmp_path)])]
    assert pairs == [('a/shot-1.jpg', 'a/plate.jpg'), ('a/shot-2.png', 'a/plate.jpg'), ('c/d/shot.png', 'c/d/Plate.PNG')]


def test_head_nodes_are_the_convolutions_feeding_the_outputs():
    onnx = pytest.importorskip('onnx')
    assert quantize.head_nodes(onnx, os.path.join(TINY_MODEL, 'base.onnx')) == ['/decoder/stage4/Conv']


def test_quantize_writes_a_loadable_int8_model_folder(tmp_path):
    pytest.importorskip('onnxruntime.quantization')
    pytest.importorskip('PIL')
    model = tmp_path / 'model'
    shutil.copytree(TINY_MODEL, model)
    out = tmp_path / 'int8'
    assert quantize.main(['--model', str(model), '--calib', SAMPLE, '--out', str(out), '--long-side', '64', '--runs', '1']) == 0
    assert sorted(os.listdir(out)) == ['base.onnx', 'model.json', 'quantize.json', 'refiner.onnx']
    meta = json.loads((out / 'model.json').read_text())
    assert meta['version'].endswith('-int8') and meta['quantization']['calibrationPairs'] == 4
    report = json.loads((out / 'quantize.json').read_text())
    assert report['bytes']['int8'] < report['bytes']['fp32'] and len(report['pairs']) == 4
    assert quantize.main(['--model', str(model), '--calib', SAMPLE, '--out', str(out)]) == 1  # never overwrites
