//! `countscope bench`: per-window inference time at several batch sizes and the recording parser's
//! throughput, the same code natively and under wasmtime, so the two can be compared in one run (and
//! `cargo xtask bench` compares both with onnxruntime and with the browser). Timing lives here, in the shell:
//! the core has no clock.

use crate::{cli::Fatal, files};
use countscope::recording::{
    Decoder, LayoutPolicy, LineError, Reader, Record, StreamError, GZIP_MAGIC,
};
use countscope::{model::CountModel, WINDOW_LEN};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to measure: `countscope bench`'s flags (clap reads them straight into this struct).
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The count model (.onnx).
    #[arg(long, short)]
    pub model: PathBuf,
    /// Windows per repetition.
    #[arg(long, default_value_t = 1024)]
    pub windows: usize,
    /// Batch sizes to time, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64,128")]
    pub batch: Vec<usize>,
    /// Repetitions per batch size.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Take the windows from this recording (cycled up to --windows) instead of pseudo-random ones.
    #[arg(long)]
    pub windows_from: Option<PathBuf>,
    /// Write the windows used (raw and normalised, little-endian f32, model order) and their logits
    /// into this folder, so another engine can run the very same inputs and be checked against them.
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Also time the recording parser over this recording (decompressed into memory first).
    #[arg(long)]
    pub parse: Option<PathBuf>,
    /// Also time every op of the optimised plan at the last batch size: where the time goes.
    #[arg(long)]
    pub profile: bool,
}

/// Deterministic CSI-like amplitudes (0–60) from a fixed linear congruential generator.
fn random_windows(n: usize) -> Vec<f32> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n * WINDOW_LEN)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 * 60.0) as f32
        })
        .collect()
}

/// The whole file, gunzipped when it is gzip.
fn plain_bytes(path: &Path) -> Result<Vec<u8>, Fatal> {
    plain_of(path, &files::read(path)?)
}

/// `raw` (the file at `path`), gunzipped when it is gzip.
fn plain_of(path: &Path, raw: &[u8]) -> Result<Vec<u8>, Fatal> {
    let mut out = Vec::with_capacity(raw.len());
    let mut dec = Decoder::default();
    let err = |e: StreamError| Fatal::Message(format!("{}: {e}", path.display()));
    dec.push(raw, &mut |b| out.extend_from_slice(b))
        .map_err(err)?;
    dec.finish(&mut |b| out.extend_from_slice(b)).map_err(err)?;
    Ok(out)
}

/// Parse `bytes` the way a replay does (1 MiB chunks), returning (windows, bad lines, model-order values).
fn parse(bytes: &[u8], keep: bool) -> (usize, usize, Vec<f32>) {
    let mut reader = Reader::new(LayoutPolicy::Labelled);
    let (mut ok, mut bad, mut values) = (0, 0, Vec::new());
    let mut out = Vec::new();
    let mut absorb = |reader: &mut Reader, out: &mut Vec<Result<Record, LineError>>| {
        reader.take_lines(out);
        for r in out.drain(..) {
            match r {
                Ok(rec) => {
                    ok += 1;
                    if keep {
                        values.extend_from_slice(&rec.window);
                    }
                }
                Err(_) => bad += 1,
            }
        }
    };
    // Plain bytes: the reader's decoder passes them through.
    for chunk in bytes.chunks(1 << 20) {
        let _ = reader.push(chunk);
        absorb(&mut reader, &mut out);
    }
    let _ = reader.finish();
    absorb(&mut reader, &mut out);
    (ok, bad, values)
}

/// Median, min and max of a sample (sorted in place).
fn stats(v: &mut [f64]) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    serde_json::json!({ "median": v[v.len() / 2], "min": v[0], "max": v[v.len() - 1], "n": v.len() })
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn write_f32(path: &Path, values: &[f32]) -> Result<(), Fatal> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| Fatal::Message(format!("{}: {e}", path.display())))
}

fn time_inference(
    m: &mut CountModel,
    data: &[f32],
    batch: usize,
    repeat: usize,
) -> Result<serde_json::Value, Fatal> {
    let n = data.len() / WINDOW_LEN;
    m.set_batch_size(batch);
    m.infer(&data[..WINDOW_LEN * batch.min(n)])?; // warm-up: tract plans the shapes on first use
    let mut us: Vec<f64> = (0..repeat.max(1))
        .map(|_| {
            let t = Instant::now();
            m.infer(data)
                .map(|_| t.elapsed().as_secs_f64() * 1e6 / n as f64)
        })
        .collect::<Result<_, _>>()?;
    let s = stats(&mut us);
    Ok(
        serde_json::json!({ "batch": m.batch_size(), "us_per_window": s, "windows_per_s": 1e6 / s["median"].as_f64().unwrap_or(f64::NAN) }),
    )
}

