//! Helpers shared by the integration tests: fixture paths, reference outputs, synthetic recordings.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// RuView's published model folder, when this checkout sits beside `../shared`.
pub fn upstream() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/upstream/ruview-count-v0.0.2");
    p.join("count_v1.onnx").exists().then_some(p)
}

#[derive(serde::Deserialize)]
pub struct ModelRef {
    pub count_logits: Vec<Vec<f32>>,
    pub conf_logits: Vec<f32>,
    pub temperature: Option<f32>,
}

#[derive(serde::Deserialize)]
pub struct Reference {
    pub windows: Vec<Vec<f32>>,
    pub models: HashMap<String, ModelRef>,
}

pub fn reference() -> Reference {
    serde_json::from_slice(&read("reference.json")).unwrap()
}

/// A frame-major `[20][56]` window (what RuView's writer stores) whose model-order transpose is `model_order`.
pub fn frame_major(model_order: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; 1120];
    for s in 0..56 {
        for f in 0..20 {
            out[f * 56 + s] = model_order[s * 20 + f];
        }
    }
    out
}

/// One paired-JSONL line in RuView's current writer format.
pub fn line(csi_frame_major: &[f32], label: Option<u8>, t0_ms: u64) -> String {
    let csi: Vec<String> = csi_frame_major.iter().map(|v| format!("{v}")).collect();
    let ts = |ms: u64| {
        let s = ms / 1000;
        format!(
            "\"2026-05-20T{:02}:{:02}:{:02}.{:03}Z\"",
            14 + s / 3600,
            (s / 60) % 60,
            s % 60,
            ms % 1000
        )
    };
    let label = label
        .map(|l| format!(",\"n_persons_mode\":{l},\"n_persons_max\":{l}"))
        .unwrap_or_default();
    format!(
        "{{\"csi\":[{}],\"csi_shape\":[20,56]{label},\"ts_start\":{},\"ts_end\":{},\"conf\":0.8}}",
        csi.join(","),
        ts(t0_ms),
        ts(t0_ms + 760)
    )
}

/// RuView's v0.0.1 held-out tail: 215 windows, 140 labelled 0 then 75 labelled 1 (amplitudes: a fixed,
/// deterministic CSI-like pattern; the point is the labels).
pub fn seed_tail() -> String {
    let mut out = String::new();
    for i in 0..215u64 {
        let w: Vec<f32> = (0..1120)
            .map(|k| ((k as u64 * 7 + i * 13) % 50) as f32 + 5.0)
            .collect();
        out.push_str(&line(&w, Some(if i < 140 { 0 } else { 1 }), i * 800));
        out.push('\n');
    }
    out
}

/// RuView's published safetensors, with its JSON header rewritten by `edit` (for the refusal tests).
pub fn ruview_safetensors_edited(edit: impl Fn(&str) -> String) -> Vec<u8> {
    let up =
        upstream().expect("../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout");
    let bytes = std::fs::read(up.join("count_v1.safetensors")).unwrap();
    countscope::model::safetensors::with_header(&bytes, edit)
}

/// Broken copies of RuView's safetensors, each with what its refusal must name: (name, bytes, needle).
/// The core (`tests/model.rs`) and the CLI (`tests/cli.rs`, exit 2) refuse every one.
pub fn bad_ruview_safetensors() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let up =
        upstream().expect("../shared/upstream/ruview-count-v0.0.2 must sit beside the checkout");
    let good = std::fs::read(up.join("count_v1.safetensors")).unwrap();
    let mut past_end = good[..600].to_vec();
    past_end[..8].copy_from_slice(&1132u64.to_le_bytes());
    vec![
        (
            "truncated",
            good[..good.len() - 100].to_vec(),
            "`conf_head.fc2.weight`: data bytes 390816..390944 (file bytes 391956..392084) lie outside the data section of 390848 bytes",
        ),
        (
            "header-past-end",
            past_end,
            "declares 1132 bytes (bytes 8..1140) but the file has 600 bytes",
        ),
        (
            "overlap",
            ruview_safetensors_edited(|h| h.replace("[43008,43264]", "[43000,43256]")),
            "tensors `enc.c1.weight` (data bytes 0..43008) and `enc.c1.bias` (data bytes 43000..43256) overlap",
        ),
        (
            "dtype",
            ruview_safetensors_edited(|h| h.replacen("\"F32\"", "\"I32\"", 1)),
            "`enc.c1.weight` has dtype I32",
        ),
        (
            "shape",
            ruview_safetensors_edited(|h| h.replace("[64,56,3]", "[64,3,56]")),
            "`enc.c1.weight` has shape [64, 3, 56]",
        ),
        (
            "duplicate",
            ruview_safetensors_edited(|h| h.replace("\"enc.c1.bias\"", "\"enc.c1.weight\"")),
            "`enc.c1.weight` appears twice",
        ),
        (
            "names",
            ruview_safetensors_edited(|h| h.replace("conf_head.", "confidence.")),
            "no tensor `conf_head.fc1.weight`",
        ),
    ]
}

/// A small CSI frame file mixing both of RuView's frame formats (deterministic): recorder frames, raw
/// ESP32 frames of two nodes (64 and 128 bins) and a vitals line, for the fuzzer's frame corpus.
#[allow(dead_code)]
pub fn frame_lines() -> String {
    let mut out = String::new();
    for i in 0..24 {
        let amps: Vec<String> = (0..56)
            .map(|s| ((i * 7 + s * 3) % 40).to_string())
            .collect();
        out.push_str(&format!(
            "{{\"timestamp\":{},\"subcarriers\":[{}],\"rssi\":-40}}\n",
            1000.0 + i as f64 * 0.1,
            amps.join(",")
        ));
    }
    for i in 0..50 {
        let pairs = if i % 9 == 4 { 128 } else { 64 };
        let hex: String = (0..pairs)
            .map(|k| format!("{:02x}{:02x}", (i * 5 + k) as u8, (k * 3) as u8))
            .collect();
        out.push_str(&format!("{{\"timestamp\":{},\"node_id\":{},\"type\":\"raw_csi\",\"iq_hex\":\"{hex}\",\"subcarriers\":{pairs}}}\n", 2000.0 + (i / 2) as f64 * 0.05, 1 + i % 2));
    }
    out.push_str("{\"timestamp\":2003.0,\"node_id\":1,\"type\":\"vitals\",\"n_persons\":2}\n");
    out
}
