//! `countscope evaluate`: ADR-103 over a manifest of recordings, pooled per split, and the batch-runner
//! recipe (one `--only N` job per recording, then `--merge`) giving the same bytes as one run.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn countscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_countscope"))
        .args(args)
        .output()
        .expect("run countscope")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model() -> String {
    root().join("artifacts/count_v1.onnx").display().to_string()
}

fn samples() -> String {
    root()
        .join("artifacts/recordings/samples.toml")
        .display()
        .to_string()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails_with(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "{needle:?} not in {}",
        stderr(o)
    );
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

/// (right, labelled) over a recording's own replay: an independent count of what the pool must hold.
fn right_of(recording: &str, layout: &str) -> (u64, u64) {
    let rec = root().join("artifacts/recordings").join(recording);
    let o = countscope(&[
        "replay",
        "--model",
        &model(),
        "--layout",
        layout,
        rec.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (mut right, mut n) = (0, 0);
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let p: Value = serde_json::from_str(line).unwrap();
        if !p["truth"].is_null() {
            n += 1;
            right += (p["truth"] == p["count"]) as u64;
        }
    }
    (right, n)
}

#[test]
fn samples_pool_per_split_over_windows_not_recordings() {
    let o = countscope(&["evaluate", "--json", "--model", &model(), &samples()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "gates not met → 1; {}",
        stderr(&o)
    );
    let e = json(&o);
    let recs = e["recordings"].as_array().unwrap();
    let windows: Vec<u64> = recs
        .iter()
        .map(|r| r["windows"].as_u64().unwrap())
        .collect();
    assert_eq!(windows, [2240, 149, 747]);
    assert_eq!(e["windows"], 3136);
    let manifest_lines: Vec<u64> = recs
        .iter()
        .map(|r| r["manifest_line"].as_u64().unwrap())
        .collect();
    assert_eq!(manifest_lines, [5, 10, 19]);

    // Same-room pools the 30-minute session and the legacy-label one (read frame-major, as the manifest
    // says): the pooled accuracy is right/labelled over both, which is not the mean of the two.
    let (r1, n1) = right_of("room0-30min.paired.jsonl.gz", "labelled");
    let (r2, n2) = right_of("room0-legacy-shape-2min.paired.jsonl.gz", "frame-major");
    let same = &e["splits"][0];
    assert_eq!(same["split"], "same-room");
    assert_eq!(same["recordings"], 2);
    assert_eq!(same["metrics"]["windows"], n1 + n2);
    let pooled = (r1 + r2) as f64 / (n1 + n2) as f64;
    assert_eq!(same["metrics"]["accuracy"].as_f64().unwrap(), pooled);
    let mean = (r1 as f64 / n1 as f64 + r2 as f64 / n2 as f64) / 2.0;
    assert!(
        (pooled - mean).abs() > 0.05,
        "the recordings differ: {pooled} vs {mean}"
    );
    assert_eq!(
        recs[1]["accuracy"].as_f64().unwrap(),
        r2 as f64 / n2 as f64,
        "the per-recording line is that recording alone"
    );

    // Each split is held to its own ADR-103 within ±1 target.
    let target = |s: &Value| s["gates"][0]["target"].as_f64().unwrap();
    assert_eq!(target(same), 0.8);
    let cross = &e["splits"][1];
    assert_eq!(cross["split"], "cross-room");
    assert_eq!(target(cross), 0.6);
    assert_eq!(cross["metrics"]["windows"], 747);
    // Intervals: the same-room pool resamples its two recordings as wholes.
    assert_eq!(same["uncertainty"]["blocks"].as_array().unwrap().len(), 2);
    let codes = |v: &Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(codes(same).contains(&"synthetic-recording".to_string()));
    assert!(codes(cross).contains(&"input-distribution-shift".to_string()));
    assert_eq!(codes(&e), ["one-cross-room"]);

    // Rooms: room-0 holds both same-room recordings.
    let rooms = e["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 2);
    assert_eq!(rooms[0]["room"], "room-0");
    assert_eq!(rooms[0]["recordings"], 2);
    assert_eq!(rooms[0]["accuracy"], same["metrics"]["accuracy"]);
    assert_eq!(rooms[1]["room"], "room-100");

    // The text names every recording, both splits and the verdict.
    let o = countscope(&["evaluate", "--model", &model(), &samples()]);
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "room0-legacy-shape-2min.paired.jsonl.gz (SYNTHETIC)",
        "## same-room split: 2 recording(s), 1 room(s), 2389 windows",
        "## cross-room split: 1 recording(s)",
        "| accuracy within ±1 | ≥ 60.0 % |",
        "gates: NOT all met",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
}

#[test]
fn one_job_per_recording_then_merge_equals_one_run() {
    let dir = tmpdir("evaluate-merge");
    let single = countscope(&["evaluate", "--json", "--model", &model(), &samples()]);
    let one_thread = countscope(&[
        "evaluate",
        "--json",
        "--jobs",
        "1",
        "--model",
        &model(),
        &samples(),
    ]);
    assert_eq!(single.stdout, one_thread.stdout, "threads change nothing");
    let mut files = Vec::new();
    for n in 1..=3 {
        let f = dir.join(format!("{n}.json"));
        let o = countscope(&[
            "evaluate",
            "--model",
            &model(),
            &samples(),
            "--only",
            &n.to_string(),
            "--outcome",
            f.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        files.push(f.display().to_string());
    }
    // Any order of files: the manifest orders them.
    let merged = countscope(&[
        "evaluate",
        "--json",
        "--model",
        &model(),
        &samples(),
        "--merge",
        &files[2],
        &files[0],
        &files[1],
    ]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert!(!single.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&merged.stdout),
        String::from_utf8_lossy(&single.stdout),
        "the merged outcomes give the single run's bytes"
    );

    // Merging refuses what does not answer the manifest.
    fails_with(
        &countscope(&[
            "evaluate",
            "--model",
            &model(),
            &samples(),
            "--merge",
            &files[0],
            &files[1],
        ]),
        "no outcome for room100-heldout-10min.paired.jsonl.gz (manifest line 19)",
    );
    fails_with(
        &countscope(&[
            "evaluate",
            "--model",
            &model(),
            &samples(),
            "--merge",
            &files[0],
            &files[0],
            &files[1],
            &files[2],
        ]),
        "are both outcomes of room0-30min.paired.jsonl.gz",
    );
    let weakened = root().join("tests/fixtures/count_v1_weakened.onnx");
    fails_with(
        &countscope(&[
            "evaluate",
            "--model",
            weakened.to_str().unwrap(),
            &samples(),
            "--merge",
            &files[0],
            &files[1],
            &files[2],
        ]),
        "outcomes of different models cannot be pooled",
    );
    let other_temperature = countscope(&[
        "evaluate",
        "--model",
        &model(),
        "--temperature",
        "2",
        &samples(),
        "--merge",
        &files[0],
        &files[1],
        &files[2],
    ]);
    fails_with(&other_temperature, "its confidences are not comparable");
    let junk = dir.join("junk.json");
    std::fs::write(&junk, b"{\"format\": \"countscope-outcome/9\"}").unwrap();
    fails_with(
        &countscope(&[
            "evaluate",
            "--model",
            &model(),
            &samples(),
            "--merge",
            junk.to_str().unwrap(),
        ]),
        "outcome format \"countscope-outcome/9\", expected \"countscope-outcome/1\"",
    );
    fails_with(
        &countscope(&[
            "evaluate",
            "--model",
            &model(),
            &samples(),
            "--only",
            "4",
            "--outcome",
            junk.to_str().unwrap(),
        ]),
        "--only 4: the manifest lists recordings 1 to 3",
    );
}

#[test]
fn bad_manifests_name_their_line_and_missing_splits_are_not_passed() {
    let dir = tmpdir("evaluate-bad");
    let rec = root().join("artifacts/recordings/room100-heldout-10min.paired.jsonl.gz");
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let bad = write(
        "bad.toml",
        format!(
            "[[recording]]\npath = {:?}\nroom = \"a\"\nsplit = \"held-out\"\n",
            rec.display().to_string()
        ),
    );
    fails_with(
        &countscope(&["evaluate", "--model", &model(), &bad]),
        "manifest line 4: unknown variant `held-out`, expected `same-room` or `cross-room`",
    );
    let missing = write(
        "missing.toml",
        "[[recording]]\npath = \"a.jsonl\"\nroom = \"a\"\nsplit = \"same-room\"\n\n[[recording]]\npath = \"nowhere.jsonl\"\nroom = \"a\"\nsplit = \"same-room\"\n".into(),
    );
    std::fs::write(dir.join("a.jsonl"), b"").unwrap();
    let o = countscope(&["evaluate", "--model", &model(), "--jobs", "1", &missing]);
    fails_with(&o, "missing.toml line 1");
    // One split only: the other's gates are not evaluated, so the run is not a pass.
    let one = write(
        "one.toml",
        format!(
            "[[recording]]\npath = {:?}\nroom = \"room-100\"\nsplit = \"cross-room\"\n",
            rec.display().to_string()
        ),
    );
    let o = countscope(&["evaluate", "--json", "--model", &model(), &one]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = json(&o);
    assert_eq!(e["splits"][0]["recordings"], 0);
    assert_eq!(e["splits"][0]["gates"][0]["status"], "not_evaluated");
    assert_eq!(
        e["splits"][0]["gates"][0]["note"],
        "the manifest has no same-room recording"
    );
    assert_eq!(e["findings"][0]["code"], "split-missing");
    // A room in both splits is said.
    let both = write(
        "both.toml",
        format!(
            "[[recording]]\npath = {:?}\nroom = \"r\"\nsplit = \"cross-room\"\n[[recording]]\npath = {:?}\nroom = \"r\"\nsplit = \"same-room\"\n",
            rec.display().to_string(),
            root().join("artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz").display().to_string()
        ),
    );
    let e = json(&countscope(&[
        "evaluate",
        "--json",
        "--model",
        &model(),
        &both,
    ]));
    let codes: Vec<&str> = e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"room-in-both-splits"), "{codes:?}");
}

#[test]
fn a_real_unlabelled_recording_joins_a_set_without_being_scored() {
    let real = root().join("artifacts/real/rec_1772470567081-20260302_165607.csi.jsonl.gz");
    let dir = tmpdir("evaluate-real");
    let manifest = dir.join("real.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[recording]]\npath = {:?}\nroom = \"ruview-lab\"\nsplit = \"cross-room\"\nhop = 1\n\n[[recording]]\npath = {:?}\nroom = \"room-0\"\nsplit = \"same-room\"\n",
            real.display().to_string(),
            root().join("artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz").display().to_string()
        ),
    )
    .unwrap();
    let o = countscope(&[
        "evaluate",
        "--json",
        "--model",
        &model(),
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = json(&o);
    let real_line = &e["recordings"][0];
    assert_eq!(real_line["labelled_windows"], 0);
    assert!(
        real_line["windows"].as_u64().unwrap() > 200,
        "hop 1 from the manifest"
    );
    assert!(real_line["framing"]
        .as_str()
        .unwrap()
        .contains("framed per node"));
    let cross = &e["splits"][1];
    assert_eq!(cross["gates"][0]["status"], "not_evaluated");
    assert_eq!(cross["gates"][0]["note"], "the recording has no labels");
    assert!(cross["uncertainty"].is_null());
}
