//! `cargo xtask bench`: countscope against onnxruntime, natively and in the browser, in one run on one
//! machine, as ratios. Not part of `cargo xtask test`: timings are measurements, never pass/fail checks.
//!
//! Every engine runs the same model on the same windows (the 30-minute sample's 2,240 windows, dumped by
//! `countscope bench --dump`), and every engine's outputs are compared with countscope's native logits
//! before they are timed, so a ratio never compares different work. One thread everywhere. Each figure is
//! the median of `--repeat` repetitions with min and max beside it.
//!
//! Writes `target/bench/bench.json` (everything measured, raw) and `target/bench/bench.md` (the table
//! printed at the end, as pasted into the README).

use crate::profile::Profile;
use crate::{cargo, root, run, serve, step, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The model and the recording every engine runs.
const MODEL: &str = "artifacts/count_v1.onnx";
const SAMPLE: &str = "artifacts/recordings/room0-30min.paired.jsonl.gz";
/// The simulated day for the long end-to-end run (SYNTHETIC), as `cargo xtask bench` makes it.
const DAY_ARGS: [&str; 6] = ["--seed", "24", "--room", "4", "--duration", "24h"];
/// The engine's default batch size (countscope::model::DEFAULT_BATCH) and the unbatched case.
const BATCHES: &str = "1,16";

struct Options {
    repeat: usize,
    long: bool,
    long_repeat: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options {
            repeat: 7,
            long: true,
            long_repeat: 2,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut number = |name: &str| -> Result<usize> {
                let v = it.next().ok_or_else(|| format!("{name} needs a number"))?;
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{name} {v:?} is not a positive number"))
            };
            match a.as_str() {
                "--repeat" => o.repeat = number("--repeat")?,
                "--long-repeat" => o.long_repeat = number("--long-repeat")?,
                "--no-long" => o.long = false,
                other => return Err(format!("bench: unknown argument {other:?}; usage: cargo xtask bench [--repeat 7] [--long-repeat 2] [--no-long]")),
            }
        }
        Ok(o)
    }
}

fn stdout_of(cmd: &mut Command) -> Result<String> {
    eprintln!("$ {}", crate::describe(cmd));
    let o = cmd
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", crate::describe(cmd)))?;
    if !o.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            crate::describe(cmd),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    String::from_utf8(o.stdout).map_err(|e| e.to_string())
}

fn json_of(cmd: &mut Command) -> Result<Value> {
    let text = stdout_of(cmd)?;
    serde_json::from_str(text.trim()).map_err(|e| format!("not JSON ({e}): {text}"))
}

/// onnxruntime in a virtual environment under target/bench, pinned by xtask/bench/requirements.txt.
fn ensure_python() -> Result<PathBuf> {
    let venv = root().join("target/bench/venv");
    let python = venv.join("bin/python3");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(root().join("xtask/bench/requirements.txt"))
        .map_err(|e| format!("xtask/bench/requirements.txt: {e}"))?;
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&system).args(["-m", "venv"]).arg(&venv)).map_err(|e| {
        format!("{e}\nthe native onnxruntime peer needs Python 3 with venv (on Debian: apt-get install -y python3-venv), or set PYTHON")
    })?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(root().join("xtask/bench/requirements.txt")))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}

