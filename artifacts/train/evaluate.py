"""The sample model's card numbers: ADR-103 over its test sessions, by `countscope evaluate` (SYNTHETIC).

    cargo build --release --locked
    python3 artifacts/train/evaluate.py     # standard library only; train.py runs it after training

1. Simulates each test session of train.py's SPLITS into its own file under target/train-data/test/ (the
   simulator is deterministic: the same bytes on every machine): the same-room test (rooms 0-7, seed 2001,
   10 min each) and the held-out rooms (100-102, seeds 3001-3002, 15 min each).
2. Writes their manifest, target/train-data/test/manifest.toml: one [[recording]] per session, room and split.
3. Runs `countscope evaluate --json` with the v0.1.0 and the v0.2.0 targets and keeps both results in
   artifacts/train/evaluation.json, from which artifacts/count_v1.md's tables are copied (printed below as
   Markdown).
"""

import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
COUNTSCOPE = os.environ.get("COUNTSCOPE", os.path.join(ROOT, "target", "release", "countscope"))
TEST = os.path.join(ROOT, "target", "train-data", "test")
MODEL = os.path.join(ROOT, "artifacts", "count_v1.onnx")

# (room, seed, duration, split): train.py's test splits, one session per recording.
SESSIONS = [(room, 2001, "10m", "same-room") for room in range(8)] + [
    (room, seed, "15m", "cross-room") for room in (100, 101, 102) for seed in (3001, 3002)
]


def simulate():
    os.makedirs(TEST, exist_ok=True)
    entries = []
    for room, seed, duration, split in SESSIONS:
        name = f"room{room}-seed{seed}.paired.jsonl"
        path = os.path.join(TEST, name)
        if not os.path.exists(path):
            subprocess.run([COUNTSCOPE, "simulate", "--room", str(room), "--seed", str(seed), "--duration", duration,
                            "-o", path], check=True, stderr=subprocess.DEVNULL)
        entries.append(f'[[recording]]\npath = "{name}"\nroom = "room-{room}"\nsplit = "{split}"\n')
    manifest = os.path.join(TEST, "manifest.toml")
    with open(manifest, "w") as f:
        f.write("# SYNTHETIC: the sample model's test sessions (artifacts/train/evaluate.py)\n\n" + "\n".join(entries))
    return manifest


def evaluate(manifest, targets):
    p = subprocess.run([COUNTSCOPE, "evaluate", "--json", "--targets", targets, "-m", MODEL, manifest],
                       capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise SystemExit(f"countscope evaluate failed: {p.stderr}")
    return json.loads(p.stdout)


def pct(x):
    return "—" if x is None else f"{100 * x:.1f} %"


def num(x):
    return "—" if x is None else f"{x:.3f}"


def interval(u, key, show):
    i = (u or {}).get(key)
    return "—" if not i else f"{show(i['low'])} to {show(i['high'])}"


def tables(e):
    """The card's tables, in Markdown, from one evaluation."""
    out = ["| | same room (unseen sessions) | held-out rooms |", "|---|---|---|"]
    s, c = e["splits"]
    rows = [
        ("recordings (rooms)", lambda x: f"{x['recordings']} ({len(x['rooms'])})"),
        ("windows", lambda x: f"{x['metrics']['windows']:,}"),
        ("accuracy (95 % interval)", lambda x: f"{pct(x['metrics']['accuracy'])} ({interval(x['uncertainty'], 'accuracy', pct)})"),
        ("majority-class baseline", lambda x: f"{pct(x['metrics']['majority_baseline'])} (always {x['metrics']['majority_class']})"),
        ("within ±1 (95 % interval)", lambda x: f"{pct(x['metrics']['within_pm1'])} ({interval(x['uncertainty'], 'within_pm1', pct)})"),
        ("MAE (95 % interval)", lambda x: f"{num(x['metrics']['mae'])} ({interval(x['uncertainty'], 'mae', num)})"),
        ("Spearman(confidence, correct) (95 % interval)",
         lambda x: f"{num(x['metrics']['spearman'])} ({interval(x['uncertainty'], 'spearman', num)})"),
        ("ECE (10 bins)", lambda x: num(x["metrics"]["ece"])),
        ("independent windows (effective)", lambda x: f"{x['uncertainty']['effective_windows']:.0f}"),
    ]
    for label, f in rows:
        out.append(f"| {label} | {f(s)} | {f(c)} |")
    out += ["", "| room | split | windows | accuracy | within ±1 (95 % interval) | MAE |", "|---|---|---|---|---|---|"]
    for r in e["rooms"]:
        out.append(f"| {r['room']} | {r['split']} | {r['windows']} | {pct(r['accuracy'])} | "
                   f"{pct(r['within_pm1'])} ({interval({'i': r['within_pm1_interval']}, 'i', pct)}) | {num(r['mae'])} |")
    return "\n".join(out)


def gates(v1, v2):
    out = ["| gate | v0.1.0 target | v0.2.0 target | same room | held-out rooms |", "|---|---|---|---|---|"]
    for i, name in enumerate(("within ±1 (same room / cross-room)", "MAE", "Spearman(confidence, correct)")):
        cells = []
        for split in (0, 1):
            g1, g2 = v1["splits"][split]["gates"][i], v2["splits"][split]["gates"][i]
            show = pct if g1["name"] == "within_pm1" else num
            cells.append(f"{show(g1['measured'])}: v0.1.0 {g1['status']}, v0.2.0 {g2['status']}")
        t1 = [v1["splits"][k]["gates"][i]["target"] for k in (0, 1)]
        t2 = [v2["splits"][k]["gates"][i]["target"] for k in (0, 1)]
        show = pct if v1["splits"][0]["gates"][i]["name"] == "within_pm1" else num
        target = lambda t: show(t[0]) if t[0] == t[1] else f"{show(t[0])} / {show(t[1])}"
        out.append(f"| {name} | {target(t1)} | {target(t2)} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def main():
    if not os.path.exists(COUNTSCOPE):
        raise SystemExit(f"{COUNTSCOPE} not found: run `cargo build --release --locked` first (or set COUNTSCOPE)")
    manifest = simulate()
    results = {t: evaluate(manifest, t) for t in ("v0.1.0", "v0.2.0")}
    with open(os.path.join(HERE, "evaluation.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    print(tables(results["v0.1.0"]))
    print()
    print(gates(results["v0.1.0"], results["v0.2.0"]))
    for split in results["v0.1.0"]["splits"]:
        print(f"\n{split['split']} findings:")
        for fnd in split["findings"]:
            print(f"  {fnd['code']}: {fnd['message']}")
    for fnd in results["v0.1.0"]["findings"]:
        print(f"set: {fnd['code']}: {fnd['message']}")


if __name__ == "__main__":
    main()
