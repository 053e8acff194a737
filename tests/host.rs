//! The typed component (`countscope:check`) through its two hosts: the Rust one (`countscope-host`,
//! wasmtime with no preopened directory, bounded memory and time) and Node (jco). Their JSON must be the
//! bytes the CLI component prints under `wasmtime run` (the same wasm code: `tests/wasi.rs` relates that one
//! to the native binary), and hostile inputs must end in typed errors within the bounds.
//!
//! Ignored in a plain `cargo test`: `cargo xtask test` builds the components and the host, sets
//! COUNTSCOPE_CHECK (the typed component), COUNTSCOPE_WASI (the CLI component), COUNTSCOPE_HOST and
//! WASMTIME, and runs these with `--ignored`.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set (cargo xtask test sets it)"))
}

fn host(args: &[&str]) -> Output {
    Command::new(var("COUNTSCOPE_HOST"))
        .arg("--component")
        .arg(var("COUNTSCOPE_CHECK"))
        .args(args)
        .output()
        .expect("run countscope-host")
}

fn jco(args: &[&str]) -> Output {
    Command::new("node")
        .arg(Path::new(REPO).join("tests/jco/report.mjs"))
        .args(args)
        .env("COUNTSCOPE_COMPONENT", var("COUNTSCOPE_CHECK"))
        .output()
        .expect("run node")
}

