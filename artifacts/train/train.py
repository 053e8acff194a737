"""Train countscope's sample count model on SYNTHETIC rooms with RuView's v0.0.2 recipe, export it, evaluate it.

    cargo build --release --locked                      # the countscope binary simulates and evaluates
    python3 artifacts/train/train.py                    # ≈ 5-15 min on 2 cores (one torch thread)

What it does, in order:
 1. Simulates recordings with `countscope simulate` (synthetic, physically modelled; see src/sim/mod.rs):
    training rooms 0-7 (4 x 20-minute sessions each, seeds 1-4), a validation session per training room
    (seed 1001, 10 min: early stopping and temperature fitting), a same-room test session per training room
    (seed 2001, 10 min) and held-out rooms 100-102, never seen in training (seeds 3001-3002, 15 min each).
 2. Trains RuView's CountNet with RuView's v0.0.2 recipe (count_train_results.json): class-balanced sampling,
    label smoothing 0.1, AdamW (lr 1e-3, weight decay 0.01), batch 64, cosine warm restarts, early stopping on
    the validation loss, then temperature scaling of the confidence head. The confidence head learns
    P(count is right) with a binary cross-entropy on the count head's own correctness, as RuView's does.
    Deviation, for CPU time: at most 100 epochs (RuView: 400); patience 20 as RuView.
 3. Exports artifacts/count_v1.onnx: opset 18, `csi_window` [batch,56,20] -> `count_logits`, `conf_logits`, one
    self-contained file, with the per-subcarrier normalisation and the temperature in metadata_props
    (countscope.norm_mean / countscope.norm_std / countscope.temperature), which countscope applies.
 4. Writes artifacts/reference.json: onnxruntime outputs on windows of the sample recordings (parity tests).
 5. Writes artifacts/train/results.json (recipe, splits, per-epoch losses), then runs evaluate.py: ADR-103
    v0.1.0 and v0.2.0 over the test sessions by `countscope evaluate` (artifacts/train/evaluation.json, the
    model card's tables).

Seeds: simulator seeds above, torch/numpy seed 20261128; one torch thread, so a rerun on the same versions
(requirements.txt) gives the same weights. Input windows are read as labelled ([20,56] -> transposed to
[56][20], subcarrier-major), which is what countscope feeds by default.
"""
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from countnet import N_CLASSES, N_SC, T, CountNet, export  # noqa: E402

SEED = 20261128
COUNTSCOPE = os.environ.get("COUNTSCOPE", os.path.join(ROOT, "target", "release", "countscope"))
DATA = os.path.join(ROOT, "target", "train-data")
ARTIFACTS = os.path.join(ROOT, "artifacts")

TRAIN_ROOMS = list(range(8))
HELDOUT_ROOMS = [100, 101, 102]
SPLITS = {
    "train": [(room, seed, "20m") for room in TRAIN_ROOMS for seed in (1, 2, 3, 4)],
    "val": [(room, 1001, "10m") for room in TRAIN_ROOMS],
    "test_same_room": [(room, 2001, "10m") for room in TRAIN_ROOMS],
    "test_held_out_rooms": [(room, seed, "15m") for room in HELDOUT_ROOMS for seed in (3001, 3002)],
}
RECIPE = {
    "optimizer": "AdamW", "lr": 1e-3, "weight_decay": 0.01, "batch_size": 64,
    "schedule": "cosine_warm_restarts(T_0=10, T_mult=2)", "epochs_max": 100, "patience": 20,
    "label_smoothing": 0.1, "balanced_sampler": True, "temperature_scaling": True,
}


def run(args, **kw):
    return subprocess.run([COUNTSCOPE, *args], check=True, **kw)


def simulate(split):
    """Simulate a split's sessions into one JSONL file (sessions concatenated) and return its path."""
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"{split}.paired.jsonl")
    with open(path, "wb") as out:
        for room, seed, duration in SPLITS[split]:
            run(["simulate", "--room", str(room), "--seed", str(seed), "--duration", duration],
                stdout=out, stderr=subprocess.DEVNULL)
    return path


def load(path):
    """Windows in model order [N,56,20] (csi_shape [20,56] transposed) and n_persons_mode labels."""
    opener = gzip.open if path.endswith(".gz") else open
    xs, ys = [], []
    with opener(path, "rt") as f:
        for line in f:
            rec = json.loads(line)
            assert rec["csi_shape"] == [T, N_SC], rec["csi_shape"]
            xs.append(np.asarray(rec["csi"], np.float32).reshape(T, N_SC).T)
            ys.append(rec["n_persons_mode"])
    return np.stack(xs), np.asarray(ys, np.int64)


def losses(model, x, y, smoothing):
    count, conf = model(x)
    ce = nn.functional.cross_entropy(count, y, label_smoothing=smoothing)
    correct = (count.argmax(1) == y).float().detach()
    bce = nn.functional.binary_cross_entropy_with_logits(conf[:, 0], correct)
    return ce, bce, count


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        ce, bce, count = losses(model, x, y, 0.0)
    return float(ce), float(bce), float((count.argmax(1) == y).float().mean())


