//! countscope: replay RuView WiFi-CSI recordings against a person-count ONNX model and say, with numbers,
//! what the model really does.
//!
//! The crate is one pure core with thin shells (see `ARCHITECTURE.md`):
//!
//! ```text
//! recording bytes ─► recording::Parser (push, chunked) ─► Record { window [56×20], truth, ts, line }
//! model bytes (+ named external data) ─► model::CountModel (tract plan + Calibration)
//!                                        └─► replay::Replay (batches) ─► FramePrediction per window
//!                                                                        └─► report::Report (metrics, findings, gates)
//! ```
//!
//! The core never touches files, argv, the DOM, clocks or randomness: the same bytes give the same
//! predictions and the same report natively, under wasmtime and in the browser. The command-line shell
//! lives in `src/bin/countscope/` and is the only place that reads files.

pub mod evaluate;
pub mod input;
pub mod model;
pub mod moment;
pub mod plot;
pub mod pool;
pub mod recording;
pub mod replay;
pub mod report;
pub mod series;
pub mod sim;
pub mod sniff;
pub mod store;
pub mod time;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod web;

/// Subcarriers per window that RuView's count model takes (its first Conv1d has 56 input channels).
pub const N_SUBCARRIERS: usize = 56;
/// Frames per window (RuView's aligner writes one line per 20 consecutive CSI frames).
pub const N_FRAMES: usize = 20;
/// Values in one window, in model order `[subcarrier][frame]`.
pub const WINDOW_LEN: usize = N_SUBCARRIERS * N_FRAMES;
/// Person-count classes the model scores: 0 to 7 persons.
pub const N_CLASSES: usize = 8;

pub use model::{Calibration, CountModel, ExternalData, ModelError, ModelInfo};
pub use recording::{LayoutPolicy, LineError, Parser, Record};
pub use replay::{FramePrediction, Replay, ReplayError};
pub use report::{GateSet, Report};