/// The CLI component under `wasmtime run`, the repository at /repo.
fn wasi(args: &[&str]) -> Output {
    Command::new(var("WASMTIME"))
        .args(["run", "-S", "cli-exit-with-code=y", "--dir"])
        .arg(format!("{REPO}::/repo"))
        .arg(var("COUNTSCOPE_WASI"))
        .args(args)
        .output()
        .expect("run wasmtime")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo(rel: &str) -> String {
    Path::new(REPO).join(rel).display().to_string()
}

/// The same JSON text, and the same exit code.
fn same(a: &Output, b: &Output, what: &str) {
    assert_eq!(
        a.status.code(),
        b.status.code(),
        "{what}: exit codes; {}\n{}",
        stderr(a),
        stderr(b)
    );
    let (x, y) = (
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
    );
    assert!(x.len() > 100, "{what}: {x}\n{}", stderr(a));
    assert_eq!(x.trim_end(), y.trim_end(), "{what}");
}

#[test]
#[ignore = "needs the components, the host and wasmtime: run by `cargo xtask test`"]
fn both_hosts_print_the_cli_components_report_and_evaluation() {
    let model = "artifacts/count_v1.onnx";
    let cases = [
        (model, "artifacts/recordings/room0-30min.paired.jsonl.gz"),
        (
            model,
            "artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz",
        ),
        (
            model,
            "artifacts/real/rec_1772470567081-20260302_165607.csi.jsonl.gz",
        ),
        (
            "tests/fixtures/always_zero.onnx",
            "artifacts/recordings/room100-heldout-10min.paired.jsonl.gz",
        ),
    ];
    for (m, r) in cases {
        let cli = wasi(&[
            "report",
            "--json",
            "--model",
            &format!("/repo/{m}"),
            &format!("/repo/{r}"),
        ]);
        same(
            &host(&[&repo(m), &repo(r)]),
            &cli,
            &format!("host report {m} {r}"),
        );
        same(
            &jco(&[&repo(m), &repo(r)]),
            &cli,
            &format!("jco report {m} {r}"),
        );
    }
    let manifest = "artifacts/recordings/samples.toml";
    let cli = wasi(&[
        "evaluate",
        "--json",
        "--model",
        &format!("/repo/{model}"),
        &format!("/repo/{manifest}"),
    ]);
    assert_eq!(cli.status.code(), Some(1));
    same(
        &host(&[&repo(model), &repo(manifest)]),
        &cli,
        "host evaluate",
    );
    same(&jco(&[&repo(model), &repo(manifest)]), &cli, "jco evaluate");
}

#[test]
#[ignore = "needs the components, the host and wasmtime: run by `cargo xtask test`"]
fn ruviews_release_loads_through_the_host_from_bytes_alone() {
    let up = common::upstream().expect("RuView's files in ../shared (see the brief)");
    let rec = "artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz";
    // As RuView publishes it: count_v1.onnx names count_v2.onnx.data, which its release lacks. The host
    // passes the files beside the model; the component fills the 8 missing weights from
    // count_v1.safetensors and takes T from count_v1.temperature.
    let dir = scratch("ruview-release");
    for f in [
        "count_v1.onnx",
        "count_v1.safetensors",
        "count_v1.temperature",
    ] {
        std::fs::copy(up.join(f), dir.join(f)).unwrap();
    }
    let model = dir.join("count_v1.onnx");
    let o = host(&[&model.display().to_string(), &repo(rec)]);
    let rel = model.strip_prefix(REPO).unwrap().display().to_string();
    let cli = wasi(&[
        "report",
        "--json",
        "--model",
        &format!("/repo/{rel}"),
        &format!("/repo/{rec}"),
    ]);
    same(&o, &cli, "RuView's release through the host");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files: Vec<&str> = r["model"]["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["count_v1.onnx", "count_v1.safetensors"]);
    assert!(
        r["calibration"]["description"]
            .as_str()
            .unwrap()
            .contains("count_v1.temperature"),
        "{}",
        r["calibration"]
    );
    // Without the safetensors, the missing data file is named, as a typed refusal.
    std::fs::remove_file(dir.join("count_v1.safetensors")).unwrap();
    let o = host(&[&model.display().to_string(), &repo(rec)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("ExternalData") && stderr(&o).contains("count_v2.onnx.data"),
        "{}",
        stderr(&o)
    );
}

/// A scratch directory under target/.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(REPO).join("target/host-tests").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
#[ignore = "needs the components, the host and wasmtime: run by `cargo xtask test`"]
fn hostile_inputs_end_in_typed_errors_within_the_bounds() {
    let dir = scratch("hostile");
    // 1. A model declaring a huge input: a fixed batch of 2^31 windows (the sample model with its batch
    // dimension fixed). The core refuses it when it loads, before allocating anything for it.
    let huge = fixed_batch_model(&dir, 1 << 31);
    let rec = repo("artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz");
    let o = host(&["--memory-mib", "512", &huge, &rec]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Interface")
            && stderr(&o).contains("fixes a batch of 2147483648 windows, over the 4096"),
        "{}",
        stderr(&o)
    );
    // A batch the core allows (4,096 windows) under a bound too small for it: the growth is refused and
    // the host says which bound, how much was asked.
    let big = fixed_batch_model(&dir, 4096);
    let o = host(&["--memory-mib", "64", &big, &rec]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("memory limit") && stderr(&o).contains("67108864-byte bound"),
        "{}",
        stderr(&o)
    );

    // 2. A recording line of 100 MB between good lines: the line is skipped with its number and reason
    // (the parser's bound), the good lines around it replay, and memory stays under the bound.
    let good = std::fs::read(repo(
        "artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz",
    ))
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2_free_gunzip(&good).as_slice(), &mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut hostile = Vec::new();
    for l in &lines[..10] {
        hostile.extend_from_slice(l.as_bytes());
        hostile.push(b'\n');
    }
    hostile.extend(std::iter::repeat_n(b'x', 100 << 20));
    hostile.push(b'\n');
    for l in &lines[10..20] {
        hostile.extend_from_slice(l.as_bytes());
        hostile.push(b'\n');
    }
    let long = dir.join("long_line.paired.jsonl");
    std::fs::write(&long, &hostile).unwrap();
    let o = host(&[
        "--memory-mib",
        "256",
        &repo("artifacts/count_v1.onnx"),
        &long.display().to_string(),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["windows"], 20);
    assert_eq!(r["skipped_lines"], 1);
    assert_eq!(r["bad_lines"][0]["line"], 11);
    assert!(
        r["bad_lines"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{}",
        r["bad_lines"]
    );

    // 3. An endless stream (a FIFO nobody closes, fed forever): the time bound ends it.
    let fifo = dir.join("endless.jsonl");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let feeder = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let line = b"{\"csi\": [1, 2, 3]}\n".repeat(1 << 12);
                while f.write_all(&line).is_ok() {}
            }
        })
    };
    let started = std::time::Instant::now();
    let o = host(&[
        "--timeout-s",
        "5",
        &repo("artifacts/count_v1.onnx"),
        &fifo.display().to_string(),
    ]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("time limit: the run took longer than 5 s"),
        "{}",
        stderr(&o)
    );
    // Well past the bound would mean it was not what ended the run (generous: the machine is shared).
    assert!(took.as_secs() < 60, "{took:?}");
    let _ = feeder.join();
}

/// The sample model with its symbolic batch fixed to `batch` in every input, output and value shape.
fn fixed_batch_model(dir: &Path, batch: i64) -> String {
    use prost::Message;
    use tract_onnx::pb::{tensor_shape_proto::dimension::Value, type_proto};
    let bytes = std::fs::read(repo("artifacts/count_v1.onnx")).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let mut fixed = 0;
    for v in graph
        .input
        .iter_mut()
        .chain(graph.output.iter_mut())
        .chain(graph.value_info.iter_mut())
    {
        if let Some(type_proto::Value::TensorType(t)) =
            v.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            for d in t.shape.iter_mut().flat_map(|s| s.dim.iter_mut()) {
                if matches!(&d.value, Some(Value::DimParam(_))) {
                    d.value = Some(Value::DimValue(batch));
                    fixed += 1;
                }
            }
        }
    }
    assert!(
        fixed >= 3,
        "the sample model's batch is symbolic in its input and outputs"
    );
    let p = dir.join(format!("batch_{batch}.onnx"));
    std::fs::write(&p, proto.encode_to_vec()).unwrap();
    p.display().to_string()
}

/// gunzip without a dependency: the CLI converts (the test must not rely on the code under test to build its
/// input, but `gzip -dc` is everywhere).
fn flate2_free_gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out.stdout
}
