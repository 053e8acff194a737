//! The wasm32-wasip2 component under real wasmtime gives the same predictions and report as the native
//! binary. Ignored in a plain `cargo test` (it needs the component built and wasmtime installed);
//! `cargo xtask test` builds both and runs these with `--ignored`, setting COUNTSCOPE_WASI.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn native(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_countscope"))
        .args(args)
        .output()
        .unwrap()
}

/// Run the component with the repository mounted at /repo (and RuView's files at /upstream when present).
fn wasi(args: &[&str]) -> Output {
    wasi_with("COUNTSCOPE_WASI", args)
}

/// Run the component the environment variable `var` names (as [`wasi`]).
fn wasi_with(var: &str, args: &[&str]) -> Output {
    let component = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} must name a wasm32-wasip2 countscope component (cargo xtask test sets it)")
    });
    let mut cmd = Command::new(std::env::var("WASMTIME").unwrap_or_else(|_| "wasmtime".into()));
    cmd.arg("run")
        .arg("-S")
        .arg("cli-exit-with-code=y")
        .arg("--dir")
        .arg(format!("{REPO}::/repo"));
    if let Some(up) = upstream() {
        cmd.arg("--dir").arg(format!("{}::/upstream", up.display()));
        let recordings = up.join("../ruview-recordings");
        if recordings.exists() {
            cmd.arg("--dir")
                .arg(format!("{}::/recordings", recordings.display()));
        }
    }
    cmd.arg(component)
        .args(args)
        .output()
        .expect("run wasmtime")
}

/// Host path → (native argument, guest argument).
fn both(p: &Path) -> (String, String) {
    let rel = p.strip_prefix(REPO).expect("inside the repository");
    (p.display().to_string(), format!("/repo/{}", rel.display()))
}

fn scratch(name: &str, text: &str) -> std::path::PathBuf {
    let d = Path::new(REPO).join("target/wasi-tests");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A replayed window's 8 count logits and its confidence logit.
fn logits(v: &Value) -> Vec<f64> {
    v["count_logits"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&v["conf_logit"]])
        .map(|l| l.as_f64().unwrap())
        .collect()
}

