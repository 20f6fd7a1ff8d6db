#!/usr/bin/env python3
"""Static int8 quantization of the base network, calibrated on real shot/plate pairs, for comparison.

Writes a new, complete model folder (--out) that the neural engine loads through
`engine.neural.modelDir`: the int8 base as `base.onnx` (QDQ: per-channel int8 weights, uint8
activations, by onnxruntime.quantization; the output heads stay fp32), refiner.onnx and model.json
(version suffixed `-int8`, with a `quantization` summary). The report (printed, and in
OUT/quantize.json) gives sizes, CPU latency of both bases at 2 threads and the alpha difference
fp32 vs int8 per calibration pair. Whether the int8 model is worth shipping is decided by
`cleanplate eval` and `npm run bench` with the folder as modelDir (docs/benchmarks.md): so far it
is not (same end-to-end time at 30 MP, quality within noise).

Calibration pairs: every folder under --calib holding a `plate.*` and one or more `shot*.*`
images (test/fixtures/sample-session, ../shared/data/pairs), resized to a portrait frame at the
base size (--long-side), each also mirrored.

Needs onnxruntime (with its quantization tools), onnx >= 1.16, numpy and Pillow; they are not part
of the Debian training set-up, a virtual environment is enough:

  python3 -m venv /tmp/ortq && /tmp/ortq/bin/pip install onnxruntime onnx ml_dtypes pillow
  /tmp/ortq/bin/python scripts/train/quantize.py --model models/cleanplate-bgm \\
      --calib test/fixtures/sample-session --calib ../shared/data/pairs --out /tmp/cleanplate-bgm-int8
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

IMAGE_EXT = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp')


def find_pairs(roots):
    """(shot path, plate path) for every folder under `roots` with a plate.* and shot*.* files, sorted."""
    pairs = []
    for root in roots:
        for folder, _dirs, files in sorted(os.walk(root)):
            images = sorted(f for f in files if f.lower().endswith(IMAGE_EXT))
            plates = [f for f in images if os.path.splitext(f)[0].lower() == 'plate']
            if not plates:
                continue
            for f in images:
                if f.lower().startswith('shot'):
                    pairs.append((os.path.join(folder, f), os.path.join(folder, plates[0])))
    return pairs


def load_pair(np, Image, shot_path, plate_path, size):
    """Shot and plate as (1, 3, H, W) float32 in 0..1, resized to size (W, H); histogram calibration needs one shape."""

    def tensor(path):
        a = np.asarray(Image.open(path).convert('RGB').resize(size, Image.BILINEAR), dtype=np.float32) / 255.0
        return np.ascontiguousarray(a.transpose(2, 0, 1)[None])

    return tensor(shot_path), tensor(plate_path)


def head_nodes(onnx, path):
    """Names of the convolutions that produce the graph outputs (the prediction heads), kept in fp32."""
    graph = onnx.load(path).graph
    producers = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    heads, stack, seen = set(), list(outputs), set()
    while stack:  # walk back from the outputs through shape-only ops to the first Conv
        name = stack.pop()
        if name in seen or name not in producers:
            continue
        seen.add(name)
        node = producers[name]
        if node.op_type == 'Conv':
            heads.add(node.name)
        elif node.op_type in ('Slice', 'Clip', 'Relu', 'Add', 'Sub', 'Mul', 'Concat', 'Resize'):
            stack.extend(node.input[:1])
    return sorted(heads)


def main(argv=None) -> int:
    """CLI entry point; exit 1 with a one-line message on bad input."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True, help='model folder with base.onnx, refiner.onnx, model.json')
    ap.add_argument('--calib', action='append', required=True, help='folder of calibration pairs (repeatable)')
    ap.add_argument('--method', choices=('minmax', 'entropy', 'percentile'), default='minmax')
    ap.add_argument('--quantize-heads', action='store_true', help='also quantize the output convolutions')
    ap.add_argument('--out', required=True, help='new model folder to write (must not exist)')
    ap.add_argument('--long-side', type=int, default=640,
                    help="calibration frame's long side (default 640: the engine's default baseLongSide)")
    ap.add_argument('--runs', type=int, default=5, help='timed runs per model')
    a = ap.parse_args(argv)
    os.environ.setdefault('ORT_DISABLE_TELEMETRY', '1')  # onnxruntime 1.29+ usage telemetry: off, as in the engine
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from onnxruntime import quantization as q
        from PIL import Image
    except ImportError as e:
        print('quantize: needs onnxruntime, onnx, numpy and Pillow (%s); see --help' % e, file=sys.stderr)
        return 1
    ort.set_default_logger_severity(3)  # graph clean-up notices of the quantizer
    src, meta_path = os.path.join(a.model, 'base.onnx'), os.path.join(a.model, 'model.json')
    if not os.path.isfile(src) or not os.path.isfile(meta_path):
        print('quantize: %s needs base.onnx and model.json' % a.model, file=sys.stderr)
        return 1
    if os.path.exists(a.out):
        print('quantize: %s exists; choose a new folder' % a.out, file=sys.stderr)
        return 1
    with open(meta_path, encoding='utf-8') as f:
        meta = json.load(f)
    multiple = int(meta.get('baseMultiple', 16))
    size = ((a.long_side * 2 // 3) // multiple * multiple, a.long_side // multiple * multiple)  # W, H: portrait
    pairs = find_pairs(a.calib)
    if not pairs:
        print('quantize: no shot/plate pairs under %s' % ', '.join(a.calib), file=sys.stderr)
        return 1
    samples = []
    for shot_path, plate_path in pairs:
        shot, plate = load_pair(np, Image, shot_path, plate_path, size)
        samples.append({'shot': shot, 'plate': plate})
        samples.append({'shot': np.ascontiguousarray(shot[..., ::-1]), 'plate': np.ascontiguousarray(plate[..., ::-1])})

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    method = {'minmax': q.CalibrationMethod.MinMax, 'entropy': q.CalibrationMethod.Entropy,
              'percentile': q.CalibrationMethod.Percentile}[a.method]
    excluded = [] if a.quantize_heads else head_nodes(onnx, src)
    partial = a.out.rstrip('/') + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    dst = os.path.join(partial, 'base.onnx')
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, 'base.pre.onnx')
        q.quant_pre_process(src, pre, skip_symbolic_shape=True)
        q.quantize_static(pre, dst, Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          calibrate_method=method, nodes_to_exclude=excluded)
    shutil.copy(os.path.join(a.model, 'refiner.onnx'), partial)
    report = compare(np, ort, src, dst, pairs, samples, a.runs)
    report.update(method=a.method, fp32Heads=excluded)
    meta['version'] = '%s-int8' % meta.get('version', 'model')
    meta['quantization'] = {
        'base': 'static QDQ int8 (onnxruntime %s): per-channel int8 weights, uint8 activations' % ort.__version__,
        'method': a.method, 'calibrationPairs': len(pairs), 'calibrationSize': list(size), 'fp32Heads': excluded,
        'alphaMseVsFp32': round(report['alphaMseVsFp32'], 6),
    }
    for name, obj in (('model.json', meta), ('quantize.json', report)):
        with open(os.path.join(partial, name), 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=2)
            f.write('\n')
    os.rename(partial, a.out)
    print(json.dumps({k: v for k, v in report.items() if k != 'pairs'}))
    return 0


def compare(np, ort, fp32_path, int8_path, pairs, samples, runs):
    """Sizes, alpha difference per calibration pair and CPU latency (2 threads) of the two bases."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sessions = {name: ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
                for name, path in (('fp32', fp32_path), ('int8', int8_path))}
    per_pair = []
    for (shot_path, _), sample in zip(pairs, samples[::2]):
        fp, iq = (sessions[n].run(['alpha'], sample)[0] for n in ('fp32', 'int8'))
        per_pair.append({'shot': os.path.relpath(shot_path), 'alphaMse': float(((fp - iq) ** 2).mean()),
                         'alphaMaxAbs': float(np.abs(fp - iq).max())})
    seconds = {}
    timing = samples[0]
    for name, s in sessions.items():
        s.run(None, timing)
        t = time.perf_counter()
        for _ in range(runs):
            s.run(None, timing)
        seconds[name] = round((time.perf_counter() - t) / runs, 4)
    return {
        'bytes': {'fp32': os.path.getsize(fp32_path), 'int8': os.path.getsize(int8_path)},
        'cpuSecondsPerBaseRun2Threads': seconds, 'timingInput': list(timing['shot'].shape[2:]),
        'alphaMseVsFp32': float(np.mean([p['alphaMse'] for p in per_pair])), 'pairs': per_pair,
    }


if __name__ == '__main__':
    sys.exit(main())
