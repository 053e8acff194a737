//! The `countscope` binary end to end: exit codes, the seed table, bad lines, layouts, calibration, and
//! RuView's published model files.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn countscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_countscope"))
        .args(args)
        .output()
        .expect("run countscope")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `needle` is in what stderr says.
fn says(o: &Output, needle: &str) {
    assert!(
        stderr(o).contains(needle),
        "{needle:?} not in {}",
        stderr(o)
    );
}

/// Exit code 2 (bad input), with `needle` in what stderr says.
fn fails_with(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    says(o, needle);
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

#[test]
fn seed_table_always_zero_on_ruviews_held_out_tail() {
    let dir = tmpdir("seed");
    let rec = write(&dir, "tail.paired.jsonl", seed_tail());
    let o = countscope(&[
        "report",
        "--json",
        "--model",
        &fixture_str("always_zero.onnx"),
        &rec,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a gate is not met → exit 1; {}",
        stderr(&o)
    );
    let r = json(&o);
    assert_eq!(r["windows"], 215);
    assert_eq!(r["skipped_lines"], 0);
    assert_eq!(
        format!("{:.1}", r["accuracy"].as_f64().unwrap() * 100.0),
        "65.1"
    );
    assert_eq!(format!("{:.3}", r["mae"].as_f64().unwrap()), "0.349");
    assert_eq!(r["within_pm1"], 1.0);
    assert_eq!(r["per_class"][0]["support"], 140);
    assert_eq!(r["per_class"][0]["accuracy"], 1.0);
    assert_eq!(r["per_class"][1]["support"], 75);
    assert_eq!(r["per_class"][1]["accuracy"], 0.0);
    assert_eq!(r["majority_baseline"].as_f64().unwrap(), 140.0 / 215.0);
    let codes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    for code in [
        "within-pm1-trivial",
        "prediction-collapse",
        "below-majority-baseline",
        "class-never-right",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let gate = |name: &str| {
        r["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(gate("within_pm1")["status"], "met_only_trivially");
    // MAE 0.349 meets ≤ 0.6, but 215 windows with one change of occupancy cannot say so.
    assert_eq!(gate("mae")["status"], "met_but_uncertain");
    assert_eq!(r["gates_passed"], false);
    for code in ["few-independent-windows", "gate-uncertain"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    // The accuracy interval: 65.1 % on windows worth a handful of independent ones.
    let u = &r["uncertainty"];
    let (low, high) = (
        u["accuracy"]["low"].as_f64().unwrap(),
        u["accuracy"]["high"].as_f64().unwrap(),
    );
    assert!(low < 140.0 / 215.0 && 140.0 / 215.0 < high);
    assert!(high - low > 0.4, "{u}");
    assert!(u["effective_windows"].as_f64().unwrap() < 10.0, "{u}");
    assert_eq!(u["blocks"][0]["windows"], 215);
    assert_eq!(u["resamples"], 2000);
    assert!(
        u["spearman"].is_null() == r["spearman"].is_null(),
        "an interval exactly where ρ is defined: {u}"
    );

    // The human table ends with the ADR-103 comparison.
    let o = countscope(&["report", "--model", &fixture_str("always_zero.onnx"), &rec]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("Comparison to ADR-103 targets"));
    assert!(
        text.contains(
            "| accuracy within ±1 | ≥ 80.0 % | 100.0 % | 100.0 % to 100.0 % | met only trivially"
        ),
        "{text}"
    );
    assert!(text.contains("| accuracy | 65.1 %"), "{text}");
    assert!(
        text.contains(&format!(
            "| {:.1} % to {:.1} % |",
            low * 100.0,
            high * 100.0
        )),
        "the accuracy interval in the table: {text}"
    );
    assert!(
        text.contains("met, but the 95 % interval crosses the target"),
        "{text}"
    );
}

#[test]
fn gates_can_be_overridden_and_unknown_gates_are_usage_errors() {
    let dir = tmpdir("gates");
    let rec = write(&dir, "tail.paired.jsonl", seed_tail());
    let model = fixture_str("always_zero.onnx");
    let o = countscope(&[
        "report",
        "--json",
        "--model",
        &model,
        "--gate",
        "mae=0.001",
        "--gate",
        "accuracy=0.2",
        "--gate",
        "within_pm1=1.0",
        &rec,
    ]);
    let r = json(&o);
    let gates = r["gates"].as_array().unwrap();
    let status = |name: &str| gates.iter().find(|g| g["name"] == name).unwrap()["status"].clone();
    // Targets outside the 95 % intervals (accuracy ≈ 30–100 %, MAE ≈ 0.005–0.7) give crisp verdicts;
    // an interval ending at the target itself does not lie on both sides of it.
    assert_eq!(status("mae"), "not_met");
    assert_eq!(status("accuracy"), "met");
    assert_eq!(status("within_pm1"), "met_only_trivially");
    let o = countscope(&[
        "report", "--json", "--model", &model, "--gate", "mae=0.3", &rec,
    ]);
    let r = json(&o);
    let gates = r["gates"].as_array().unwrap();
    let mae = gates.iter().find(|g| g["name"] == "mae").unwrap();
    // MAE 0.349 misses ≤ 0.3, but its interval reaches below the target.
    assert_eq!(mae["status"], "not_met_but_uncertain", "{mae}");
    assert!(mae["interval"]["low"].as_f64().unwrap() < 0.3);
    let o = countscope(&["report", "--model", &model, "--gate", "speed=3", &rec]);
    fails_with(&o, "unknown gate \"speed\"");
}

#[test]
fn good_lines_replay_and_every_bad_line_is_listed() {
    let r = reference();
    let good = |i: usize, label: u8| line(&frame_major(&r.windows[i]), Some(label), i as u64 * 800);
    let text = [
        good(0, 0),
        "{\"csi\": [1, 2".to_string(),
        good(1, 1),
        good(2, 2).replace("[20,56]", "[20,70]"),
        String::new(),
        good(3, 3).replace("\"n_persons_mode\":3", "\"n_persons_mode\":-2"),
        good(4, 4),
        good(5, 5).replacen("[", "[\"x\",", 1),
        good(5, 5),
    ]
    .join("\n");
    let dir = tmpdir("mixed");
    let rec = write(&dir, "mixed.paired.jsonl", &text);
    let o = countscope(&[
        "replay",
        "--model",
        &fixture_str("countnet_inline.onnx"),
        &rec,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let numbers: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, vec![1, 3, 7, 9]);
    let err = stderr(&o);
    for (n, why) in [
        (2, "invalid JSON"),
        (4, "csi shape [20,70]"),
        (6, "cannot be negative"),
        (8, "csi[0] is the string \"x\""),
    ] {
        let listed = err
            .lines()
            .find(|l| l.starts_with(&format!("countscope: skipped line {n}: ")));
        assert!(
            listed.is_some_and(|l| l.contains(why)),
            "line {n} ({why}) not listed in:\n{err}"
        );
    }
    // Logits of the good windows match onnxruntime (the layout trap resolved as labelled: transposed).
    let want = &r.models["countnet_inline.onnx"];
    for (l, w) in lines.iter().zip([0usize, 1, 4, 5]) {
        for (a, b) in l["count_logits"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&want.count_logits[w])
        {
            assert!((a.as_f64().unwrap() as f32 - b).abs() < 1e-4);
        }
    }
    // Strict mode stops at the first bad line, naming it.
    let o = countscope(&[
        "replay",
        "--strict",
        "--model",
        &fixture_str("countnet_inline.onnx"),
        &rec,
    ]);
    fails_with(&o, "line 2: invalid JSON");
    // The report counts them.
    let o = countscope(&[
        "report",
        "--json",
        "--model",
        &fixture_str("countnet_inline.onnx"),
        &rec,
    ]);
    let rep = json(&o);
    assert_eq!(
        (rep["windows"].as_u64(), rep["skipped_lines"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(rep["bad_lines"][1]["line"], 4);
}

#[test]
fn a_recording_with_no_usable_window_is_exit_2() {
    let dir = tmpdir("empty");
    let rec = write(&dir, "bad.jsonl", "not json\n{\"csi\":[]}\n");
    let o = countscope(&[
        "report",
        "--model",
        &fixture_str("countnet_inline.onnx"),
        &rec,
    ]);
    fails_with(&o, "no usable window (2 line(s) skipped)");
}

#[test]
fn unlabelled_recordings_replay_but_are_never_scored() {
    let r = reference();
    let text: String = r
        .windows
        .iter()
        .map(|w| line(&frame_major(w), None, 0) + "\n")
        .collect();
    let dir = tmpdir("unlabelled");
    let rec = write(&dir, "u.jsonl", text);
    let o = countscope(&[
        "report",
        "--json",
        "--model",
        &fixture_str("countnet_inline.onnx"),
        &rec,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "gates cannot be evaluated → not met"
    );
    let rep = json(&o);
    assert_eq!(rep["windows"], 6);
    assert_eq!(rep["labelled_windows"], 0);
    assert!(rep["accuracy"].is_null() && rep["mae"].is_null() && rep["spearman"].is_null());
    assert!(rep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "no-labels"));
    assert!(rep["gates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["status"] == "not_evaluated"));
}

#[test]
fn layout_label_and_override_are_explicit() {
    let r = reference();
    let w = &r.windows[3];
    // The same physical window, written by the current writer ([20,56]) and by the pre-#1007 writer
    // (same frame-major values labelled [56,20]).
    let current = line(&frame_major(w), Some(1), 0);
    let legacy = current.replace("[20,56]", "[56,20]");
    let dir = tmpdir("layout");
    let cur = write(&dir, "cur.jsonl", &current);
    let leg = write(&dir, "leg.jsonl", &legacy);
    let model = fixture_str("countnet_inline.onnx");
    let run = |args: &[&str]| -> Value {
        let o = countscope(args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let a = run(&["replay", "--model", &model, &cur]);
    let b = run(&["replay", "--model", &model, &leg]);
    let c = run(&["replay", "--model", &model, "--layout", "frame-major", &leg]);
    let d = run(&["replay", "--model", &model, "--layout", "as-stored", &cur]);
    assert_eq!(
        a["count_logits"], c["count_logits"],
        "frame-major override reads the legacy label like the current one"
    );
    assert_eq!(
        b["count_logits"], d["count_logits"],
        "as-stored override reads the current label like the legacy one"
    );
    assert_ne!(a["count_logits"], b["count_logits"]);
    let rep = json(&countscope(&[
        "report",
        "--json",
        "--model",
        &model,
        "--layout",
        "as-stored",
        &cur,
    ]));
    assert_eq!(rep["layout"]["policy"], "as-stored");
    assert!(rep["layout"]["description"]
        .as_str()
        .unwrap()
        .contains("overridden"));
}

#[test]
fn csv_output_has_a_header_and_one_row_per_window() {
    let dir = tmpdir("csv");
    let rec = write(&dir, "tail.jsonl", seed_tail());
    let out = dir.join("out.csv");
    let o = countscope(&[
        "replay",
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
        "--model",
        &fixture_str("always_zero.onnx"),
        &rec,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 216);
    assert!(rows[0].starts_with(
        "line,ts_start,ts_end,truth,count,correct,confidence,count_p95_low,count_p95_high,p0,"
    ));
    assert!(
        rows[1].starts_with("1,2026-05-20T14:00:00.000Z,2026-05-20T14:00:00.760Z,0,0,true,"),
        "{}",
        rows[1]
    );
}

#[test]
fn external_data_is_read_from_the_model_folder_and_never_outside_it() {
    let model = read("countnet_external.onnx");
    let data = read("countnet_external.onnx.data");
    let name = b"countnet_external.onnx.data";
    let dir = tmpdir("escape");
    let inner = dir.join("model");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(dir.join("countnet_external.onnx.data"), &data).unwrap();
    let rec = write(&dir, "r.jsonl", seed_tail());
    // Same-length replacements keep the protobuf valid.
    for (i, evil) in [
        &b"../countnet_external.onnx.d"[..],
        b"/tmp/countnet_external.data",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(evil.len(), name.len());
        let mut bytes = model.clone();
        let mut at = 0;
        while let Some(p) = bytes[at..].windows(name.len()).position(|w| w == name) {
            bytes[at + p..at + p + name.len()].copy_from_slice(evil);
            at += p + name.len();
        }
        let m = write(&inner, &format!("evil{i}.onnx"), &bytes);
        let o = countscope(&["report", "--model", &m, &rec]);
        fails_with(&o, "refusing external data location");
    }
    // A link that points out of the folder is refused too.
    #[cfg(unix)]
    {
        let m = write(&inner, "countnet_external.onnx", &model);
        std::os::unix::fs::symlink(
            dir.join("countnet_external.onnx.data"),
            inner.join("countnet_external.onnx.data"),
        )
        .unwrap();
        let o = countscope(&["report", "--model", &m, &rec]);
        fails_with(&o, "outside the model's folder");
        // …and the model loads once the real file sits beside it.
        std::fs::remove_file(inner.join("countnet_external.onnx.data")).unwrap();
        std::fs::write(inner.join("countnet_external.onnx.data"), &data).unwrap();
        let o = countscope(&["report", "--model", &m, &rec]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    }
}

#[test]
fn ruview_model_cli_with_and_without_its_data_file() {
    let up = upstream().expect(
        "../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout for this test",
    );
    let dir = tmpdir("ruview");
    let zero = line(&[0.0; 1120], None, 0);
    let rec = write(&dir, "zero.jsonl", &zero);
    let o = countscope(&[
        "replay",
        "--model",
        up.join("count_v1.onnx").to_str().unwrap(),
        &rec,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p: Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = [
        0.1873, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915,
    ];
    for (got, w) in p["probs"].as_array().unwrap().iter().zip(want) {
        assert!((got.as_f64().unwrap() - w).abs() < 5e-5, "{p}");
    }
    let conf_logit = p["conf_logit"].as_f64().unwrap();
    assert!((1.0 / (1.0 + (-conf_logit).exp()) - 0.48672).abs() < 5e-6);
    // The sidecar beside it is applied and reported: σ(logit / 0.926…).
    let t = 0.926_182_27;
    assert!(
        (p["confidence"].as_f64().unwrap() - 1.0 / (1.0 + (-conf_logit / t).exp())).abs() < 1e-6
    );
    let inspect = json(&countscope(&[
        "inspect",
        "--json",
        up.join("count_v1.onnx").to_str().unwrap(),
    ]));
    assert_eq!(inspect["model"]["parameters"], 97_737);
    assert_eq!(inspect["loads"], true);

    // Alone, it must name its missing companion and exit 2.
    let alone = dir.join("count_v1.onnx");
    std::fs::copy(up.join("count_v1.onnx"), &alone).unwrap();
    let o = countscope(&["report", "--model", alone.to_str().unwrap(), &rec]);
    fails_with(&o, "count_v2.onnx.data");
    let o = countscope(&["inspect", alone.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("loads: no: ")
            && String::from_utf8_lossy(&o.stdout).contains("`count_v2.onnx.data`")
    );
}

/// A model using an op outside the page's list (LeakyRelu): the CLI loads and replays it (it registers
/// every op tract-onnx knows), and `inspect` says the page will refuse it, naming the op.
#[test]
fn a_model_outside_the_pages_ops_runs_here_and_inspect_says_the_page_refuses_it() {
    let dir = tmpdir("leaky");
    let rec = write(&dir, "r.jsonl", seed_tail());
    let leaky = fixture_str("count_v1_leaky.onnx");
    let o = countscope(&["report", "--json", "--model", &leaky, &rec]);
    // 0 or 1 (gates met or not); 2 would be a refusal.
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    assert_eq!(json(&o)["windows"], 215);
    let o = countscope(&["inspect", &leaky]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("page: refused, it does not include LeakyRelu (first node ")
            && out.contains("loads: yes"),
        "{out}"
    );
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/count_v1.onnx");
    let o = countscope(&["inspect", "--json", sample.to_str().unwrap()]);
    let v = json(&o);
    assert_eq!(v["model"]["outside_page"], serde_json::json!([]));
}

#[test]
fn wrong_model_is_exit_2_with_expected_and_found() {
    let dir = tmpdir("wrong");
    let rec = write(&dir, "r.jsonl", seed_tail());
    let o = countscope(&[
        "report",
        "--model",
        &fixture_str("wrong_channels.onnx"),
        &rec,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("expected one input f32 [N,56,20]") && e.contains("[batch,70,20]"),
        "{e}"
    );
    let o = countscope(&["report", "--model", &rec, &rec]);
    fails_with(&o, "not an ONNX model");
}

/// RuView's release as a user holds it: `count_v1.onnx`, `count_v1.safetensors`, `count_v1.temperature`
/// and no `count_v2.onnx.data`; and the safetensors alone. Both give RuView's reference on a zero window.
#[test]
fn ruview_release_replays_from_onnx_with_safetensors_and_from_safetensors_alone() {
    let up = upstream().expect(
        "../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout for this test",
    );
    let dir = tmpdir("ruview-release");
    for f in [
        "count_v1.onnx",
        "count_v1.safetensors",
        "count_v1.temperature",
    ] {
        std::fs::copy(up.join(f), dir.join(f)).unwrap();
    }
    let alone = tmpdir("ruview-safetensors-alone");
    std::fs::copy(
        up.join("count_v1.safetensors"),
        alone.join("count_v1.safetensors"),
    )
    .unwrap();
    let rec = write(&dir, "zero.jsonl", line(&[0.0; 1120], None, 0));
    let want = [
        0.1873, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915,
    ];
    for model in [
        dir.join("count_v1.onnx"),
        alone.join("count_v1.safetensors"),
    ] {
        let o = countscope(&["replay", "--model", model.to_str().unwrap(), &rec]);
        assert!(o.status.success(), "{}: {}", model.display(), stderr(&o));
        let p: Value = serde_json::from_slice(&o.stdout).unwrap();
        for (got, w) in p["probs"].as_array().unwrap().iter().zip(want) {
            assert!(
                (got.as_f64().unwrap() - w).abs() < 5e-5,
                "{}: {p}",
                model.display()
            );
        }
        let conf_logit = p["conf_logit"].as_f64().unwrap();
        assert!(
            (1.0 / (1.0 + (-conf_logit).exp()) - 0.48672).abs() < 5e-5,
            "{p}"
        );
    }
    // The ONNX took its 8 missing tensors from the safetensors beside it, and says so.
    let o = countscope(&[
        "report",
        "--json",
        "--model",
        dir.join("count_v1.onnx").to_str().unwrap(),
        &rec,
    ]);
    assert!(
        stderr(&o).contains("8 tensor(s) from count_v1.safetensors (enc_c1.weight, enc_c2.weight"),
        "{}",
        stderr(&o)
    );
    let r = json(&o);
    assert_eq!(r["model"]["weights"][0]["file"], "count_v1.onnx");
    assert_eq!(r["model"]["weights"][1]["file"], "count_v1.safetensors");
    assert_eq!(
        r["model"]["weights"][1]["tensors"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        r["calibration"]["temperature_source"]["detail"],
        "count_v1.temperature"
    );
    // --weights from anywhere fills a lone ONNX too.
    let lone = tmpdir("ruview-onnx-lone");
    std::fs::copy(up.join("count_v1.onnx"), lone.join("count_v1.onnx")).unwrap();
    let o = countscope(&[
        "replay",
        "--model",
        lone.join("count_v1.onnx").to_str().unwrap(),
        "--weights",
        up.join("count_v1.safetensors").to_str().unwrap(),
        &rec,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Without it, the error says where RuView's weights are.
    let o = countscope(&[
        "replay",
        "--model",
        lone.join("count_v1.onnx").to_str().unwrap(),
        &rec,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`count_v2.onnx.data`")
            && stderr(&o).contains("--weights count_v1.safetensors"),
        "{}",
        stderr(&o)
    );
    // inspect describes the safetensors file.
    let i = json(&countscope(&[
        "inspect",
        "--json",
        alone.join("count_v1.safetensors").to_str().unwrap(),
    ]));
    assert_eq!(i["loads"], true);
    assert_eq!(i["model"]["format"], "safetensors");
    assert_eq!(i["model"]["parameters"], 97_737);
    assert_eq!(i["model"]["safetensors"]["countnet"], true);
    assert_eq!(
        i["model"]["safetensors"]["tensors"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    assert_eq!(
        i["model"]["safetensors"]["tensors"][0]["name"],
        "enc.c1.weight"
    );
}

#[test]
fn bad_safetensors_exit_2_naming_the_tensor_or_bytes() {
    let up =
        upstream().expect("../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout");
    let dir = tmpdir("bad-safetensors");
    let rec = write(&dir, "zero.jsonl", line(&[0.0; 1120], None, 0));
    let cases = bad_ruview_safetensors();
    for (what, bytes, needle) in cases {
        let path = write(&dir, &format!("{what}.safetensors"), bytes);
        for args in [
            vec!["replay", "--model", path.as_str(), rec.as_str()],
            vec!["inspect", path.as_str()],
        ] {
            let o = countscope(&args);
            let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
            assert_eq!(o.status.code(), Some(2), "{what} {args:?}: {all}");
            assert!(
                all.contains(needle),
                "{what} {args:?}: {needle:?} not in {all}"
            );
            assert!(!all.contains("panicked"), "{all}");
        }
    }
    // A non-CountNet file lists what CountNet expects.
    let o = countscope(&[
        "replay",
        "--model",
        dir.join("names.safetensors").to_str().unwrap(),
        &rec,
    ]);
    says(&o, "CountNet expects exactly enc.c1.weight [H1,56,3]");
    // As --weights for an ONNX, a bad file is named too.
    let o = countscope(&[
        "replay",
        "--model",
        up.join("count_v1.onnx").to_str().unwrap(),
        "--weights",
        dir.join("truncated.safetensors").to_str().unwrap(),
        &rec,
    ]);
    fails_with(
        &o,
        "truncated.safetensors: weights: tensor `conf_head.fc2.weight`",
    );
}

/// The input-scale finding: RuView's model (no statistics) fed raw amplitudes is told it may mean
/// nothing; `--normalise recording` z-scores with the recording's own statistics and says so; the sample
/// model, which carries its statistics, gets no such finding.
#[test]
fn input_scale_is_reported_and_normalise_recording_is_said() {
    let up =
        upstream().expect("../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout");
    let rec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz");
    let rec = rec.to_str().unwrap();
    let ruview = up.join("count_v1.safetensors");
    let codes = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    let raw = json(&countscope(&[
        "report",
        "--json",
        "--model",
        ruview.to_str().unwrap(),
        rec,
    ]));
    assert!(
        codes(&raw).contains(&"input-not-normalised".to_string()),
        "{:?}",
        codes(&raw)
    );
    assert_eq!(raw["input"]["mean"].as_array().unwrap().len(), 56);
    assert_eq!(raw["input"]["std"].as_array().unwrap().len(), 56);
    assert_eq!(raw["input"]["normalised"], false);
    assert!(
        raw["input"]["max"].as_f64().unwrap() > 3.0,
        "{}",
        raw["input"]
    );
    let z = json(&countscope(&[
        "report",
        "--json",
        "--normalise",
        "recording",
        "--model",
        ruview.to_str().unwrap(),
        rec,
    ]));
    assert!(
        !codes(&z).contains(&"input-not-normalised".to_string()),
        "{:?}",
        codes(&z)
    );
    assert_eq!(
        z["calibration"]["normalisation_source"]["kind"],
        "recording"
    );
    assert_eq!(z["input"]["normalised"], true);
    assert!(z["calibration"]["description"]
        .as_str()
        .unwrap()
        .contains("--normalise recording"));
    // The same raw statistics either way: they describe the recording, not the model.
    assert_eq!(raw["input"]["mean"], z["input"]["mean"]);
    // Standard input gives the same two passes.
    let bytes = std::fs::read(rec).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_countscope"))
        .args([
            "report",
            "--json",
            "--normalise",
            "recording",
            "--model",
            ruview.to_str().unwrap(),
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes).unwrap();
    let piped = json(&child.wait_with_output().unwrap());
    assert_eq!(piped["accuracy"], z["accuracy"]);
    assert_eq!(piped["input"], z["input"]);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/count_v1.onnx");
    let s = json(&countscope(&[
        "report",
        "--json",
        "--model",
        sample.to_str().unwrap(),
        rec,
    ]));
    assert!(
        !codes(&s).iter().any(|c| c.starts_with("input-")),
        "{:?}",
        codes(&s)
    );
    assert_eq!(s["input"]["normalised"], true);
}

/// A closed standard output (`countscope replay … | head -1`) ends the run quietly with status 0, as
/// ripgrep and every Unix filter do; any other write error is exit 2 with its reason.
#[test]
fn a_closed_stdout_ends_quietly_and_other_write_errors_are_exit_2() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/count_v1.onnx");
    let rec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/recordings/room0-30min.paired.jsonl.gz");
    let (model, rec) = (model.to_str().unwrap(), rec.to_str().unwrap());
    let commands: [&[&str]; 5] = [
        &["replay", "--model", model, rec],
        &["replay", "--format", "csv", "--model", model, rec],
        &["report", "--model", model, rec],
        &["inspect", model],
        &[
            "bench",
            "--model",
            model,
            "--windows",
            "64",
            "--repeat",
            "1",
            "--batch",
            "1",
        ],
    ];
    for args in commands {
        // The reading end is closed before countscope has loaded its model, so its first write fails.
        let mut child = Command::new(env!("CARGO_BIN_EXE_countscope"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(
            o.status.code() == Some(0) || (args[0] == "report" && o.status.code() == Some(1)),
            "{args:?}: {:?} {err}",
            o.status
        );
        assert!(
            !err.contains("Broken pipe") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // A full disk is not a closed reader: exit 2 with the reason.
    if Path::new("/dev/full").exists() {
        for args in [
            &["replay", "--model", model, rec][..],
            &["inspect", model][..],
        ] {
            let o = Command::new(env!("CARGO_BIN_EXE_countscope"))
                .args(args)
                .stdout(std::fs::File::create("/dev/full").unwrap())
                .output()
                .unwrap();
            fails_with(&o, "No space left on device");
        }
    }
}

/// One precedence for the temperature, the core's: explicit > the model's metadata > a sidecar beside it
/// (by the core's names: `<stem>.temperature`, then `<file>.temperature`) > 1.
#[test]
fn temperature_precedence_is_explicit_then_metadata_then_sidecar() {
    let dir = tmpdir("precedence");
    let rec = write(&dir, "r.jsonl", seed_tail());
    for (model, side, text) in [
        (
            "countnet_calibrated.onnx",
            "countnet_calibrated.temperature",
            "9",
        ),
        ("countnet_inline.onnx", "countnet_inline.temperature", "2.5"),
        (
            "countnet_inline.onnx",
            "countnet_inline.onnx.temperature",
            "2.5",
        ),
    ] {
        let sub = tmpdir(&format!("precedence-{side}"));
        std::fs::copy(fixture(model), sub.join(model)).unwrap();
        write(&sub, side, text);
        let m = sub.join(model);
        let report = |extra: &[&str]| {
            let mut args = vec!["report", "--json", "--model", m.to_str().unwrap(), &rec];
            args.extend_from_slice(extra);
            json(&countscope(&args))["calibration"].clone()
        };
        let c = report(&[]);
        if model == "countnet_calibrated.onnx" {
            assert_eq!(
                c["temperature"], 1.75,
                "the model's own wins over {side}: {c}"
            );
            assert_eq!(c["temperature_source"]["kind"], "model_metadata");
        } else {
            assert_eq!(c["temperature"], 2.5, "{side}: {c}");
            assert_eq!(c["temperature_source"]["detail"], side);
        }
        let c = report(&["--temperature", "0.5"]);
        assert_eq!(
            (c["temperature"].as_f64(), &c["temperature_source"]["kind"]),
            (Some(0.5), &Value::from("explicit"))
        );
    }
}

/// `countscope compare`: the sample model against a copy with noise on its weights
/// (`tests/fixtures/weaken.py`), and against itself.
#[test]
fn compare_names_the_better_model_and_finds_nothing_between_a_model_and_itself() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("artifacts/count_v1.onnx");
    let weak = fixture("count_v1_weakened.onnx");
    let rec = root.join("artifacts/recordings/room0-30min.paired.jsonl.gz");
    let (sample, weak, rec) = (
        sample.to_str().unwrap(),
        weak.to_str().unwrap(),
        rec.to_str().unwrap(),
    );
    let o = countscope(&["compare", "--json", "--model", sample, "--model", weak, rec]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&o);
    assert_eq!(c["better"], "a", "{}", c["findings"]);
    let p = &c["paired"];
    let acc = &p["accuracy"];
    assert!(acc["a_minus_b"].as_f64().unwrap() > 0.0);
    assert!(acc["interval"]["low"].as_f64().unwrap() > 0.0, "{acc}");
    assert_eq!(acc["significant"], true);
    assert!(p["mcnemar_p"].as_f64().unwrap() < 1e-6);
    assert_eq!(
        p["only_a_right"].as_u64().unwrap()
            + p["only_b_right"].as_u64().unwrap()
            + p["both_right"].as_u64().unwrap()
            + p["both_wrong"].as_u64().unwrap(),
        p["windows"].as_u64().unwrap()
    );
    assert_eq!(c["findings"][0]["code"], "difference-significant");
    // Each side's numbers are its own report's, intervals included.
    let report = json(&countscope(&["report", "--json", "--model", sample, rec]));
    for key in ["accuracy", "within_pm1", "mae", "spearman", "ece"] {
        assert_eq!(c["models"][0]["metrics"][key], report[key], "{key}");
        assert_eq!(
            c["models"][0]["uncertainty"][key], report["uncertainty"][key],
            "{key}"
        );
    }
    // The per-class differences and the agreement of counts add up to the windows.
    let windows = c["windows"].as_u64().unwrap();
    let agreement: u64 = c["agreement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(agreement, windows);
    let support: u64 = c["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["support"].as_u64().unwrap())
        .sum();
    assert_eq!(support, windows);

    // Against itself: no difference, p = 1, an interval holding 0.
    let o = countscope(&[
        "compare", "--json", "--model", sample, "--model", sample, rec,
    ]);
    let c = json(&o);
    assert!(c["better"].is_null());
    assert_eq!(c["disagreements"], 0);
    assert_eq!(c["paired"]["mcnemar_p"], 1.0);
    assert_eq!(c["paired"]["accuracy"]["a_minus_b"], 0.0);
    assert_eq!(c["paired"]["accuracy"]["significant"], false);
    assert!(c["paired"]["accuracy"]["interval"]["low"].as_f64().unwrap() <= 0.0);
    assert!(
        c["paired"]["accuracy"]["interval"]["high"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    assert_eq!(c["findings"][0]["code"], "difference-not-significant");

    // The text names the verdict.
    let o = countscope(&["compare", "--model", sample, "--model", weak, rec]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("verdict: A (count_v1.onnx) is better"),
        "{text}"
    );
    assert!(text.contains("McNemar's exact p"), "{text}");

    // Usage errors: one model, or standard input.
    fails_with(
        &countscope(&["compare", "--model", sample, rec]),
        "exactly two models",
    );
    fails_with(
        &countscope(&["compare", "--model", sample, "--model", weak, "-"]),
        "not standard input",
    );
}

/// RuView's two real CSI recordings (`../shared/upstream/ruview-recordings/`, MIT): the recorder file and
/// the raw ESP32 frames replay, framed per node by the documented rules (the expected counts were worked
/// out independently from the files with the same rules).
#[test]
fn ruviews_real_csi_files_replay_framed_per_node() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/upstream/ruview-recordings");
    let recorder = dir.join("rec_1772470567081-20260302_165607.csi.jsonl");
    let raw = dir.join("pretrain-1775182186.csi.jsonl");
    assert!(
        recorder.exists() && raw.exists(),
        "RuView's recordings must be in {} (see the brief)",
        dir.display()
    );
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/count_v1.onnx");
    let report = |rec: &Path, hop: &str| {
        let o = countscope(&[
            "report",
            "--json",
            "--hop",
            hop,
            "--model",
            model.to_str().unwrap(),
            rec.to_str().unwrap(),
        ]);
        assert!(
            o.status.code() == Some(1),
            "unlabelled: the gates cannot be met; {}",
            stderr(&o)
        );
        json(&o)
    };
    // The recorder file: 253 frames, median interval 0.1 s, one interval over 3 × the median (a gap):
    // 11 windows of 20 (33 frames left over) instead of the 12 a gapless file would give; with --hop 1,
    // 215 instead of 234.
    let r = report(&recorder, "20");
    let node = &r["recording"]["framing"]["nodes"][0];
    assert_eq!(
        (
            &node["frames"],
            &node["windows"],
            &node["left_over"],
            &node["gaps"],
            &node["duplicates"]
        ),
        (
            &Value::from(253),
            &Value::from(11),
            &Value::from(33),
            &Value::from(1),
            &Value::from(0)
        )
    );
    assert!(node["node"].is_null());
    assert_eq!(r["windows"], 11);
    assert_eq!(r["labelled_windows"], 0);
    assert!(r["recording"]["synthetic_windows"] == 0);
    let codes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"no-labels"), "{codes:?}");
    // The copy shipped in artifacts/real/ is that file, gzipped, and replays the same.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts/real/rec_1772470567081-20260302_165607.csi.jsonl.gz");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&shipped).unwrap()),
        &mut plain,
    )
    .unwrap();
    assert_eq!(
        plain,
        std::fs::read(&recorder).unwrap(),
        "artifacts/real/ holds RuView's file unchanged"
    );
    assert_eq!(
        report(&shipped, "20")["recording"]["framing"],
        r["recording"]["framing"]
    );
    let r = report(&recorder, "1");
    assert_eq!(r["windows"], 215);
    assert_eq!(r["recording"]["framing"]["nodes"][0]["left_over"], 19);

    // The raw file: per node, only the 64-bin frames are framed (the first 56 amplitudes); 128- and
    // 192-bin frames are skipped and counted, as are the vitals, feature and untyped lines.
    let r = report(&raw, "20");
    let f = &r["recording"]["framing"];
    assert_eq!(
        f["skipped_types"],
        serde_json::json!({"feature": 236, "untyped": 2, "vitals": 236})
    );
    let nodes = f["nodes"].as_array().unwrap();
    let by_node = |k: u64| nodes.iter().find(|n| n["node"] == k).unwrap().clone();
    let (n1, n2) = (by_node(1), by_node(2));
    assert_eq!(
        n1["widths"],
        serde_json::json!({"64": 2133, "128": 503, "192": 23})
    );
    assert_eq!(
        n2["widths"],
        serde_json::json!({"64": 1994, "128": 631, "192": 25})
    );
    assert_eq!(
        (
            &n1["frames"],
            &n1["windows"],
            &n1["gaps"],
            &n1["left_over"],
            &n1["skipped_width"]
        ),
        (
            &Value::from(2133),
            &Value::from(93),
            &Value::from(26),
            &Value::from(273),
            &Value::from(526)
        )
    );
    assert_eq!(
        (
            &n2["frames"],
            &n2["windows"],
            &n2["gaps"],
            &n2["left_over"],
            &n2["skipped_width"]
        ),
        (
            &Value::from(1994),
            &Value::from(90),
            &Value::from(21),
            &Value::from(194),
            &Value::from(656)
        )
    );
    assert_eq!(r["windows"], 183);
    assert_eq!(r["skipped_lines"], 0, "no line of either file is an error");
    // Every window names its node: the per-frame CSV's `node` column holds each node's windows.
    let o = countscope(&[
        "replay",
        "--format",
        "csv",
        "--model",
        model.to_str().unwrap(),
        raw.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut lines = csv.lines();
    let at = lines
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "node")
        .expect("a node column");
    let mut windows = std::collections::BTreeMap::<String, u32>::new();
    for row in lines {
        *windows
            .entry(row.split(',').nth(at).unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        windows,
        [("1".to_string(), 93), ("2".to_string(), 90)].into()
    );
    // `scan` reads the same framing without a model.
    let o = countscope(&["scan", "--json", raw.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let scan = json(&o);
    assert_eq!(scan["framing"], r["recording"]["framing"]);
    assert_eq!(
        (&scan["windows"], &scan["labelled_windows"]),
        (&Value::from(183), &Value::from(0))
    );
    assert!(scan["synthetic"].is_null());
    // RuView's own v0.0.2 model (ONNX filled from its safetensors) replays the real files too: raw
    // amplitudes, which it was never trained on, and the report says so.
    if let Some(up) = upstream() {
        let o = countscope(&[
            "report",
            "--json",
            "--model",
            up.join("count_v1.onnx").to_str().unwrap(),
            "--weights",
            up.join("count_v1.safetensors").to_str().unwrap(),
            recorder.to_str().unwrap(),
        ]);
        let rv = json(&o);
        assert_eq!(rv["windows"], 11);
        let codes: Vec<&str> = rv["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"input-not-normalised"), "{codes:?}");
    }
    // The text report says how the frames were framed.
    let o = countscope(&[
        "report",
        "--model",
        model.to_str().unwrap(),
        raw.to_str().unwrap(),
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("node 1: 2133 frames (2133 × 64, 503 × 128, 23 × 192), 93 window(s)"),
        "{text}"
    );
    assert!(
        text.contains("lines of other types skipped: 236 feature, 2 untyped, 236 vitals"),
        "{text}"
    );
}

/// A frame file shorter than one window says so, with no window and no panic.
#[test]
fn a_frame_file_shorter_than_a_window_says_so() {
    let dir = tmpdir("short-frames");
    let lines: String = (0..12)
        .map(|i| {
            let amps: Vec<String> = (0..56).map(|s| s.to_string()).collect();
            format!(
                "{{\"timestamp\":{},\"subcarriers\":[{}]}}\n",
                100.0 + i as f64 * 0.1,
                amps.join(",")
            )
        })
        .collect();
    let rec = write(&dir, "short.csi.jsonl", lines);
    let o = countscope(&["report", "--model", &fixture_str("always_zero.onnx"), &rec]);
    fails_with(&o, "no usable window");
    says(&o, "12 frames");
    says(&o, "0 window(s), 12 frame(s) left over");
}

/// `countscope convert` writes a frame file's windows in RuView's paired format: replaying the converted
/// file gives the same windows and logits as replaying the frame file; a paired file is refused.
#[test]
fn convert_writes_the_framing_as_paired_lines() {
    let rec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/upstream/ruview-recordings/rec_1772470567081-20260302_165607.csi.jsonl");
    assert!(rec.exists(), "{} must exist", rec.display());
    let dir = tmpdir("convert");
    let out = dir.join("rec.paired.jsonl");
    let o = countscope(&[
        "convert",
        rec.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    says(&o, "11 window(s) written");
    let text = std::fs::read_to_string(&out).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(text.lines().count(), 11);
    assert_eq!(first["csi_shape"], serde_json::json!([20, 56]));
    assert_eq!(first["csi"].as_array().unwrap().len(), 1120);
    assert!(
        first.get("n_persons_mode").is_none(),
        "no labels are made up"
    );
    let model = fixture_str("countnet_inline.onnx");
    let replay = |p: &Path| {
        let o = countscope(&["replay", "--model", &model, p.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let (a, b) = (replay(&rec), replay(&out));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["count_logits"], y["count_logits"]);
        assert_eq!(x["ts_start"], y["ts_start"]);
    }
    // A paired recording needs no converting.
    let paired = write(&dir, "tail.paired.jsonl", seed_tail());
    fails_with(&countscope(&["convert", &paired]), "not a CSI frame file");
}