def fit_temperature(model, x, y):
    """T minimising the binary cross-entropy of sigmoid(conf_logit / T) against correctness (grid, log scale)."""
    model.eval()
    with torch.no_grad():
        count, conf = model(x)
    correct = (count.argmax(1) == y).double()
    z = conf[:, 0].double()
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 801))
    nll = [float(nn.functional.binary_cross_entropy_with_logits(z / t, correct)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def train():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    t0 = time.time()
    paths = {split: simulate(split) for split in SPLITS}
    data = {split: load(p) for split, p in paths.items()}
    print(f"simulated {', '.join(f'{s}: {len(d[1])} windows' for s, d in data.items())} in {time.time() - t0:.0f} s")
    for split, (_, y) in data.items():
        print(f"  {split} labels: {np.bincount(y, minlength=N_CLASSES).tolist()}")

    xtr, ytr = data["train"]
    mean = xtr.mean(axis=(0, 2)).astype(np.float32)
    std = np.maximum(xtr.std(axis=(0, 2)), 1e-3).astype(np.float32)
    norm = lambda x: torch.from_numpy((x - mean[None, :, None]) / std[None, :, None])
    xt, yt = norm(xtr), torch.from_numpy(ytr)
    xv, yv = norm(data["val"][0]), torch.from_numpy(data["val"][1])

    counts = np.bincount(ytr, minlength=N_CLASSES)
    weights = torch.from_numpy(1.0 / np.maximum(counts, 1))[yt]
    gen = torch.Generator().manual_seed(SEED)
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(yt), replacement=True, generator=gen)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xt, yt), batch_size=RECIPE["batch_size"], sampler=sampler)

    model = CountNet()
    opt = torch.optim.AdamW(model.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
    best, best_state, since_best, log = float("inf"), None, 0, []
    for epoch in range(RECIPE["epochs_max"]):
        model.train()
        tl, n = 0.0, 0
        for i, (xb, yb) in enumerate(loader):
            ce, bce, _ = losses(model, xb, yb, RECIPE["label_smoothing"])
            opt.zero_grad()
            (ce + bce).backward()
            opt.step()
            sched.step(epoch + i / len(loader))
            tl, n = tl + ce.item() * len(yb), n + len(yb)
        vce, vbce, vacc = evaluate(model, xv, yv)
        log.append({"epoch": epoch, "train_loss": tl / n, "eval_loss": vce, "eval_conf_bce": vbce, "eval_acc": vacc})
        print(f"epoch {epoch:3d}  train CE {tl / n:.4f}  val CE {vce:.4f}  val acc {vacc:.3f}  ({time.time() - t0:.0f} s)", flush=True)
        if vce < best - 1e-4:
            best, since_best = vce, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
            if since_best >= RECIPE["patience"]:
                print(f"early stop: no validation improvement for {RECIPE['patience']} epochs")
                break
    model.load_state_dict(best_state)
    temperature = fit_temperature(model, xv, yv)
    print(f"temperature T = {temperature:.4f} (fitted on the validation sessions)")
    return model, mean, std, temperature, log


def export_model(model, mean, std, temperature):
    path = os.path.join(ARTIFACTS, "count_v1.onnx")
    export(model, path, metadata={
        "countscope.temperature": repr(temperature),
        "countscope.norm_mean": json.dumps([float(v) for v in mean]),
        "countscope.norm_std": json.dumps([float(v) for v in std]),
        "countscope.training": "SYNTHETIC: trained on countscope-simulated rooms 0-7 (artifacts/train/train.py); not RuView's model",
    })
    return path


def reference(model_path, mean, std, n=64):
    """onnxruntime's logits on the first `n` windows of each sample recording, normalised as countscope does."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    out = {"model": "count_v1.onnx", "tolerance": 1e-4, "versions": {"onnxruntime": ort.__version__, "torch": torch.__version__}, "recordings": []}
    rec_dir = os.path.join(ARTIFACTS, "recordings")
    for name in sorted(os.listdir(rec_dir)):
        if not name.endswith((".jsonl", ".jsonl.gz")):
            continue
        opener = gzip.open if name.endswith(".gz") else open
        xs, lines = [], []
        with opener(os.path.join(rec_dir, name), "rt") as f:
            for i, line in enumerate(f, 1):
                rec = json.loads(line)
                flat = np.asarray(rec["csi"], np.float32)
                # countscope's default reading: honour csi_shape ([20,56] transposed; legacy [56,20] as stored).
                x = flat.reshape(T, N_SC).T if rec["csi_shape"] == [T, N_SC] else flat.reshape(N_SC, T)
                xs.append(x)
                lines.append(i)
                if len(xs) == n:
                    break
        x = ((np.stack(xs) - mean[None, :, None]) / std[None, :, None]).astype(np.float32)
        count, conf = sess.run(["count_logits", "conf_logits"], {"csi_window": x})
        out["recordings"].append({"recording": f"recordings/{name}", "lines": lines,
                                  "count_logits": count.tolist(), "conf_logits": conf[:, 0].tolist()})
    with open(os.path.join(ARTIFACTS, "reference.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


def main():
    if not os.path.exists(COUNTSCOPE):
        raise SystemExit(f"{COUNTSCOPE} not found: run `cargo build --release --locked` first (or set COUNTSCOPE)")
    model, mean, std, temperature, log = train()
    model_path = export_model(model, mean, std, temperature)
    print(f"wrote {model_path} ({os.path.getsize(model_path)} bytes)")
    reference(model_path, mean, std)
    results = {"recipe": RECIPE, "splits": {k: [list(v) for v in vs] for k, vs in SPLITS.items()}, "temperature": temperature,
               "epochs": log, "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
               "evaluations": "see evaluation.json (artifacts/train/evaluate.py)"}
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    # ADR-103 over the test sessions, one recording each: evaluation.json and the card's tables.
    import evaluate
    evaluate.main()


if __name__ == "__main__":
    main()