pub fn run(o: Options) -> Result<u8, Fatal> {
    let t0 = Instant::now();
    let mut m = files::load_model(&o.model, None, None)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let n = o.windows.max(1);
    let (data, source) = match &o.windows_from {
        None => (
            random_windows(n),
            "pseudo-random amplitudes 0-60".to_string(),
        ),
        Some(path) => {
            let (found, _, values) = parse(&plain_bytes(path)?, true);
            if found == 0 {
                return Err(Fatal::Message(format!(
                    "{}: no usable window",
                    path.display()
                )));
            }
            let data: Vec<f32> = values
                .iter()
                .copied()
                .cycle()
                .take(n * WINDOW_LEN)
                .collect();
            (
                data,
                format!("{} ({found} windows, cycled)", path.display()),
            )
        }
    };
    if let Some(dir) = &o.dump {
        std::fs::create_dir_all(dir)
            .map_err(|e| Fatal::Message(format!("{}: {e}", dir.display())))?;
        write_f32(&dir.join("windows.f32"), &data)?;
        let mut norm = data.clone();
        m.calibration().normalise(&mut norm);
        write_f32(&dir.join("windows-normalised.f32"), &norm)?;
        write_f32(&dir.join("logits.f32"), &m.infer(&data)?.interleaved())?;
    }
    let rows = o
        .batch
        .iter()
        .map(|&b| time_inference(&mut m, &data, b, o.repeat))
        .collect::<Result<Vec<_>, _>>()?;
    let profile = if o.profile {
        let t0 = Instant::now();
        let clock = move || t0.elapsed().as_secs_f64();
        let ops = m.profile(&data, &clock)?;
        let total: f64 = ops.iter().map(|t| t.seconds).sum();
        serde_json::json!({ "batch": m.batch_size(), "us_per_window": total * 1e6 / n as f64,
            "ops": ops.iter().map(|t| serde_json::json!({ "node": t.node, "op": t.op, "calls": t.calls,
                "us_per_window": t.seconds * 1e6 / n as f64, "share": t.seconds / total })).collect::<Vec<_>>() })
    } else {
        serde_json::Value::Null
    };
    let parsed = match &o.parse {
        None => serde_json::Value::Null,
        Some(path) => {
            let raw = files::read(path)?;
            let bytes = plain_of(path, &raw)?;
            let mut secs = Vec::new();
            let mut found = (0, 0);
            for _ in 0..o.repeat.max(1) {
                let t = Instant::now();
                let (ok, bad, _) = parse(&bytes, true);
                secs.push(t.elapsed().as_secs_f64());
                found = (ok, bad);
            }
            let mut mb_s: Vec<f64> = secs.iter().map(|s| bytes.len() as f64 / 1e6 / s).collect();
            let mut w_s: Vec<f64> = secs.iter().map(|s| found.0 as f64 / s).collect();
            // A gzip recording: how fast the decoder alone gives its plain bytes (MB of plain text per
            // second), beside the parser's speed: what reading a compressed file whole costs a worker
            // that parses only part of it.
            let inflate = if raw.starts_with(&GZIP_MAGIC) {
                let mut mb_s = Vec::new();
                for _ in 0..o.repeat.max(1) {
                    let t = Instant::now();
                    let mut plain = 0usize;
                    let mut dec = Decoder::default();
                    let err = |e: StreamError| Fatal::Message(format!("{}: {e}", path.display()));
                    for chunk in raw.chunks(1 << 20) {
                        dec.push(chunk, &mut |b| plain += b.len()).map_err(err)?;
                    }
                    dec.finish(&mut |b| plain += b.len()).map_err(err)?;
                    mb_s.push(plain as f64 / 1e6 / t.elapsed().as_secs_f64());
                }
                stats(&mut mb_s)
            } else {
                serde_json::Value::Null
            };
            serde_json::json!({ "file": path.display().to_string(), "bytes": bytes.len(), "windows": found.0, "bad_lines": found.1,
                "mb_per_s": stats(&mut mb_s), "windows_per_s": stats(&mut w_s), "inflate_mb_per_s": inflate })
        }
    };
    let mut out = std::io::stdout().lock();
    if o.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "target": std::env::consts::ARCH, "windows": n, "source": source, "repeat": o.repeat, "load_ms": load_ms, "results": rows, "parse": parsed, "profile": profile })
        )?;
    } else {
        writeln!(
                out,
            "model load+optimise: {load_ms:.1} ms; {n} windows × {} repeats ({}); windows: {source}",
            o.repeat,
            std::env::consts::ARCH
        )?;
        writeln!(
            out,
            "| batch | µs/window median | min | max | windows/s |\n|---|---|---|---|---|"
        )?;
        for r in &rows {
            let us = &r["us_per_window"];
            writeln!(
                out,
                "| {} | {:.1} | {:.1} | {:.1} | {:.0} |",
                r["batch"],
                num(&us["median"]),
                num(&us["min"]),
                num(&us["max"]),
                num(&r["windows_per_s"])
            )?;
        }
        if !profile.is_null() {
            writeln!(
                out,
                "\nwhere the time goes at batch {} ({:.1} µs/window profiled):\n| op | node | µs/window | share |\n|---|---|---|---|",
                profile["batch"],
                num(&profile["us_per_window"])
            )?;
            for op in profile["ops"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.1} % |",
                    op["op"].as_str().unwrap_or(""),
                    op["node"].as_str().unwrap_or(""),
                    num(&op["us_per_window"]),
                    num(&op["share"]) * 100.0
                )?;
            }
        }
        if !parsed.is_null() {
            let s = &parsed["mb_per_s"];
            writeln!(
                out,
                "parse {}: {} bytes, {} windows: {:.1} MB/s median (min {:.1}, max {:.1})",
                parsed["file"],
                parsed["bytes"],
                parsed["windows"],
                num(&s["median"]),
                num(&s["min"]),
                num(&s["max"])
            )?;
            let z = &parsed["inflate_mb_per_s"];
            if !z.is_null() {
                writeln!(
                    out,
                    "decompress (gzip → plain, 1 MiB chunks): {:.1} MB/s of plain text median (min {:.1}, max {:.1})",
                    num(&z["median"]),
                    num(&z["min"]),
                    num(&z["max"])
                )?;
            }
        }
    }
    Ok(0)
}