fn lines(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs the wasm32-wasip2 component and wasmtime: run by `cargo xtask test`"]
fn wasmtime_replay_equals_native() {
    let r = reference();
    let mut text = seed_tail();
    for (i, w) in r.windows.iter().enumerate() {
        text.push_str(&line(
            &frame_major(w),
            Some(i as u8),
            900_000 + i as u64 * 800,
        ));
        text.push('\n');
    }
    text.push_str("{\"csi\": broken\n");
    let rec = scratch("parity.paired.jsonl", &text);
    let (rec_n, rec_w) = both(&rec);
    for model in [
        "countnet_inline.onnx",
        "countnet_external.onnx",
        "countnet_calibrated.onnx",
    ] {
        let (m_n, m_w) = both(&fixture(model));
        let a = lines(&native(&["replay", "--model", &m_n, &rec_n]));
        let b = lines(&wasi(&["replay", "--model", &m_w, &rec_w]));
        assert_eq!(a.len(), 221);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            for key in [
                "line",
                "count",
                "truth",
                "correct",
                "count_p95_low",
                "count_p95_high",
                "ts_start",
            ] {
                assert_eq!(x[key], y[key], "{model} line {}: {key}", x["line"]);
            }
            for (p, q) in logits(x).iter().zip(logits(y)) {
                assert!(
                    (p - q).abs() <= 1e-5,
                    "{model} line {}: logit {p} native vs {q} wasmtime",
                    x["line"]
                );
            }
        }
    }
    // Same report numbers, same exit code.
    let (m_n, m_w) = both(&fixture("always_zero.onnx"));
    let a = native(&["report", "--json", "--model", &m_n, &rec_n]);
    let b = wasi(&["report", "--json", "--model", &m_w, &rec_w]);
    assert_eq!(a.status.code(), b.status.code());
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&b.stdout).unwrap(),
    );
    for key in [
        "windows",
        "labelled_windows",
        "skipped_lines",
        "accuracy",
        "within_pm1",
        "mae",
        "per_class",
        "confusion",
        "findings",
        "bad_lines",
    ] {
        assert_eq!(a[key], b[key], "report {key}");
    }
    for key in ["spearman", "brier", "ece"] {
        assert!(
            (a[key].as_f64().unwrap() - b[key].as_f64().unwrap()).abs() < 1e-5,
            "report {key}"
        );
    }
    // The intervals: the same seed and blocks under wasmtime, so the argmax-based ones are identical.
    let (ua, ub) = (&a["uncertainty"], &b["uncertainty"]);
    for key in [
        "blocks",
        "accuracy",
        "within_pm1",
        "mae",
        "seed",
        "resamples",
    ] {
        assert_eq!(ua[key], ub[key], "interval {key}");
    }
    assert!(ua["accuracy"]["high"].as_f64().unwrap() > ua["accuracy"]["low"].as_f64().unwrap());
    assert_eq!(
        a["gates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| &g["status"])
            .collect::<Vec<_>>(),
        b["gates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| &g["status"])
            .collect::<Vec<_>>()
    );
}

#[test]
#[ignore = "needs the wasm32-wasip2 component and wasmtime: run by `cargo xtask test`"]
fn wasmtime_runs_ruviews_model_and_names_its_missing_data_file() {
    let up =
        upstream().expect("../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout");
    let rec = scratch("zero.jsonl", &line(&[0.0; 1120], None, 0));
    let (_, rec_w) = both(&rec);
    let p = &lines(&wasi(&[
        "replay",
        "--model",
        "/upstream/count_v1.onnx",
        &rec_w,
    ]))[0];
    let want = [
        0.1873, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915,
    ];
    for (got, w) in p["probs"].as_array().unwrap().iter().zip(want) {
        assert!((got.as_f64().unwrap() - w).abs() < 5e-5, "{p}");
    }
    assert!((1.0 / (1.0 + (-p["conf_logit"].as_f64().unwrap()).exp()) - 0.48672).abs() < 5e-6);
    // Alone in a folder, it names count_v2.onnx.data and exits 2.
    let alone = Path::new(REPO).join("target/wasi-tests/alone");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(up.join("count_v1.onnx"), alone.join("count_v1.onnx")).unwrap();
    let o = wasi(&[
        "report",
        "--model",
        "/repo/target/wasi-tests/alone/count_v1.onnx",
        &rec_w,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("count_v2.onnx.data"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// RuView's release as users hold it (ONNX + safetensors + temperature, no `.data`; and the safetensors
/// alone) under wasmtime: RuView's reference, and the same report as native, `--normalise recording`
/// included.
#[test]
#[ignore = "needs the wasm32-wasip2 component and wasmtime: run by `cargo xtask test`"]
fn wasmtime_runs_ruviews_release_as_published() {
    let up =
        upstream().expect("../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout");
    let release = Path::new(REPO).join("target/wasi-tests/release");
    let alone = Path::new(REPO).join("target/wasi-tests/safetensors-alone");
    for (dir, files) in [
        (
            &release,
            &[
                "count_v1.onnx",
                "count_v1.safetensors",
                "count_v1.temperature",
            ][..],
        ),
        (&alone, &["count_v1.safetensors"][..]),
    ] {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        for f in files {
            std::fs::copy(up.join(f), dir.join(f)).unwrap();
        }
    }
    let rec = scratch("zero-release.jsonl", &line(&[0.0; 1120], None, 0));
    let (_, rec_w) = both(&rec);
    let want = [
        0.1873, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915,
    ];
    for model in [
        release.join("count_v1.onnx"),
        alone.join("count_v1.safetensors"),
    ] {
        let (_, model_w) = both(&model);
        let p = &lines(&wasi(&["replay", "--model", &model_w, &rec_w]))[0];
        for (got, w) in p["probs"].as_array().unwrap().iter().zip(want) {
            assert!((got.as_f64().unwrap() - w).abs() < 5e-5, "{model_w}: {p}");
        }
        let sig = 1.0 / (1.0 + (-p["conf_logit"].as_f64().unwrap()).exp());
        assert!((sig - 0.48672).abs() < 5e-5, "{model_w}: sigmoid {sig}");
    }
    // The report on a sample recording, raw and --normalise recording: the same as native.
    let sample =
        Path::new(REPO).join("artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz");
    let (sample_n, sample_w) = both(&sample);
    let (model_n, model_w) = both(&release.join("count_v1.onnx"));
    for extra in [&[][..], &["--normalise", "recording"][..]] {
        let mut n_args = vec!["report", "--json", "--model", &model_n, &sample_n];
        let mut w_args = vec!["report", "--json", "--model", &model_w, &sample_w];
        n_args.extend_from_slice(extra);
        w_args.extend_from_slice(extra);
        let (n, w) = (native(&n_args), wasi(&w_args));
        let stderr = String::from_utf8_lossy(&w.stderr);
        assert!(
            stderr.contains("8 tensor(s) from count_v1.safetensors"),
            "{stderr}"
        );
        let (n, w): (Value, Value) = (
            serde_json::from_slice(&n.stdout).unwrap(),
            serde_json::from_slice(&w.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}")),
        );
        for key in [
            "windows",
            "accuracy",
            "within_pm1",
            "mae",
            "findings",
            "input",
            "calibration",
            "per_class",
        ] {
            assert_eq!(n[key], w[key], "{key} with {extra:?}");
        }
    }
}

#[test]
#[ignore = "needs the wasm32-wasip2 component and wasmtime: run by `cargo xtask test`"]
fn wasmtime_simulates_every_sample_byte_for_byte() {
    let list =
        std::fs::read_to_string(Path::new(REPO).join("artifacts/recordings/samples.tsv")).unwrap();
    let out = Path::new(REPO).join("target/wasi-tests/samples");
    std::fs::create_dir_all(&out).unwrap();
    let mut checked = 0;
    for l in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, args) = l.split_once('\t').unwrap();
        let guest = format!("/repo/target/wasi-tests/samples/{name}");
        let mut argv = vec!["simulate"];
        argv.extend(args.split_whitespace());
        argv.extend(["-o", &guest]);
        let o = wasi(&argv);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = std::fs::read(out.join(name)).unwrap();
        let want = std::fs::read(Path::new(REPO).join("artifacts/recordings").join(name)).unwrap();
        assert!(
            got == want,
            "{name}: wasmtime wrote {} bytes that differ from the committed {} bytes",
            got.len(),
            want.len()
        );
        checked += 1;
    }
    assert!(checked >= 3);
}

/// The `wasm-kernel` feature (countscope's 8×5 matrix kernel and `DirectConv1d`, bound to tract-linalg
/// internals) changes no logit beyond 1e-5: the component built with `--no-default-features` runs tract's
/// own lowering, and both replay the held-out sample (747 windows) against the sample model.
#[test]
#[ignore = "needs both wasm32-wasip2 components and wasmtime: run by `cargo xtask test`"]
fn the_wasm_kernel_changes_no_logit_beyond_1e5() {
    let engine = |var| {
        let o = wasi_with(var, &["inspect", "/repo/artifacts/count_v1.onnx"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("engine: ").map(String::from))
            .expect("inspect names the engine")
    };
    assert!(engine("COUNTSCOPE_WASI").contains("countscope's wasm kernel"));
    assert_eq!(
        engine("COUNTSCOPE_WASI_NO_KERNEL"),
        "tract-onnx (its own kernels)"
    );
    let args = [
        "replay",
        "--model",
        "/repo/artifacts/count_v1.onnx",
        "/repo/artifacts/recordings/room100-heldout-10min.paired.jsonl.gz",
    ];
    let (with, without) = (
        lines(&wasi_with("COUNTSCOPE_WASI", &args)),
        lines(&wasi_with("COUNTSCOPE_WASI_NO_KERNEL", &args)),
    );
    assert_eq!(with.len(), 747);
    assert_eq!(with.len(), without.len());
    let mut worst = 0.0f64;
    for (x, y) in with.iter().zip(&without) {
        assert_eq!(x["line"], y["line"]);
        for (p, q) in logits(x).iter().zip(logits(y)) {
            worst = worst.max((p - q).abs());
        }
    }
    assert!(worst <= 1e-5, "largest logit difference {worst}");
    eprintln!("wasm kernel on vs off: largest logit difference {worst:e} over 747 windows");
}

/// RuView's real CSI files under wasmtime: the same framing, windows and predictions as native.
#[test]
#[ignore = "needs the wasm32-wasip2 component and wasmtime: run by `cargo xtask test`"]
fn wasmtime_frames_ruviews_real_csi_files_as_native_does() {
    let up = upstream().expect("../shared/upstream must sit beside the checkout");
    // The sample model, and RuView's own (its ONNX with the data file beside it).
    let sample = both(&Path::new(REPO).join("artifacts/count_v1.onnx"));
    let ruview = (
        up.join("count_v1.onnx").display().to_string(),
        "/upstream/count_v1.onnx".to_string(),
    );
    for ((m_n, m_w), name) in [sample, ruview].iter().flat_map(|m| {
        [
            "rec_1772470567081-20260302_165607.csi.jsonl",
            "pretrain-1775182186.csi.jsonl",
        ]
        .map(|name| (m.clone(), name))
    }) {
        let (m_n, m_w) = (m_n.as_str(), m_w.as_str());
        let host = up.join("../ruview-recordings").join(name);
        let guest = format!("/recordings/{name}");
        let a = native(&["report", "--json", "--model", m_n, host.to_str().unwrap()]);
        let b = wasi(&["report", "--json", "--model", m_w, &guest]);
        assert_eq!(
            a.status.code(),
            b.status.code(),
            "{}",
            String::from_utf8_lossy(&b.stderr)
        );
        let (a, b): (Value, Value) = (
            serde_json::from_slice(&a.stdout).unwrap(),
            serde_json::from_slice(&b.stdout).unwrap(),
        );
        assert_eq!(
            a["recording"]["framing"], b["recording"]["framing"],
            "{name}"
        );
        assert!(a["windows"].as_u64().unwrap() > 0);
        for key in ["windows", "per_class", "findings", "skipped_lines"] {
            assert_eq!(a[key], b[key], "{name}: {key}");
        }
        let (pa, pb) = (
            lines(&native(&["replay", "--model", m_n, host.to_str().unwrap()])),
            lines(&wasi(&["replay", "--model", m_w, &guest])),
        );
        assert_eq!(pa.len(), pb.len());
        for (x, y) in pa.iter().zip(&pb) {
            assert_eq!((&x["line"], &x["count"]), (&y["line"], &y["count"]));
            for (p, q) in logits(x).iter().zip(logits(y)) {
                assert!(
                    (p - q).abs() <= 1e-5,
                    "{name} line {}: {p} vs {q}",
                    x["line"]
                );
            }
        }
    }
}

#[test]
#[ignore = "needs the wasm32-wasip2 component and wasmtime: run by `cargo xtask test`"]
fn wasmtime_evaluates_the_sample_manifest_as_native_does_and_merges_its_own_outcomes() {
    let (m_n, m_w) = both(&Path::new(REPO).join("artifacts/count_v1.onnx"));
    let (s_n, s_w) = both(&Path::new(REPO).join("artifacts/recordings/samples.toml"));
    let a = native(&["evaluate", "--json", "--model", &m_n, &s_n]);
    let b = wasi(&["evaluate", "--json", "--model", &m_w, &s_w]);
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(
        b.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&b.stdout).unwrap(),
    );
    assert_eq!(a["model"]["fingerprint"], b["model"]["fingerprint"]);
    assert_eq!(a["recordings"], b["recordings"], "per-recording lines");
    assert_eq!(a["rooms"].as_array().unwrap().len(), 2);
    for (x, y) in a["splits"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["splits"].as_array().unwrap())
    {
        let (mx, my) = (&x["metrics"], &y["metrics"]);
        for key in [
            "windows",
            "accuracy",
            "within_pm1",
            "mae",
            "per_class",
            "confusion",
        ] {
            assert_eq!(mx[key], my[key], "{} {key}", x["split"]);
        }
        for key in ["spearman", "brier", "ece"] {
            let d = (mx[key].as_f64().unwrap() - my[key].as_f64().unwrap()).abs();
            assert!(d < 1e-5, "{} {key}: {d}", x["split"]);
        }
        for key in ["blocks", "accuracy", "within_pm1", "mae"] {
            assert_eq!(
                x["uncertainty"][key], y["uncertainty"][key],
                "{} interval {key}",
                x["split"]
            );
        }
        let status = |s: &Value| {
            s["gates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["status"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(status(x), status(y));
    }
    // The component's own fan-out and fan-in give its single run's bytes.
    let single = wasi(&["evaluate", "--json", "--model", &m_w, &s_w]);
    let mut outcomes = Vec::new();
    for n in ["1", "2", "3"] {
        let (o_n, o_w) = both(&Path::new(REPO).join(format!("target/wasi-tests/outcome-{n}.json")));
        std::fs::create_dir_all(Path::new(REPO).join("target/wasi-tests")).unwrap();
        let o = wasi(&[
            "evaluate",
            "--model",
            &m_w,
            &s_w,
            "--only",
            n,
            "--outcome",
            &o_w,
        ]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(Path::new(&o_n).exists());
        outcomes.push(o_w);
    }
    let mut args = vec!["evaluate", "--json", "--model", &m_w, &s_w, "--merge"];
    args.extend(outcomes.iter().map(String::as_str));
    let merged = wasi(&args);
    assert_eq!(merged.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&merged.stdout),
        String::from_utf8_lossy(&single.stdout)
    );
}
