"""onnxruntime, natively and on one thread, on the very windows countscope ran (run by `cargo xtask bench`).

usage: ort_native.py MODEL DUMP_DIR BATCHES REPEAT
DUMP_DIR holds windows-normalised.f32 (model input, little-endian f32, [n,56,20]) and logits.f32 (countscope's
count logits and confidence logit per window, for the agreement check). Prints one JSON object.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

model, dump, batches, repeat = sys.argv[1], sys.argv[2], [int(b) for b in sys.argv[3].split(",")], int(sys.argv[4])
x = np.fromfile(f"{dump}/windows-normalised.f32", dtype="<f4").reshape(-1, 56, 20)
want = np.fromfile(f"{dump}/logits.f32", dtype="<f4").reshape(-1, 9)
n = x.shape[0]

opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
loads = []
for _ in range(repeat):
    t = time.perf_counter()
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    loads.append((time.perf_counter() - t) * 1e3)
inp = sess.get_inputs()[0].name
outs = [o.name for o in sess.get_outputs()]


def stats(v):
    v = sorted(v)
    return {"median": v[len(v) // 2], "min": v[0], "max": v[-1], "n": len(v)}


def run_all(b):
    got = []
    for i in range(0, n, b):
        r = sess.run(outs, {inp: x[i:i + b]})
        got.append(np.concatenate([r[0], r[1]], axis=1))
    return np.concatenate(got)


results = []
for b in batches:
    got = run_all(b)  # warm-up, and the agreement check
    diff = float(np.abs(got - want).max())
    us = []
    for _ in range(repeat):
        t = time.perf_counter()
        run_all(b)
        us.append((time.perf_counter() - t) * 1e6 / n)
    s = stats(us)
    results.append({"batch": b, "us_per_window": s, "windows_per_s": 1e6 / s["median"], "max_abs_diff_vs_countscope": diff})

print(json.dumps({"engine": "onnxruntime", "version": ort.__version__, "threads": 1, "windows": n,
                  "load_ms": stats(loads), "results": results}))