/// onnxruntime-web exactly as xtask/bench/package-lock.json pins it (served to the bench page; the browsers
/// are driven with tests/e2e's packages).
fn ensure_npm() -> Result {
    let dir = root().join("xtask/bench");
    let fresh = match (
        std::fs::metadata(dir.join("node_modules/.package-lock.json")),
        std::fs::metadata(dir.join("package-lock.json")),
    ) {
        (Ok(i), Ok(l)) => i.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix", "xtask/bench"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

fn gunzip(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(out)
}

pub fn gzip_len(path: &Path) -> Result<(u64, u64)> {
    use std::io::Write;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&bytes).map_err(|e| e.to_string())?;
    let gz = enc.finish().map_err(|e| e.to_string())?;
    Ok((bytes.len() as u64, gz.len() as u64))
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn version(program: &str, args: &[&str]) -> String {
    crate::output(program, args)
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn bench(args: &[String]) -> Result {
    let o = Options::parse(args)?;
    let started = std::time::Instant::now();
    let repeat = o.repeat.to_string();
    let out_dir = root().join("target/bench");
    let data = out_dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;

    step("toolchain and builds: pkg/, the native CLI, the wasm32-wasip2 component, onnxruntime (Python venv), npm packages");
    crate::ensure_wasm_tools()?;
    crate::ensure_cargo_tool(&crate::wasmtime(), "wasmtime-cli", crate::WASMTIME_VERSION)?;
    crate::ensure_browsers()?;
    Profile::load()?.ensure_pkg()?;
    // The browsers are driven through the end-to-end suite's driver (tests/e2e/driver.mjs) and its packages.
    crate::ensure_npm_deps()?;
    run(Command::new(cargo()).args(["build", "--locked", "--release", "--bin", "countscope"]))?;
    let component = crate::build_wasi_component()?;
    let python = ensure_python()?;
    ensure_npm()?;
    let cli = root().join("target/release/countscope");
    let plain = data.join("room0-30min.paired.jsonl");
    std::fs::write(&plain, gunzip(&root().join(SAMPLE))?)
        .map_err(|e| format!("{}: {e}", plain.display()))?;

    // The same `countscope bench` arguments for both runs; only where the repository sits differs.
    let bench_args = |repo: &str| -> Vec<String> {
        let (model, sample) = (format!("{repo}{MODEL}"), format!("{repo}{SAMPLE}"));
        [
            "bench",
            "--json",
            "-m",
            &model,
            "--windows",
            "2240",
            "--batch",
            BATCHES,
            "--repeat",
            &repeat,
            "--windows-from",
            &sample,
            "--parse",
            &sample,
            "--profile",
        ]
        .map(String::from)
        .to_vec()
    };

    step("countscope native: inference and the reader (also dumps the windows every other engine runs)");
    let native = json_of(
        Command::new(&cli)
            .args(bench_args(""))
            .arg("--dump")
            .arg(&data),
    )?;

    step("countscope under wasmtime (the wasm32-wasip2 component)");
    let wasmtime = json_of(
        Command::new(crate::wasmtime())
            .args(["run", "-S", "cli-exit-with-code=y", "--dir"])
            .arg(format!("{}::/repo", root().display()))
            .arg(&component)
            .args(bench_args("/repo/")),
    )?;

    step("server-side checks: one report per run through the typed component's hosts, vs the CLI");
    let check = crate::build_check_component()?;
    let server = server_side(o.repeat, &cli, &component, &check, &data)?;

    step("onnxruntime native (Python, one thread)");
    let ort = json_of(
        Command::new(&python)
            .arg("xtask/bench/ort_native.py")
            .arg(MODEL)
            .arg(&data)
            .args([BATCHES, &repeat]),
    )?;

    let day = out_dir.join("day-24h.paired.jsonl");
    if o.long && !day.exists() {
        step("simulating a 24-hour recording for the long end-to-end run (SYNTHETIC, once; kept in target/bench)");
        run(Command::new(&cli)
            .arg("simulate")
            .args(DAY_ARGS)
            .arg("-o")
            .arg(&day))?;
    }

    step("the browsers: countscope's wasm package vs onnxruntime-web, readers, end to end (headless Chromium, then Firefox)");
    let addr = serve::spawn_background_with(vec![
        ("/bench", root().join("xtask/bench")),
        ("/bench-data", data.clone()),
    ])?;
    let browser_json = out_dir.join("browser.json");
    let profile = Profile::load()?;
    let mut node = Command::new("node");
    node.arg("xtask/bench/bench.mjs")
        .env("BROWSERS", profile.test.e2e_browsers()?.join(","))
        .env("GECKODRIVER", profile.test.geckodriver_path()?)
        .env("BASE_URL", format!("http://{addr}/"))
        .env("OUT", &browser_json)
        .env("REPEAT", &repeat)
        .env("BATCHES", BATCHES)
        .env("RECORDING", "/bench-data/room0-30min.paired.jsonl")
        .env("LONG_REPEAT", o.long_repeat.to_string());
    if o.long {
        node.env("LONG", &day);
    }
    run(&mut node)?;
    let browser: Value = serde_json::from_str(
        &std::fs::read_to_string(&browser_json)
            .map_err(|e| format!("{}: {e}", browser_json.display()))?,
    )
    .map_err(|e| format!("{}: {e}", browser_json.display()))?;

    let pkg = gzip_len(&root().join("pkg/countscope_bg.wasm"))?;
    let pkg_relaxed = gzip_len(&root().join("pkg/countscope_relaxed_bg.wasm"))?;
    let wasi = gzip_len(&component)?;
    let check = gzip_len(&check)?;
    let day_bytes = std::fs::metadata(&day).map(|m| m.len()).ok();
    let machine = json!({
        "cpu": cpu(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rustc": version("rustc", &["--version"]),
        "node": version("node", &["--version"]),
        "wasmtime": version(&crate::wasmtime(), &["--version"]),
        "chromium": browser["chromium"],
        "onnxruntime": ort["version"],
        "onnxruntime_web": browser["ort_version"],
        "date_utc": version("date", &["-u", "+%Y-%m-%d %H:%M"]),
    });
    let all = json!({
        "machine": machine, "repeat": o.repeat, "windows": 2240, "model": MODEL, "recording": SAMPLE,
        "native": native, "wasmtime": wasmtime, "onnxruntime_native": ort, "browser": browser, "server": server,
        "sizes": { "pkg_wasm": { "raw": pkg.0, "gzip": pkg.1 }, "pkg_relaxed_wasm": { "raw": pkg_relaxed.0, "gzip": pkg_relaxed.1 }, "wasi_component": { "raw": wasi.0, "gzip": wasi.1 }, "check_component": { "raw": check.0, "gzip": check.1 } },
        "long_recording_bytes": day_bytes,
    });
    let table = table(&all)?;
    std::fs::write(
        out_dir.join("bench.json"),
        serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(out_dir.join("bench.md"), &table).map_err(|e| e.to_string())?;
    println!("{table}");
    eprintln!(
        "\nbench finished in {:.0} s; raw figures in target/bench/bench.json, this table in target/bench/bench.md",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The median of `runs` wall-clock runs of `cmd`, in seconds, with its stdout (the same every time, or an
/// error: a timing of different work is no timing).
fn timed(cmd: &mut Command, runs: usize) -> Result<(f64, Vec<u8>)> {
    let (mut times, mut first) = (vec![], None::<Vec<u8>>);
    eprintln!("$ {} (×{runs})", crate::describe(cmd));
    for _ in 0..runs {
        let started = std::time::Instant::now();
        let out = cmd
            .current_dir(root())
            .output()
            .map_err(|e| format!("cannot start `{}`: {e}", crate::describe(cmd)))?;
        times.push(started.elapsed().as_secs_f64());
        // `report` exits 1 when a gate is not met: the JSON is still the answer.
        if !matches!(out.status.code(), Some(0 | 1)) {
            return Err(format!(
                "`{}` failed ({}): {}",
                crate::describe(cmd),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        match &first {
            Some(f) if *f != out.stdout => {
                return Err(format!(
                    "`{}` printed different bytes on a second run",
                    crate::describe(cmd)
                ))
            }
            Some(_) => {}
            None => first = Some(out.stdout),
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], first.unwrap_or_default()))
}

/// How one engine is started on one recording.
type Engine<'a> = Box<dyn Fn(&Path) -> Command + 'a>;

/// One `report --json` per run, as a server check does per recording (read, parse, infer, score, bootstrap
/// intervals), through the typed component's Rust host and Node (jco), against the CLI natively and under
/// `wasmtime run`. Wall clock on a 2-minute and the 30-minute sample; per window is the slope between them
/// and fixed is what is left (process start, compile cache, model load). Every engine's JSON must equal the
/// native CLI's to float rounding ([`same_report`]) and the first wasm engine's bytes exactly.
fn server_side(
    repeat: usize,
    cli: &Path,
    component: &Path,
    check: &Path,
    data: &Path,
) -> Result<Value> {
    let host = crate::build_host()?;
    crate::ensure_jco_deps()?;
    let short = data.join("room0-2min.paired.jsonl.gz");
    if !short.exists() {
        run(Command::new(cli)
            .args([
                "simulate",
                "--room",
                "0",
                "--seed",
                "5001",
                "--duration",
                "2m",
                "-o",
            ])
            .arg(&short))?;
    }
    let recordings = [(short, "2-minute"), (root().join(SAMPLE), "30-minute")];
    let engines: [(&str, Engine); 4] = [
        (
            "countscope native (CLI)",
            Box::new(|rec: &Path| {
                let mut c = Command::new(cli);
                c.args(["report", "--json", "-m", MODEL]).arg(rec);
                c
            }),
        ),
        (
            "countscope CLI component, wasmtime run",
            Box::new(|rec: &Path| {
                let mut c = Command::new(crate::wasmtime());
                c.args(["run", "-S", "cli-exit-with-code=y", "--dir"])
                    .arg(format!("{}::/repo", root().display()))
                    .arg(component)
                    .args(["report", "--json", "-m", &format!("/repo/{MODEL}")])
                    .arg(format!(
                        "/repo/{}",
                        rec.strip_prefix(root()).unwrap_or(rec).display()
                    ));
                c
            }),
        ),
        (
            "typed component, Rust host (wasmtime crate)",
            Box::new(|rec: &Path| {
                let mut c = Command::new(&host);
                c.arg("--component").arg(check).arg(MODEL).arg(rec);
                c
            }),
        ),
        (
            "typed component, Node (jco)",
            Box::new(|rec: &Path| {
                let mut c = Command::new("node");
                c.arg("tests/jco/report.mjs")
                    .arg(MODEL)
                    .arg(rec)
                    .env("COUNTSCOPE_COMPONENT", check);
                c
            }),
        ),
    ];
    // The native CLI runs first: its JSON is what every other engine must print (to float rounding: the
    // wasm kernels sum in another order than native tract, so confidence-based figures differ by ~1e-8),
    // and says how many windows each recording has. The wasm engines, one engine compiled three ways,
    // must print the first wasm engine's bytes exactly.
    let mut native: Vec<Value> = vec![];
    let mut wasm: Vec<Vec<u8>> = vec![];
    let mut windows = vec![];
    let mut rows = vec![];
    for (name, make) in &engines {
        // One untimed run first: wasmtime's compile cache and jco's transpile cache are then warm, as on
        // a server that has seen the component before.
        timed(&mut make(&recordings[0].0), 1)?;
        let mut secs = vec![];
        for (i, (rec, what)) in recordings.iter().enumerate() {
            let (t, out) = timed(&mut make(rec), repeat.min(5))?;
            let json: Value =
                serde_json::from_slice(&out).map_err(|e| format!("{name}: report --json: {e}"))?;
            if native.len() <= i {
                windows.push(
                    json["windows"]
                        .as_f64()
                        .ok_or("report --json has no `windows`")?,
                );
                native.push(json);
            } else {
                same_report(&native[i], &json, "").map_err(|e| {
                    format!("{name}: its JSON for the {what} recording differs from the native CLI's at {e}")
                })?;
                if wasm.len() <= i {
                    wasm.push(out);
                } else if wasm[i] != out {
                    return Err(format!(
                        "{name}: its JSON for the {what} recording differs from the first wasm engine's bytes"
                    ));
                }
            }
            secs.push(t);
        }
        let per_window = (secs[1] - secs[0]) / (windows[1] - windows[0]);
        rows.push(json!({
            "engine": name,
            "seconds": secs,
            "us_per_window": per_window * 1e6,
            "fixed_ms": (secs[0] - per_window * windows[0]) * 1e3,
        }));
    }
    Ok(json!({ "windows": windows, "runs": repeat.min(5), "rows": rows }))
}

/// `b` is the report `a` to float rounding: the same keys, strings, booleans and integers, and every
/// other number within 1e-6 (absolute, or relative for large ones). Errors with the first path that differs.
fn same_report(a: &Value, b: &Value, at: &str) -> std::result::Result<(), String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() || x.keys().any(|k| !y.contains_key(k)) {
                return Err(format!("{at} (keys differ)"));
            }
            x.iter()
                .try_for_each(|(k, v)| same_report(v, &y[k], &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!("{at} (length {} vs {})", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .try_for_each(|(i, (u, v))| same_report(u, v, &format!("{at}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) if !(x.is_f64() || y.is_f64()) => (x == y)
            .then_some(())
            .ok_or_else(|| format!("{at} ({x} vs {y})")),
        (Value::Number(x), Value::Number(y)) => {
            let (u, v) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            ((u - v).abs() <= 1e-6 * u.abs().max(1.0))
                .then_some(())
                .ok_or_else(|| format!("{at} ({u} vs {v})"))
        }
        _ => (a == b)
            .then_some(())
            .ok_or_else(|| format!("{at} ({a} vs {b})")),
    }
}

/// A `{median, min, max}` object as "median [min–max]".
/// " (worker replay 300 [270–360] ms: own share read …)" for an end-to-end row, or nothing for a run
/// that did not record the worker's replay.
fn worker_replay(e: &Value) -> String {
    if e["worker_replay_ms"].is_null() {
        return String::new();
    }
    format!(
        " (worker replay {} ms{})",
        spread(&e["worker_replay_ms"], 0),
        phases(&e["worker_phases_ms"])
    )
}

/// A replay's phases (medians, ms) as ": own share read 200, of it waiting for bytes 20, waiting for helpers 50, …", or nothing when the run
/// did not record them.
fn phases(p: &Value) -> String {
    let names = [
        ("read", "own share read"),
        ("source", "of it waiting for bytes"),
        ("waited", "waiting for helpers"),
        ("merged", "merge"),
        ("report", "report"),
        ("columns", "columns"),
    ];
    let parts: Vec<String> = names
        .iter()
        .filter_map(|(k, name)| {
            let m = p[k]["median"].as_f64()?;
            m.is_finite().then(|| format!("{name} {m:.0}"))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

fn spread(v: &Value, digits: usize) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    format!(
        "{:.d$} [{:.d$}–{:.d$}]",
        f("median"),
        f("min"),
        f("max"),
        d = digits
    )
}

fn median(v: &Value) -> f64 {
    v["median"].as_f64().unwrap_or(f64::NAN)
}

/// The table printed at the end and written to target/bench/bench.md.
fn table(all: &Value) -> Result<String> {
    let m = &all["machine"];
    let b = &all["browser"];
    // Chromium's figures, then each other browser's measured in the same run (Firefox), by name.
    // A browser whose measurement failed or ran past its bound (bench.mjs) has no rows, only one
    // sentence saying why, so the rest of the run is still reported.
    let measured = [("Firefox", &b["firefox"])];
    let others: Vec<(&str, &Value)> = measured
        .into_iter()
        .filter(|(_, v)| v.is_object() && v["failed"].is_null())
        .collect();
    let failed: Vec<(&str, &str)> = measured
        .into_iter()
        .filter_map(|(name, v)| Some((name, v["failed"].as_str()?)))
        .collect();
    // µs per window per engine and batch (index 0 = batch 1, 1 = batch 16).
    let native = |v: &Value, i: usize| v["results"][i]["us_per_window"].clone();
    let browser = |engine: &str, i: usize| b["inference"][i][engine].clone();
    let relaxed = |i: usize| b["relaxed"]["inference"][i]["countscope"].clone();
    let mut rows: Vec<(String, Value, Value)> = vec![
        (
            "countscope native (tract)".into(),
            native(&all["native"], 0),
            native(&all["native"], 1),
        ),
        (
            format!(
                "countscope, wasmtime {}",
                m["wasmtime"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("wasmtime ")
            ),
            native(&all["wasmtime"], 0),
            native(&all["wasmtime"], 1),
        ),
        (
            "countscope wasm (simd128), Chromium".into(),
            browser("countscope", 0),
            browser("countscope", 1),
        ),
        (
            "countscope wasm (relaxed-simd), Chromium".into(),
            relaxed(0),
            relaxed(1),
        ),
        (
            format!(
                "onnxruntime {} native",
                m["onnxruntime"].as_str().unwrap_or("?")
            ),
            native(&all["onnxruntime_native"], 0),
            native(&all["onnxruntime_native"], 1),
        ),
        (
            format!(
                "onnxruntime-web {} (wasm), Chromium",
                m["onnxruntime_web"].as_str().unwrap_or("?")
            ),
            browser("ort", 0),
            browser("ort", 1),
        ),
    ];
    for (name, o) in &others {
        let inf = |engine: &str, i: usize| o["inference"][i][engine].clone();
        // A browser that cannot compile the relaxed build: the reason, in place of its figures.
        let rel = |i: usize| match o["relaxed"]["unsupported"].as_str() {
            Some(why) => Value::String(why.into()),
            None => o["relaxed"]["inference"][i]["countscope"].clone(),
        };
        rows.push((
            format!("countscope wasm (simd128), {name}"),
            inf("countscope", 0),
            inf("countscope", 1),
        ));
        rows.push((
            format!("countscope wasm (relaxed-simd), {name}"),
            rel(0),
            rel(1),
        ));
        rows.push((
            format!(
                "onnxruntime-web {} (wasm), {name}",
                m["onnxruntime_web"].as_str().unwrap_or("?")
            ),
            inf("ort", 0),
            inf("ort", 1),
        ));
    }
    let ort_web = median(&rows[5].2);
    let tract = median(&rows[0].2);
    let mut t = String::new();
    let mut line = |s: String| {
        t.push_str(&s);
        t.push('\n');
    };
    let versions: String = others
        .iter()
        .map(|(name, o)| format!(" · {name} {}", o["version"].as_str().unwrap_or("?")))
        .collect();
    line(format!(
        "countscope bench · {} · {} cores · {} · Chromium {}{versions} · {} UTC",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["rustc"].as_str().unwrap_or("?"),
        m["chromium"].as_str().unwrap_or("?"),
        m["date_utc"].as_str().unwrap_or("?")
    ));
    line(format!(
        "One thread everywhere; {} repetitions, median [min–max]; the same {} windows of the SYNTHETIC 30-minute sample for every engine.\n",
        all["repeat"], all["windows"]
    ));
    for (name, why) in &failed {
        line(format!("{name} was not measured in this run: {why}\n"));
    }
    line("**Inference**, µs per window (lower is better); speed = windows/s relative to the peer (higher is better). The peer is onnxruntime-web in Chromium; each browser's own onnxruntime-web row is beside its countscope rows.\n".into());
    line("| engine | batch 1 | batch 16 | windows/s at 16 | speed vs onnxruntime-web | speed vs countscope native |".into());
    line("|---|---|---|---|---|---|".into());
    for (name, b1, b16) in &rows {
        if let Some(why) = b1.as_str() {
            line(format!("| {name} | not run: {why} | – | – | – | – |"));
            continue;
        }
        let us = median(b16);
        line(format!(
            "| {name} | {} | {} | {:.0} | {:.2}× | {:.2}× |",
            spread(b1, 1),
            spread(b16, 1),
            1e6 / us,
            ort_web / us,
            tract / us
        ));
    }
    let agree = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    line(format!(
        "\nOutputs agree with countscope native to {:.1e} (countscope wasm simd128), {:.1e} (relaxed-simd), {:.1e} (onnxruntime-web), {:.1e} (onnxruntime native) max |Δlogit|. The page loads the {} build in this Chromium.\n",
        agree(&b["inference"][1]["max_abs_diff_vs_native"]["countscope"]),
        agree(&b["relaxed"]["inference"][1]["max_abs_diff_vs_native"]["countscope"]),
        agree(&b["inference"][1]["max_abs_diff_vs_native"]["ort"]),
        agree(&all["onnxruntime_native"]["results"][1]["max_abs_diff_vs_countscope"]),
        b["e2e_30min"]["engine"].as_str().unwrap_or("?")
    ));
    for (name, o) in &others {
        let relaxed = match o["relaxed"]["unsupported"].as_str() {
            Some(_) => "not run".to_string(),
            None => format!(
                "{:.1e}",
                agree(&o["relaxed"]["inference"][1]["max_abs_diff_vs_native"]["countscope"])
            ),
        };
        line(format!(
            "In {name}: {:.1e} (simd128), {relaxed} (relaxed-simd), {:.1e} (onnxruntime-web); the page loads the {} build there.\n",
            agree(&o["inference"][1]["max_abs_diff_vs_native"]["countscope"]),
            agree(&o["inference"][1]["max_abs_diff_vs_native"]["ort"]),
            o["e2e_30min"]["engine"].as_str().unwrap_or("?")
        ));
    }
    line("**Where the time goes** (countscope's plan at batch 16, µs per window per kind of op; one profiled pass)\n".into());
    line("| op | native | wasmtime | wasmtime / native |\n|---|---|---|---|".into());
    let by_op = |v: &Value| {
        let mut m: std::collections::BTreeMap<String, f64> = Default::default();
        for op in v["profile"]["ops"].as_array().into_iter().flatten() {
            *m.entry(op["op"].as_str().unwrap_or("?").to_string())
                .or_default() += op["us_per_window"].as_f64().unwrap_or(0.0);
        }
        m
    };
    let (pn, pw) = (by_op(&all["native"]), by_op(&all["wasmtime"]));
    // The two plans need not have the same ops (the wasm builds run convolutions as
    // `DirectConv1d`), so the rows are every kind either has, heaviest first.
    let mut kinds: Vec<&String> = pn
        .keys()
        .chain(pw.keys().filter(|k| !pn.contains_key(*k)))
        .collect();
    let heaviest = |k: &String| {
        pn.get(k)
            .copied()
            .unwrap_or(0.0)
            .max(pw.get(k).copied().unwrap_or(0.0))
    };
    kinds.sort_by(|a, b| heaviest(b).total_cmp(&heaviest(a)));
    let cell = |v: Option<&f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
    // Per-op ratios only compare like with like: when the plans differ, an op of the same name
    // (the dense layers' `OptMatMul`) does different work in each.
    let same_plan = pn.keys().eq(pw.keys());
    for k in kinds {
        let (a, w) = (pn.get(k), pw.get(k));
        if heaviest(k) >= 0.5 {
            let ratio = match (a, w) {
                (Some(a), Some(w)) if same_plan => format!("{:.1}×", w / a),
                _ => "–".into(),
            };
            line(format!("| {k} | {} | {} | {ratio} |", cell(a), cell(w)));
        }
    }
    let total = |m: &std::collections::BTreeMap<String, f64>| m.values().sum::<f64>();
    let (tn, tw) = (total(&pn), total(&pw));
    line(format!(
        "| **all ops** | {tn:.1} | {tw:.1} | {:.1}× |",
        tw / tn
    ));
    if pw.contains_key("DirectConv1d") {
        line(String::new());
        line("The wasm builds run each convolution as one `DirectConv1d` (countscope's frame-lane kernel over a zero-padded copy of the input, bias and ReLU fused, and the last one's mean over time); native runs tract's `Im2col`, `OptMatMul` and `Max`.".into());
    }
    line(String::new());
    let p = &b["parse"];
    line(format!(
        "**Reading recordings** (the sample decompressed: {:.1} MB, {} windows), higher is better\n",
        p["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        p["windows"]
    ));
    line("| reader | MB/s | windows/s |\n|---|---|---|".into());
    let mut readers: Vec<(String, &Value)> = vec![
        ("countscope native".into(), &all["native"]["parse"]),
        ("countscope, wasmtime".into(), &all["wasmtime"]["parse"]),
        ("countscope wasm, Chromium".into(), &p["countscope"]),
        (
            "JSON.parse per line + Float32Array, Chromium".into(),
            &p["json"],
        ),
    ];
    for (name, o) in &others {
        readers.push((
            format!("countscope wasm, {name}"),
            &o["parse"]["countscope"],
        ));
        readers.push((
            format!("JSON.parse per line + Float32Array, {name}"),
            &o["parse"]["json"],
        ));
    }
    for (name, v) in readers {
        line(format!(
            "| {name} | {} | {} |",
            spread(&v["mb_per_s"], 0),
            spread(&v["windows_per_s"], 0)
        ));
    }
    line("\n**End to end in the page** (worker wasm memory is its peak: wasm memory never shrinks)\n".into());
    line("| what | browser | ms | memory |\n|---|---|---|---|".into());
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    for (name, bb) in std::iter::once(("Chromium", b)).chain(others.iter().copied()) {
        // The page's own clock, a median [min–max] over fresh pages, with the driver's wall clock beside
        // it; runs before this recorded one open as a number, and older ones no wall clock.
        let figure = |v: &Value| match v.as_f64() {
            Some(one) => format!("{one:.0}"),
            None => spread(v, 0),
        };
        let opens = bb["first_open_ms"]["n"]
            .as_u64()
            .map_or(String::new(), |n| format!(", {n} fresh pages"));
        let wall = &bb["first_open_wall_ms"];
        let wall = if wall.is_null() {
            String::new()
        } else {
            format!(" (driver's wall clock {})", figure(wall))
        };
        line(format!(
            "| first open (navigation → default replay drawn, the page's clock{opens}) | {name} | {}{wall} | |",
            figure(&bb["first_open_ms"])
        ));
        for e in [&bb["e2e_30min_one_worker"], &bb["e2e_30min"]] {
            if e.is_null() {
                continue;
            }
            // How the workers shared the file, and the primary worker's own replay time within the
            // figure (runs before these fields were recorded print without them).
            let split = e["split"]
                .as_str()
                .map_or(String::new(), |s| format!(", split by {s}"));
            let replay = worker_replay(e);
            line(format!(
                "| 30-minute sample ({} windows) dropped → every plot drawn{replay}, {} worker(s){split} | {name} | {} | worker wasm {:.0} MB + helpers {:.0} MB, main wasm {:.0} MB |",
                e["windows"],
                e["workers"],
                spread(&e["drop_to_plotted_ms"], 0),
                f(&e["memory_mb"]["worker_wasm"]),
                f(&e["memory_mb"]["helpers_wasm"]),
                f(&e["memory_mb"]["main_wasm"])
            ));
        }
        if !bb["cursor_redraw_30min_ms"].is_null() {
            line(format!(
                "| one redraw after a cursor move (timeline, confidence, probabilities, readout), 30-minute sample, 21 positions | {name} | {} | |",
                spread(&bb["cursor_redraw_30min_ms"], 1)
            ));
        }
    }
    let mut ideal_note = None;
    for l in [&b["e2e_long_one_worker"], &b["e2e_long"]] {
        if l.is_null() {
            continue;
        }
        if !l["cursor_redraw_ms"].is_null() && l == &b["e2e_long"] {
            line(format!(
                "| one redraw after a cursor move, SYNTHETIC 24 h ({} windows), 21 positions (target < 16 ms) | Chromium | {} | |",
                l["windows"],
                spread(&l["cursor_redraw_ms"], 1)
            ));
        }
        let mm = &l["memory_mb"];
        let replay = worker_replay(l);
        line(format!(
            "| SYNTHETIC 24 h ({} windows, {:.0} MB JSONL) picked → every plot drawn{replay}, {} worker(s), split by {} | Chromium | {} | worker wasm {} MB (window store {:.0} MB) + helpers {} MB, main wasm {} MB, main JS heap peak {} MB |",
            l["windows"],
            all["long_recording_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
            l["workers"],
            l["split"].as_str().unwrap_or("?"),
            spread(&l["pick_to_plotted_ms"], 0),
            spread(&mm["worker_wasm"], 0),
            mm["window_store"].as_f64().unwrap_or(f64::NAN),
            spread(&mm["helpers_wasm"], 0),
            spread(&mm["main_wasm"], 0),
            spread(&mm["main_js_heap_peak"], 1)
        ));
        // The ideal split of the work: reading and inferring the file on one core, shared by the workers
        // (this run's reader and relaxed-SIMD batch-16 figures in the same browser).
        let mb = all["long_recording_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6;
        let parse_s = mb / median(&b["parse"]["countscope"]["mb_per_s"]);
        let infer_s = l["windows"].as_f64().unwrap_or(f64::NAN)
            * median(&b["relaxed"]["inference"][1]["countscope"])
            / 1e6;
        let workers = l["workers"].as_f64().unwrap_or(f64::NAN);
        let ideal = (parse_s + infer_s) / workers;
        let measured = median(&l["pick_to_plotted_ms"]) / 1e3;
        ideal_note.get_or_insert_with(Vec::new).push(format!(
            "{workers} worker(s): {measured:.1} s measured against an ideal of {ideal:.1} s ((read {parse_s:.1} s + infer {infer_s:.1} s on one core) / {workers}), {:.2}× the ideal",
            measured / ideal
        ));
    }
    if let Some(notes) = ideal_note {
        line(format!(
            "\nThe 24-hour file against the ideal split of its work: {}.",
            notes.join("; ")
        ));
    }
    let sv = &all["server"];
    line(format!(
        "\n**Server-side checks** (one `report --json` per run, wall clock, median of {}; per window = the slope between the SYNTHETIC 2-minute ({:.0} windows) and 30-minute ({:.0} windows) samples, fixed = the rest; every engine's JSON equal to the native CLI's to float rounding (1e-6), the wasm engines' byte for byte)\n",
        sv["runs"],
        sv["windows"][0].as_f64().unwrap_or(f64::NAN),
        sv["windows"][1].as_f64().unwrap_or(f64::NAN)
    ));
    line("| engine | µs per window | fixed, ms | per window vs native |\n|---|---|---|---|".into());
    let rows = sv["rows"].as_array().cloned().unwrap_or_default();
    let native_us = rows
        .first()
        .and_then(|r| r["us_per_window"].as_f64())
        .unwrap_or(f64::NAN);
    for r in &rows {
        let us = r["us_per_window"].as_f64().unwrap_or(f64::NAN);
        line(format!(
            "| {} | {:.0} | {:.0} | {:.2}× |",
            r["engine"].as_str().unwrap_or("?"),
            us,
            r["fixed_ms"].as_f64().unwrap_or(f64::NAN),
            us / native_us
        ));
    }
    let s = &all["sizes"];
    let mb = |v: &Value| v.as_f64().unwrap_or(f64::NAN) / 1e6;
    line("\n**Size and model load**\n".into());
    line("| what | figure |\n|---|---|".into());
    line(format!(
        "| pkg/countscope_bg.wasm | {:.2} MB raw, {:.2} MB gzip -9 |",
        mb(&s["pkg_wasm"]["raw"]),
        mb(&s["pkg_wasm"]["gzip"])
    ));
    line(format!(
        "| pkg/countscope_relaxed_bg.wasm | {:.2} MB raw, {:.2} MB gzip -9 |",
        mb(&s["pkg_relaxed_wasm"]["raw"]),
        mb(&s["pkg_relaxed_wasm"]["gzip"])
    ));
    line(format!(
        "| WASI component (countscope.wasm) | {:.2} MB raw, {:.2} MB gzip -9 |",
        mb(&s["wasi_component"]["raw"]),
        mb(&s["wasi_component"]["gzip"])
    ));
    line(format!(
        "| typed component (countscope-check.wasm: size profile, wasm-opt -Oz) | {:.2} MB raw, {:.2} MB gzip -9 |",
        mb(&s["check_component"]["raw"]),
        mb(&s["check_component"]["gzip"])
    ));
    for (name, bb) in std::iter::once(("Chromium", b)).chain(others.iter().copied()) {
        line(format!(
            "| wasm package fetch + compile + instantiate, {name} | {:.0} ms |",
            bb["pkg_init_ms"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    line(format!(
        "| model load + optimise, ms: countscope native / wasmtime / Chromium | {:.1} / {:.1} / {} |",
        all["native"]["load_ms"].as_f64().unwrap_or(f64::NAN),
        all["wasmtime"]["load_ms"].as_f64().unwrap_or(f64::NAN),
        spread(&b["load_ms"]["countscope"], 1)
    ));
    line(format!(
        "| session create, ms: onnxruntime native / onnxruntime-web | {} / {} |",
        spread(&all["onnxruntime_native"]["load_ms"], 1),
        spread(&b["load_ms"]["ort"], 1)
    ));
    for (name, o) in &others {
        line(format!(
            "| model load, ms, {name}: countscope / onnxruntime-web session | {} / {} |",
            spread(&o["load_ms"]["countscope"], 1),
            spread(&o["load_ms"]["ort"], 1)
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(median: f64) -> Value {
        json!({ "median": median, "min": median * 0.9, "max": median * 1.2, "n": 5 })
    }

    /// A run's figures, shaped as the engines write them (µs per window at batch 1 and 16).
    fn run_of(b1: f64, b16: f64) -> Value {
        json!({ "load_ms": 10.0, "results": [{ "batch": 1, "us_per_window": st(b1) }, { "batch": 16, "us_per_window": st(b16) }],
                "parse": { "mb_per_s": st(200.0), "windows_per_s": st(40000.0) },
                "profile": { "ops": [{ "op": "OptMatMul", "us_per_window": b16 * 0.6 }, { "op": "Im2col", "us_per_window": b16 * 0.25 }] } })
    }

    #[test]
    fn reports_are_the_same_to_float_rounding_only() {
        let a =
            json!({ "windows": 149, "brier": 0.2161468172484099, "codes": ["a", "b"], "n": null });
        let near =
            json!({ "windows": 149, "brier": 0.2161468158258612, "codes": ["a", "b"], "n": null });
        assert_eq!(same_report(&a, &near, ""), Ok(()));
        let far = json!({ "windows": 149, "brier": 0.2171, "codes": ["a", "b"], "n": null });
        assert!(same_report(&a, &far, "").unwrap_err().starts_with(".brier"));
        let count =
            json!({ "windows": 150, "brier": 0.2161468172484099, "codes": ["a", "b"], "n": null });
        assert!(same_report(&a, &count, "")
            .unwrap_err()
            .starts_with(".windows"));
        let code =
            json!({ "windows": 149, "brier": 0.2161468172484099, "codes": ["a", "c"], "n": null });
        assert!(same_report(&a, &code, "")
            .unwrap_err()
            .starts_with(".codes[1]"));
        let key = json!({ "windows": 149, "brier": 0.2161468172484099, "codes": ["a", "b"] });
        assert!(same_report(&a, &key, "").is_err());
    }

    #[test]
    fn the_table_puts_every_engine_against_onnxruntime_web_and_native_tract() {
        let cs = |b1: f64, b16: f64| {
            json!([{ "countscope": st(b1), "ort": st(300.0), "max_abs_diff_vs_native": { "countscope": 1e-6, "ort": 2e-6 } },
                                           { "countscope": st(b16), "ort": st(200.0), "max_abs_diff_vs_native": { "countscope": 1e-6, "ort": 2e-6 } }])
        };
        let all = json!({
            "machine": { "cpu": "Test CPU", "cores": 2, "rustc": "rustc 1.95.0", "chromium": "156", "wasmtime": "wasmtime 48.0.8", "onnxruntime": "1.31.1", "onnxruntime_web": "1.30.0", "date_utc": "2026-11-29 00:00" },
            "repeat": 5, "windows": 2240,
            "native": run_of(110.0, 96.0), "wasmtime": run_of(260.0, 250.0),
            "onnxruntime_native": { "version": "1.31.1", "load_ms": st(2.0), "results": [{ "batch": 1, "us_per_window": st(90.0), "max_abs_diff_vs_countscope": 3e-6 }, { "batch": 16, "us_per_window": st(64.0), "max_abs_diff_vs_countscope": 3e-6 }] },
            "browser": {
                "chromium": "156", "pkg_init_ms": 400.0, "load_ms": { "countscope": st(10.0), "ort": st(6.0) },
                "inference": cs(270.0, 250.0), "relaxed": { "inference": cs(210.0, 160.0) },
                "parse": { "bytes": 11_870_466, "windows": 2240, "countscope": { "mb_per_s": st(140.0), "windows_per_s": st(26000.0) }, "json": { "mb_per_s": st(100.0), "windows_per_s": st(19000.0) } },
                "first_open_ms": st(900.0), "first_open_wall_ms": st(950.0),
                "e2e_30min": { "engine": "relaxed-simd", "workers": 2, "split": "bytes", "windows": 2240, "drop_to_plotted_ms": st(450.0), "worker_replay_ms": st(300.0), "worker_phases_ms": { "read": st(200.0), "source": st(20.0), "waited": st(40.0), "merged": st(5.0), "report": st(50.0), "columns": st(5.0) }, "memory_mb": { "worker_wasm": 28.0, "helpers_wasm": 9.0, "main_wasm": 3.0 } },
                "e2e_30min_one_worker": { "engine": "relaxed-simd", "workers": 1, "windows": 2240, "drop_to_plotted_ms": st(650.0), "memory_mb": { "worker_wasm": 28.0, "helpers_wasm": 0.0, "main_wasm": 3.0 } },
                "e2e_long": null,
                "firefox": {
                    "version": "153.8.0", "pkg_init_ms": 300.0, "load_ms": { "countscope": st(12.0), "ort": st(7.0) },
                    "inference": cs(280.0, 260.0), "relaxed": { "inference": cs(220.0, 180.0) },
                    "parse": { "countscope": { "mb_per_s": st(120.0), "windows_per_s": st(22000.0) }, "json": { "mb_per_s": st(90.0), "windows_per_s": st(17000.0) } },
                    "first_open_ms": 1100.0, "first_open_wall_ms": 1150.0,
                    "e2e_30min": { "engine": "relaxed-simd", "workers": 2, "windows": 2240, "drop_to_plotted_ms": st(500.0), "memory_mb": { "worker_wasm": 30.0, "helpers_wasm": 10.0, "main_wasm": 3.0 } },
                    "e2e_30min_one_worker": null,
                    "cursor_redraw_30min_ms": st(4.0),
                },
            },
            "sizes": { "pkg_wasm": { "raw": 15_450_000, "gzip": 3_670_000 }, "pkg_relaxed_wasm": { "raw": 15_490_000, "gzip": 3_690_000 }, "wasi_component": { "raw": 20_080_000, "gzip": 4_510_000 }, "check_component": { "raw": 7_500_000, "gzip": 2_100_000 } },
            "server": { "windows": [149.0, 2240.0], "runs": 5, "rows": [
                { "engine": "countscope native (CLI)", "us_per_window": 120.0, "fixed_ms": 30.0 },
                { "engine": "typed component, Rust host (wasmtime crate)", "us_per_window": 252.0, "fixed_ms": 220.0 } ] },
            "long_recording_bytes": null,
        });
        let t = table(&all).unwrap();
        // onnxruntime-web runs 200 µs at batch 16: countscope relaxed at 160 µs is 1.25× its speed and
        // 0.60× native tract's (96 µs).
        assert!(t.contains("| countscope wasm (relaxed-simd), Chromium | 210.0 [189.0–252.0] | 160.0 [144.0–192.0] | 6250 | 1.25× | 0.60× |"), "{t}");
        assert!(t.contains("| countscope native (tract) | 110.0 [99.0–132.0] | 96.0 [86.4–115.2] | 10417 | 2.08× | 1.00× |"), "{t}");
        assert!(
            t.contains("| onnxruntime-web 1.30.0 (wasm), Chromium |"),
            "{t}"
        );
        assert!(t.contains("| OptMatMul | 57.6 | 150.0 | 2.6× |"), "{t}");
        assert!(
            t.contains("| JSON.parse per line + Float32Array, Chromium | 100 [90–120] |"),
            "{t}"
        );
        assert!(t.contains("The page loads the relaxed-simd build"), "{t}");
        assert!(
            t.contains("| typed component, Rust host (wasmtime crate) | 252 | 220 | 2.10× |"),
            "{t}"
        );
        assert!(
            t.contains("2-minute (149 windows) and 30-minute (2240 windows)"),
            "{t}"
        );
        assert!(t.contains("| typed component (countscope-check.wasm: size profile, wasm-opt -Oz) | 7.50 MB raw, 2.10 MB gzip -9 |"), "{t}");
        assert!(
            t.contains("dropped → every plot drawn, 1 worker(s) | Chromium | 650 [585–780] |"),
            "{t}"
        );
        assert!(t.contains("dropped → every plot drawn (worker replay 300 [270–360] ms: own share read 200, of it waiting for bytes 20, waiting for helpers 40, merge 5, report 50, columns 5), 2 worker(s), split by bytes | Chromium | 450 [405–540] | worker wasm 28 MB + helpers 9 MB"), "{t}");
        // Firefox's rows beside Chromium's, against the same peer (onnxruntime-web in Chromium, 200 µs).
        assert!(t.contains("· Chromium 156 · Firefox 153.8.0 ·"), "{t}");
        assert!(t.contains("| countscope wasm (relaxed-simd), Firefox | 220.0 [198.0–264.0] | 180.0 [162.0–216.0] | 5556 | 1.11× | 0.53× |"), "{t}");
        assert!(t.contains("| onnxruntime-web 1.30.0 (wasm), Firefox | 300.0 [270.0–360.0] | 200.0 [180.0–240.0] |"), "{t}");
        assert!(
            t.contains("| countscope wasm, Firefox | 120 [108–144] |"),
            "{t}"
        );
        // Firefox's figure as an older run recorded it (one open, a number); Chromium's as a spread.
        assert!(
            t.contains("| first open (navigation → default replay drawn, the page's clock) | Firefox | 1100 (driver's wall clock 1150) | |"),
            "{t}"
        );
        assert!(
            t.contains("| first open (navigation → default replay drawn, the page's clock, 5 fresh pages) | Chromium | 900 [810–1080] (driver's wall clock 950 [855–1140]) | |"),
            "{t}"
        );
        assert!(t.contains("dropped → every plot drawn, 2 worker(s) | Firefox | 500 [450–600] | worker wasm 30 MB"), "{t}");
        assert!(
            t.contains("| wasm package fetch + compile + instantiate, Firefox | 300 ms |"),
            "{t}"
        );
        assert!(t.contains("In Firefox: 1.0e-6 (simd128), 1.0e-6 (relaxed-simd), 2.0e-6 (onnxruntime-web); the page loads the relaxed-simd build there."), "{t}");
        assert!(!t.contains("24 h"), "no long run, no long row: {t}");
        assert!(!t.contains("NaN"), "{t}");

        // A Firefox without relaxed SIMD (ESR 140): its relaxed row says why there is no figure.
        let mut older = all.clone();
        older["browser"]["firefox"]["relaxed"] =
            json!({ "unsupported": "firefox 140.10.2esr does not validate relaxed SIMD" });
        let t = table(&older).unwrap();
        assert!(t.contains("| countscope wasm (relaxed-simd), Firefox | not run: firefox 140.10.2esr does not validate relaxed SIMD | – | – | – | – |"), "{t}");
        assert!(
            t.contains(
                "In Firefox: 1.0e-6 (simd128), not run (relaxed-simd), 2.0e-6 (onnxruntime-web)"
            ),
            "{t}"
        );
        assert!(!t.contains("NaN"), "{t}");

        // A Firefox that stalled past the bench's bound: Chromium's figures stay, Firefox has no rows and
        // one sentence saying why.
        let mut stalled = all.clone();
        stalled["browser"]["firefox"] = json!({ "failed": "firefox 140.10.2esr: still in step \"inference\" after 20 min (BENCH_BROWSER_MINUTES)" });
        let t = table(&stalled).unwrap();
        assert!(t.contains("Firefox was not measured in this run: firefox 140.10.2esr: still in step \"inference\" after 20 min (BENCH_BROWSER_MINUTES)"), "{t}");
        assert!(!t.contains("Firefox |") && !t.contains("In Firefox"), "{t}");
        assert!(
            t.contains("| countscope wasm (relaxed-simd), Chromium |"),
            "{t}"
        );
        assert!(!t.contains("NaN"), "{t}");

        // With the long runs: a row per worker count, and each against the ideal split of its work:
        // 100 MB read at 140 MB/s (0.71 s) + 10,000 windows at 160 µs (1.60 s) on one core.
        let mut all = all;
        let long = |workers: u32, split: &str, ms: f64| {
            json!({ "engine": "relaxed-simd", "workers": workers, "split": split, "windows": 10_000, "pick_to_plotted_ms": st(ms), "cursor_redraw_ms": st(8.0),
                    "memory_mb": { "worker_wasm": st(100.0), "helpers_wasm": st(20.0), "window_store": 11.0, "main_wasm": st(5.0), "main_js_heap_peak": st(9.0) } })
        };
        all["browser"]["e2e_long_one_worker"] = long(1, "none", 2500.0);
        all["browser"]["e2e_long"] = long(2, "bytes", 1500.0);
        all["browser"]["e2e_long"]["worker_replay_ms"] = st(1400.0);
        all["browser"]["e2e_long"]["worker_phases_ms"] = json!({ "read": st(1000.0), "source": st(100.0), "waited": st(200.0), "merged": st(10.0), "report": st(150.0), "columns": st(5.0) });
        all["long_recording_bytes"] = json!(100_000_000);
        let t = table(&all).unwrap();
        assert!(t.contains("picked → every plot drawn, 1 worker(s), split by none | Chromium | 2500 [2250–3000] |"), "{t}");
        assert!(t.contains("picked → every plot drawn (worker replay 1400 [1260–1680] ms: own share read 1000, of it waiting for bytes 100, waiting for helpers 200, merge 10, report 150, columns 5), 2 worker(s), split by bytes | Chromium | 1500 [1350–1800] |"), "{t}");
        assert!(t.contains("1 worker(s): 2.5 s measured against an ideal of 2.3 s ((read 0.7 s + infer 1.6 s on one core) / 1), 1.08× the ideal"), "{t}");
        assert!(t.contains("2 worker(s): 1.5 s measured against an ideal of 1.2 s ((read 0.7 s + infer 1.6 s on one core) / 2), 1.30× the ideal"), "{t}");
        assert_eq!(
            t.matches("one redraw after a cursor move, SYNTHETIC 24 h")
                .count(),
            1,
            "{t}"
        );
    }
}
