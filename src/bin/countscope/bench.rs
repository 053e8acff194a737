//! `countscope bench`: per-window inference time at several batch sizes, the same code natively and under
//! wasmtime, so the two can be compared in one run. Timing lives here, in the shell: the core has no clock.

use crate::{cli::Fatal, files};
use countscope::WINDOW_LEN;
use std::time::Instant;

/// Deterministic CSI-like amplitudes (0–60) from a fixed linear congruential generator.
fn windows(n: usize) -> Vec<f32> {
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

pub fn run(
    model: &std::path::Path,
    n: usize,
    batches: &[usize],
    repeat: usize,
    json: bool,
) -> Result<u8, Fatal> {
    let t0 = Instant::now();
    let mut m = files::load_model(model, None)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let data = windows(n.max(1));
    let mut rows = Vec::new();
    for &b in batches {
        m.set_batch_size(b);
        m.infer(&data[..WINDOW_LEN * b.min(n)])?; // warm-up
        let mut us: Vec<f64> = (0..repeat.max(1))
            .map(|_| {
                let t = Instant::now();
                m.infer(&data)
                    .map(|_| t.elapsed().as_secs_f64() * 1e6 / n as f64)
            })
            .collect::<Result<_, _>>()?;
        us.sort_by(f64::total_cmp);
        rows.push((m.batch_size(), us[us.len() / 2], us[0], us[us.len() - 1]));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|&(b, med, min, max)| serde_json::json!({ "batch": b, "us_per_window": { "median": med, "min": min, "max": max }, "windows_per_s": 1e6 / med }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "target": std::env::consts::ARCH, "windows": n, "repeat": repeat, "load_ms": load_ms, "results": v })
        );
    } else {
        println!(
            "model load+optimise: {load_ms:.1} ms; {n} windows × {repeat} repeats ({})",
            std::env::consts::ARCH
        );
        println!("| batch | µs/window median | min | max | windows/s |\n|---|---|---|---|---|");
        for (b, med, min, max) in rows {
            println!(
                "| {b} | {med:.1} | {min:.1} | {max:.1} | {:.0} |",
                1e6 / med
            );
        }
    }
    Ok(0)
}
