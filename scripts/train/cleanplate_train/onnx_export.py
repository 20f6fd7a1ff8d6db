"""ONNX export of base.onnx / refiner.onnx + model.json (docs/neural-contract.md), validity and runtime parity checks."""
from __future__ import annotations

import datetime as _dt
import inspect
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from .model.base import HIDDEN_CHANNELS, BaseNet
from .model.patches import CONTEXT, PATCH
from .model.refiner import PATCH_CHANNELS, Refiner

OPSET = 17
FORMAT = 'cleanplate-bgm/1'
BASE_INPUTS = ['shot', 'plate']
BASE_OUTPUTS = ['alpha', 'fgr_res', 'error', 'hidden']
REFINER_INPUTS = ['patches']
REFINER_OUTPUTS = ['alpha', 'fgr_res']


def _export(module: torch.nn.Module, args: Tuple[torch.Tensor, ...], path: str, inputs: List[str],
            outputs: List[str], dynamic_axes: Dict[str, Dict[int, str]]) -> None:
    kwargs: Dict[str, Any] = dict(input_names=inputs, output_names=outputs, dynamic_axes=dynamic_axes,
                                  opset_version=OPSET, do_constant_folding=True)
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False  # torch >= 2.9 defaults to the dynamo exporter (needs onnxscript, ignores dynamic_axes)
    with torch.no_grad():
        torch.onnx.export(module, args, path, **kwargs)


def export_models(base: BaseNet, refiner: Refiner, out_dir: str, version: str, trained_base_long_side: int,
                  training: Dict[str, Any]) -> Dict[str, Any]:
    """Writes out_dir/{base.onnx, refiner.onnx, model.json} from CPU fp32 copies in eval mode; returns model.json."""
    os.makedirs(out_dir, exist_ok=True)
    base = _cpu_eval(base)
    refiner = _cpu_eval(refiner)
    hw = {2: 'h', 3: 'w'}
    _export(base, (torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)), os.path.join(out_dir, 'base.onnx'),
            BASE_INPUTS, BASE_OUTPUTS, {n: hw for n in BASE_INPUTS + BASE_OUTPUTS})
    _export(refiner, (torch.rand(3, PATCH_CHANNELS, 16, 16),), os.path.join(out_dir, 'refiner.onnx'),
            REFINER_INPUTS, REFINER_OUTPUTS, {n: {0: 'n'} for n in REFINER_INPUTS + REFINER_OUTPUTS})
    meta = {
        'format': FORMAT, 'version': version, 'hiddenChannels': HIDDEN_CHANNELS, 'patchSize': PATCH,
        'patchContext': CONTEXT, 'baseMultiple': 16, 'trainedBaseLongSide': int(trained_base_long_side),
        'opset': OPSET, 'created': _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        'training': training,
    }
    with open(os.path.join(out_dir, 'model.json'), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2)
        f.write('\n')
    return meta


def _cpu_eval(m: torch.nn.Module) -> torch.nn.Module:
    import copy
    m = copy.deepcopy(m).to('cpu').float()
    m.eval()
    return m


def check_onnx(out_dir: str) -> Dict[str, Any]:
    """Validates both files with onnx.checker (when the onnx package exists) and checks I/O names and ranks."""
    report: Dict[str, Any] = {'sizes': {n: os.path.getsize(os.path.join(out_dir, n)) for n in ('base.onnx', 'refiner.onnx')}}
    try:
        import onnx  # type: ignore
    except ImportError:
        report['checker'] = 'skipped (no onnx package)'
        return report
    expect = {'base.onnx': (BASE_INPUTS, BASE_OUTPUTS, 4), 'refiner.onnx': (REFINER_INPUTS, REFINER_OUTPUTS, 4)}
    for name, (ins, outs, rank) in expect.items():
        model = onnx.load(os.path.join(out_dir, name))
        onnx.checker.check_model(model)
        got_in = [i.name for i in model.graph.input]
        got_out = [o.name for o in model.graph.output]
        if got_in != ins or got_out != outs:
            raise ValueError('%s: I/O names %s -> %s, expected %s -> %s' % (name, got_in, got_out, ins, outs))
        for v in list(model.graph.input) + list(model.graph.output):
            if len(v.type.tensor_type.shape.dim) != rank:
                raise ValueError('%s: %s has rank %d' % (name, v.name, len(v.type.tensor_type.shape.dim)))
        if model.opset_import[0].version != OPSET:
            raise ValueError('%s: opset %d' % (name, model.opset_import[0].version))
    report['checker'] = 'ok'
    return report


def ort_parity(base: BaseNet, refiner: Refiner, out_dir: str, sizes: Tuple[Tuple[int, int], ...] = ((64, 96), (128, 80)),
               n_patches: int = 37, seed: int = 0) -> Optional[Dict[str, float]]:
    """Max |onnxruntime - PyTorch| per output on random inputs (CPU, fp32); None when onnxruntime is missing."""
    os.environ.setdefault('ORT_DISABLE_TELEMETRY', '1')  # onnxruntime 1.29+ usage telemetry: off, as in the engine
    try:
        import onnxruntime as ort  # type: ignore
    except ImportError:
        return None
    base, refiner = _cpu_eval(base), _cpu_eval(refiner)
    g = torch.Generator().manual_seed(seed)
    so = ort.SessionOptions()
    sb = ort.InferenceSession(os.path.join(out_dir, 'base.onnx'), so, providers=['CPUExecutionProvider'])
    sr = ort.InferenceSession(os.path.join(out_dir, 'refiner.onnx'), so, providers=['CPUExecutionProvider'])
    diffs: Dict[str, float] = {}
    with torch.no_grad():
        for h, w in sizes:
            shot = torch.rand(1, 3, h, w, generator=g)
            plate = (shot + 0.1 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)
            ref = base(shot, plate)
            got = sb.run(BASE_OUTPUTS, {'shot': shot.numpy(), 'plate': plate.numpy()})
            for name, r, o in zip(BASE_OUTPUTS, ref, got):
                diffs['base.' + name] = max(diffs.get('base.' + name, 0.0), float(np.abs(r.numpy() - o).max()))
        patches = torch.rand(n_patches, PATCH_CHANNELS, 16, 16, generator=g)
        ref = refiner(patches)
        got = sr.run(REFINER_OUTPUTS, {'patches': patches.numpy()})
        for name, r, o in zip(REFINER_OUTPUTS, ref, got):
            diffs['refiner.' + name] = float(np.abs(r.numpy() - o).max())
    return diffs


def param_count(m: torch.nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in m.parameters())
