#!/usr/bin/env python3
"""Optional: compare the fp32 base.onnx with a dynamic-int8 copy (onnxruntime.quantization): size, max |diff|
of the outputs and CPU latency. Writes a JSON report; the int8 model is not part of the model folder.

  python3 scripts/train/quantize_check.py --model OUT/model --out OUT/int8.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def main(argv=None) -> int:
    """CLI entry point (prints and writes a report; exit 0 even when onnxruntime is missing)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--size', default='352x512', help='HxW of the timing input')
    a = ap.parse_args(argv)
    try:
        import numpy as np
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        report = {'skipped': 'onnxruntime.quantization unavailable: %s' % e}
    else:
        try:
            report = _compare(a, np, ort, QuantType, quantize_dynamic)
        except Exception as e:  # noqa: BLE001 - optional check: report, never fail the job
            report = {'error': '%s: %s' % (type(e).__name__, e)}
    with open(a.out, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report))
    return 0


def _compare(a, np, ort, QuantType, quantize_dynamic):
    """Quantizes, runs both models on one random input and returns the report dict."""
    src = os.path.join(a.model, 'base.onnx')
    h, w = (int(v) for v in a.size.split('x'))
    rng = np.random.default_rng(0)
    shot = rng.random((1, 3, h, w), dtype=np.float32)
    plate = np.clip(shot + 0.1 * rng.random((1, 3, h, w), dtype=np.float32), 0, 1).astype(np.float32)
    report = {'fp32Bytes': os.path.getsize(src)}
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, 'base.int8.onnx')
        quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)
        report['int8Bytes'] = os.path.getsize(dst)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        outs, times = {}, {}
        for name, path in (('fp32', src), ('int8', dst)):
            s = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
            s.run(None, {'shot': shot, 'plate': plate})
            t = time.time()
            for _ in range(3):
                outs[name] = s.run(None, {'shot': shot, 'plate': plate})
            times[name] = round((time.time() - t) / 3, 4)
        report['cpuSecondsPerRun2Threads'] = times
        report['maxAbsDiff'] = {n: float(np.abs(x - y).max()) for n, x, y in
                                zip(('alpha', 'fgr_res', 'error', 'hidden'), outs['fp32'], outs['int8'])}
        report['alphaMse'] = float(((outs['fp32'][0] - outs['int8'][0]) ** 2).mean())
        report['inputHxW'] = [h, w]
    return report


if __name__ == '__main__':
    sys.exit(main())
