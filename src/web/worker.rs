//! The replay worker's protocol and its one dispatcher.
//!
//! The page runs one worker per core on a replay (`www/replay-worker.js`, which only hands each message to
//! [`ReplayWorker::handle`] and posts what it answers). Every message in is one [`Message`] carrying a
//! [`Request`]; every message out is one [`Response`]. Both are Rust types, defined here once: the
//! JavaScript never builds or reads a field the core does not name.
//!
//! - `model`: load and check a model once per worker ([`ModelOptions`]: the core ranks the temperature
//!   sources);
//! - `replay`: the primary (shard 0 of `shards`) streams a `File`/`Blob` or a same-origin URL through the
//!   engine, posting `progress`; it waits for the other shards' columns (`merge`, forwarded by the page),
//!   merges them, and answers `replayed` with the columns (transferred), the report and its text;
//!   `normalise: "recording"` reads the source once more first, for its statistics;
//! - `shard`: a helper's share, answered with its columns. A recording of window lines dropped as a
//!   file is split by bytes ([`LineRange::plan`], decided alike by every worker from the file's head and
//!   tail; a gzip file by the offsets of its decoded text): each worker parses and infers only its range,
//!   and a helper sends its outcome's line count, bad lines and tallies too ([`RangeTail`]), which the
//!   primary appends in file order. A helper keeps its range's windows for the heatmap: the primary
//!   answers a `window` it does not hold with the helper that holds it ([`HeldBy`]), and the page asks
//!   that helper. Anything else (CSI frame files, a URL, `normalise: recording`) is split by batches:
//!   every worker reads it all and infers its share of the batches;
//! - `report` (new targets), `window` (one kept window, for the heatmap), `cancel` (stops the replay in
//!   progress at its next chunk; what was loaded before stays);
//! - two models side by side: `model` and `replay`/`shard` take a `slot` (`a`, the default, or `b`); a
//!   worker keeps one model and one replay per slot, and `compare` answers `compared` with the
//!   [`Comparison`] of the two replays (the same struct `countscope compare --json` prints). Loading a
//!   model into slot `a` unloads `b`: one model is the single-model page again.

use super::{Js, ModelOptions};
use crate::input::{InputStats, StatsPass};
use crate::model::{CountModel, ModelError, ModelInfo};
use crate::recording::range::LineRange;
use crate::recording::{LayoutPolicy, LayoutTally, LineError, UnknownLayout};
use crate::replay::{Diagnostics, Outcome, Replay, ReplayError};
use crate::report::gates::{GateError, Targets};
use crate::report::GateSet;
use crate::report::{Comparison, Metrics, Report, Uncertainty};
use crate::series::{ColumnsError, Series};
use serde::{Deserialize, Serialize};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (a worker's or a window's).
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_url(url: &str) -> js_sys::Promise;
    /// `performance.now()`, for the replay's time.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now_ms() -> f64;
    /// The global `setTimeout`, to yield a task (so a `cancel` is seen mid-file).
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
}

/// One message from the page: `{id, request}`. The id comes back on every answer to it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The page's id for this request (absent for `merge` and `cancel`, which are not answered).
    pub id: Option<u32>,
    /// What is asked.
    pub request: Request,
}

/// What the page asks a worker. Externally tagged (`{replay: {…}}`, or `"cancel"`), so serde-wasm-bindgen
/// reads the JavaScript objects (files, typed arrays) straight into the fields that keep them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Request {
    /// Load a model (replacing the one before in its slot; slot `a` also unloads `b`).
    Model {
        /// The model file's bytes.
        bytes: Js<js_sys::Uint8Array>,
        /// Its companions and calibration sources.
        #[serde(default)]
        options: ModelOptions,
        /// Which model: `a` (default) or `b`.
        #[serde(default)]
        slot: Slot,
    },
    /// Compare the two slots' replays of the same recording.
    Compare,
    /// Replay a recording as the primary (shard 0).
    Replay(ReplayRequest),
    /// Replay one helper's share.
    Shard(ReplayRequest),
    /// A helper's answer, forwarded by the page to the primary.
    Merge(MergeRequest),
    /// The last replay's report for other targets.
    Report(ReportRequest),
    /// One kept window of the last replay.
    Window {
        /// Its index in the replay.
        index: usize,
    },
    /// Stop the replay in progress.
    Cancel,
}

/// Which of two models side by side.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// The first (the only one on the single-model page).
    #[default]
    A,
    /// The second.
    B,
}

impl Slot {
    fn index(self) -> usize {
        self as usize
    }
}

/// Which replay, and how.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayRequest {
    /// Which model replays it: `a` (default) or `b`.
    #[serde(default)]
    pub slot: Slot,
    /// A `File`, a `Blob`, or a URL (string) to fetch.
    pub source: Js<JsValue>,
    /// `labelled` (default), `frame-major` or `as-stored`.
    pub layout: Option<String>,
    /// `model` (default) or `recording` (z-score with the recording's own statistics: a first pass).
    pub normalise: Option<Normalise>,
    /// ADR-103 targets, `v0.1.0` (default) or `v0.2.0` (the primary's report).
    pub targets: Option<String>,
    /// Apply the cross-room target.
    #[serde(default)]
    pub cross_room: bool,
    /// This worker's shard (0 for the primary).
    #[serde(default)]
    pub shard: usize,
    /// How many shards share the replay (default 1).
    pub shards: Option<usize>,
    /// Frames between window starts in a CSI frame file (default 20; 1 is RuView's sliding cog).
    pub hop: Option<usize>,
}

/// Whose statistics z-score the input.
#[derive(Clone, Copy, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Normalise {
    /// The model's own (none when it carries none).
    Model,
    /// The recording's own, read in a first pass.
    Recording,
}

/// A helper's result for the primary's replay `replay`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MergeRequest {
    /// The primary's request id.
    pub replay: u32,
    /// The helper's columns ([`Series::to_js`]).
    pub columns: Option<Js<JsValue>>,
    /// A byte-range helper's counts ([`Response::Shard`]'s `tail`; boxed: the input sums are 2 kB).
    pub tail: Option<Box<RangeTail>>,
    /// Or why the helper failed.
    pub error: Option<String>,
}

/// What a helper that read a byte range of the file sends besides its columns: everything its outcome
/// counted over its lines, so the primary puts the ranges back together in file order
/// ([`Outcome::append`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RangeTail {
    /// Which share (1 for the first helper), the range's place in the file.
    pub shard: usize,
    /// Lines read, blank and bad ones included.
    pub lines: u64,
    /// The range's own bytes (for a gzip file, the compressed bytes it read).
    pub bytes: u64,
    /// The file was gzip (split by its decoded text).
    pub gzip: bool,
    /// Where a gzip stream broke, if it did.
    pub stream_error: Option<String>,
    /// Bad lines (all counted; the first ones kept, numbered within the range).
    pub skipped_lines: u64,
    /// The first bad lines.
    pub line_errors: Vec<LineError>,
    /// Windows made by a simulator.
    pub synthetic_windows: u64,
    /// How, the first tag seen.
    pub synthetic_source: Option<String>,
    /// Which layouts fed the model.
    pub layout: LayoutTally,
    /// The input sums.
    pub input_stats: InputStats,
}

impl RangeTail {
    fn of(shard: usize, o: &Outcome) -> RangeTail {
        RangeTail {
            shard,
            lines: o.lines,
            bytes: o.bytes,
            gzip: o.diagnostics.gzip,
            stream_error: o.diagnostics.stream_error.clone(),
            skipped_lines: o.diagnostics.skipped_lines,
            line_errors: o.diagnostics.line_errors.clone(),
            synthetic_windows: o.diagnostics.synthetic_windows,
            synthetic_source: o.diagnostics.synthetic_source.clone(),
            layout: o.layout.clone(),
            input_stats: o.input_stats.clone(),
        }
    }

    /// The helper's outcome again, from its columns and these counts (its windows stay with it).
    fn outcome(self, series: &Series) -> Outcome {
        Outcome {
            predictions: series.predictions(),
            diagnostics: Diagnostics {
                skipped_lines: self.skipped_lines,
                line_errors: self.line_errors,
                synthetic_windows: self.synthetic_windows,
                synthetic_source: self.synthetic_source,
                gzip: self.gzip,
                stream_error: self.stream_error,
                ..Diagnostics::default()
            },
            layout: self.layout,
            bytes: self.bytes,
            windows: None,
            input_stats: self.input_stats,
            lines: self.lines,
        }
    }
}

/// Report options.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportRequest {
    /// `v0.1.0` (default) or `v0.2.0`.
    pub targets: Option<String>,
    /// Apply the cross-room target.
    #[serde(default)]
    pub cross_room: bool,
}

/// Where the primary's replay time went, in seconds, phase by phase (they add up to its `seconds` but for
/// encoding the answer): what to look at before making a replay faster.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Phases {
    /// From the request to this worker's own share read and inferred.
    pub read: f64,
    /// Of `read`, the time spent waiting for the source's next chunk (the file, the network or the
    /// decompression stream): what reading costs beyond parsing and inference.
    pub source: f64,
    /// Then waiting for the helpers' answers (0 with one worker).
    pub waited: f64,
    /// Then putting the shares together (0 with one worker).
    pub merged: f64,
    /// Then the columns for the page, sent at once (the page draws them while the report is made).
    pub columns: f64,
    /// Then the report (metrics, the bootstrap's intervals, the gates) and its text.
    pub report: f64,
}

/// Memory in use, in bytes, for the page's timing event.
#[derive(Serialize)]
pub struct Memory {
    /// This worker's kept windows (the heatmap's store; with a byte split, the primary's range's).
    pub windows: usize,
    /// This worker's wasm memory.
    pub wasm: f64,
    /// Its wasm memory at the end of each phase of [`Phases`] but `source` (read, waited, merged,
    /// columns, report): wasm memory never shrinks, so the phase where it grows is the one that set the
    /// peak.
    #[serde(rename = "wasmAfter")]
    pub wasm_after: [f64; 5],
}

/// What a worker answers (`type` says which; `id` is the request's).
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Response<'a> {
    /// How far a replay has read.
    Progress {
        /// Good windows read so far (every shard reads them all).
        windows: u64,
        /// Bytes read, as given (compressed for gzip).
        bytes: u64,
        /// The source's size, when known.
        total: Option<f64>,
        /// Lines skipped so far.
        skipped: u64,
    },
    /// The model is loaded.
    Model {
        /// What it declares.
        info: &'a ModelInfo,
        /// The calibration in force, in words.
        calibration: String,
        /// Windows per inference call.
        batch: usize,
    },
    /// The primary's replay, merged, as columns: sent before its report is computed (under the
    /// replay's id, which stays open until `replayed`), so the page draws while the primary scores.
    Columns {
        /// The recording's name.
        name: String,
        /// The columns ([`Series::to_js`]; their buffers are transferred).
        columns: Js<js_sys::Object>,
        /// Windows with ground truth (the report's `labelled_windows`): without any, the page leaves
        /// out the plots that need truth before the report arrives.
        labelled_windows: usize,
        /// Windows a simulator made (the report's `recording.synthetic_windows`).
        synthetic_windows: u64,
        /// Window 0 as the model was fed it (its buffer transferred), for the heatmap the page draws
        /// first: asked for with `window`, it would wait behind the report this worker makes next.
        first_window: Option<Js<js_sys::Float32Array>>,
    },
    /// The primary's replay, merged and scored (its columns and name came before, in `columns`).
    Replayed {
        /// The report, as `countscope report --json` prints it.
        report: &'a Report,
        /// The report as `countscope report` prints it.
        report_text: String,
        /// Time from the request to the merged replay.
        seconds: f64,
        /// That time by phase.
        phases: Phases,
        /// How the workers shared it: `bytes` (each read a byte range), `batches` (each read it all and
        /// inferred its share of the batches) or `none` (one worker).
        split: &'static str,
        /// Memory in use.
        memory: Memory,
    },
    /// A helper's share.
    Shard {
        /// Its columns.
        columns: Js<js_sys::Object>,
        /// Its wasm memory, in bytes.
        wasm: f64,
        /// Read by byte range: its counts (for the primary's `merge`). For model a it keeps its
        /// range's windows, and answers `window` requests for them by its own index.
        tail: Option<Box<RangeTail>>,
    },
    /// The report for other targets.
    Report {
        /// The report.
        report: &'a Report,
        /// Its text.
        report_text: String,
    },
    /// The two slots' replays compared.
    Compared {
        /// As `countscope compare --json` prints it.
        comparison: &'a Comparison,
        /// As `countscope compare` prints it.
        text: String,
    },
    /// One kept window (model order), `null` when windows were not kept or another worker holds it.
    Window {
        /// The window (transferred).
        window: Option<Js<js_sys::Float32Array>>,
        /// The helper that holds it (a byte split: each worker keeps its own range's windows), and its
        /// index there: ask that worker.
        held_by: Option<HeldBy>,
    },
    /// The request failed.
    Error {
        /// Why, in words.
        message: String,
        /// Whether it was stopped by a cancel or a newer replay (not a failure to show).
        stopped: bool,
    },
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A cancel or a newer replay took over.
    #[error("stopped: a newer replay or a cancel")]
    Stopped,
    /// The message is not one of [`Request`]'s.
    #[error("not a request this worker knows: {0}")]
    Request(String),
    /// A replay before any model.
    #[error("no model loaded")]
    NoModel,
    /// A report or a window before any replay.
    #[error("nothing replayed yet")]
    NothingReplayed,
    /// A comparison without both replays.
    #[error("a comparison needs both models' replays of the recording (model {0} has none)")]
    NotBothReplayed(&'static str),
    /// The two replays cannot be compared.
    #[error(transparent)]
    Compare(#[from] crate::report::CompareError),
    /// The source could not be opened or read.
    #[error("cannot read {source_name}: {reason}")]
    Source {
        /// The file name or URL.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The recording had no usable window ([`Outcome::no_window_message`]).
    #[error("{0}")]
    NoWindow(String),
    /// A helper failed.
    #[error("a helper worker failed: {0}")]
    Helper(String),
    /// A layout or targets option the core does not know.
    #[error("{0}")]
    Option(String),
    /// The model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The replay.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A helper's columns.
    #[error(transparent)]
    Columns(#[from] ColumnsError),
    /// A value could not be handed to JavaScript.
    #[error("cannot hand the answer to JavaScript: {0}")]
    Answer(String),
}

fn layout_policy(layout: Option<&str>) -> Result<LayoutPolicy, WorkerError> {
    match layout {
        None | Some("") => Ok(LayoutPolicy::Labelled),
        Some(s) => s
            .parse()
            .map_err(|e: UnknownLayout| WorkerError::Option(e.to_string())),
    }
}

fn gate_set(targets: Option<&str>, cross_room: bool) -> Result<GateSet, WorkerError> {
    let targets: Targets = match targets {
        None | Some("") => Targets::V010,
        Some(t) => t
            .parse()
            .map_err(|e: GateError| WorkerError::Option(e.to_string()))?,
    };
    Ok(GateSet::adr103(targets, cross_room))
}

/// The first pass of `--normalise recording`: the recording's per-subcarrier statistics.
pub struct InputScan {
    pass: StatsPass,
}

impl InputScan {
    /// A scan reading flat `csi` arrays by `layout` (as the replay that follows will).
    pub fn new(layout: Option<&str>) -> Result<InputScan, WorkerError> {
        Ok(InputScan {
            pass: StatsPass::new(layout_policy(layout)?),
        })
    }

    /// Feed the next chunk (any size, plain or gzip).
    pub fn push(&mut self, chunk: &[u8]) {
        self.pass.push(chunk);
    }

    /// A copy of `model` z-scoring each subcarrier with the statistics read (the CLI's
    /// `--normalise recording`); `model` itself is unchanged.
    pub fn normalise(self, model: &CountModel) -> CountModel {
        let mut m = model.clone();
        self.pass.normalise(&mut m);
        m
    }
}

/// A replay in progress: push the recording's bytes in chunks of any size (plain or gzip).
pub struct Session {
    replay: Replay<Rc<CountModel>>,
    model: Rc<CountModel>,
}

impl Session {
    /// Start replaying against `model`. `layout` is `labelled` (default), `frame-major` or `as-stored`;
    /// `keep_windows` keeps every window (8-bit) for the heatmap. Shard `shard` of `shards` runs only
    /// that share of the batches through the model, so several workers can replay the same bytes in
    /// parallel; shard 0 then takes the others' columns with [`Replayed::merge`].
    pub fn new(
        model: &Rc<CountModel>,
        layout: Option<&str>,
        keep_windows: bool,
        shard: usize,
        shards: usize,
    ) -> Result<Session, WorkerError> {
        let mut replay = Replay::new(model.clone(), layout_policy(layout)?, false);
        replay.shard(shard, shards)?;
        if keep_windows {
            replay.keep_windows();
        }
        Ok(Session {
            replay,
            model: model.clone(),
        })
    }

    /// Read only the lines of one byte range of a plain file ([`Replay::read_range`]; the session must be
    /// shard 0 of 1): push the file from [`LineRange::read_from`] on, and stop once [`Session::range_done`].
    pub fn read_range(&mut self, range: LineRange) -> Result<(), WorkerError> {
        Ok(self.replay.read_range(range)?)
    }

    /// Whether a byte range's last line has been read.
    pub fn range_done(&self) -> bool {
        self.replay.range_done()
    }

    /// Feed the next chunk. Bad lines are collected, not thrown; only a failing model throws.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), WorkerError> {
        Ok(self.replay.push(chunk)?)
    }

    /// End of input: run the last windows and keep the outcome.
    pub fn finish(self) -> Result<Replayed, WorkerError> {
        let outcome = self.replay.finish()?;
        Ok(Replayed {
            name: String::new(),
            series: OnceCell::new(),
            scored: OnceCell::new(),
            outcome,
            model: self.model,
            held: Vec::new(),
        })
    }

    fn progress(&self, total: Option<f64>) -> Response<'static> {
        Response::Progress {
            windows: self.replay.windows_read(),
            bytes: self.replay.bytes_read(),
            total,
            skipped: self.replay.diagnostics().skipped_lines,
        }
    }
}

/// A finished replay: its outcome, and its predictions as columns.
pub struct Replayed {
    outcome: Outcome,
    /// The recording's name (file name or URL's last part).
    name: String,
    /// The predictions as columns, built on first use (after every merge: a primary with helpers builds
    /// them once, from the merged predictions).
    series: OnceCell<Series>,
    /// The metrics and their intervals, computed on the first report (the bootstrap is the expensive
    /// part, and does not depend on the targets); reset by a merge, like `series`.
    scored: OnceCell<(Metrics, Option<Uncertainty>)>,
    model: Rc<CountModel>,
    /// Byte-range helpers' windows, which stay with them, in file order after this worker's own.
    held: Vec<Held>,
}

/// A run of windows a helper holds: replay windows `from..from + count` are its windows `0..count`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Held {
    shard: usize,
    from: usize,
    count: usize,
}

/// Where a window the primary does not hold is: the helper's shard (its place among the page's
/// workers: 1 is the first helper) and the window's index in that helper's replay.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeldBy {
    /// The helper's shard.
    pub shard: usize,
    /// The window's index in its replay.
    pub index: usize,
}

/// Where window `i` of a replay is.
#[derive(Debug, PartialEq)]
enum WindowAt {
    Here(Vec<f32>),
    Elsewhere(HeldBy),
    Nowhere,
}

impl Replayed {
    /// Merge another shard's columns into this replay (ordered by line; a line predicted twice is
    /// refused), so a merged replay equals an unsharded one.
    pub fn merge(&mut self, other: &Series) -> Result<(), WorkerError> {
        self.outcome.merge_shard(other.predictions())?;
        self.changed();
        Ok(())
    }

    /// Append the next byte range's outcome ([`Outcome::append`]), whose windows stay with helper `shard`.
    fn append(&mut self, shard: usize, next: Outcome) -> Result<(), WorkerError> {
        let held = Held {
            shard,
            from: self.outcome.predictions.len(),
            count: next.predictions.len(),
        };
        // Only this worker's own windows are in its store; the helper's are found through `held`.
        let own = self.outcome.windows.take();
        let appended = self.outcome.append(next);
        self.outcome.windows = own;
        appended?;
        if self.outcome.windows.is_some() {
            self.held.push(held);
        }
        self.changed();
        Ok(())
    }

    /// Room for `more` predictions, exactly (before merging shares whose sizes are known).
    fn reserve(&mut self, more: usize) {
        self.outcome.predictions.reserve_exact(more);
    }

    /// The predictions changed: the columns and scores built from them are built again on next use.
    fn changed(&mut self) {
        self.series = OnceCell::new();
        self.scored = OnceCell::new();
    }

    /// The predictions as columns.
    pub fn series(&self) -> &Series {
        self.series
            .get_or_init(|| Series::from_predictions(&self.outcome.predictions))
    }

    /// The report for `targets` (`v0.1.0` by default), the same struct `countscope report --json` prints.
    pub fn report(&self, targets: Option<&str>, cross_room: bool) -> Result<Report, WorkerError> {
        let gates = gate_set(targets, cross_room)?;
        let (metrics, uncertainty) = self.scored.get_or_init(|| {
            let metrics = Metrics::compute(&self.outcome.predictions);
            let uncertainty = Report::uncertainty(&self.outcome, &metrics);
            (metrics, uncertainty)
        });
        Ok(Report::build_with(
            &self.outcome,
            &self.model,
            &gates,
            metrics.clone(),
            uncertainty.clone(),
        ))
    }

    /// Window `i` as fed to the layout (model order `[56][20]`, 8-bit restored), if windows were kept
    /// by this worker (a window a byte-range helper holds is `None` here: the `window` request names it).
    pub fn window(&self, i: usize) -> Option<Vec<f32>> {
        match self.window_at(i) {
            WindowAt::Here(w) => Some(w),
            _ => None,
        }
    }

    /// Where window `i` is: here, with a helper, or nowhere (not kept, or past the end).
    fn window_at(&self, i: usize) -> WindowAt {
        let Some(store) = self.outcome.windows.as_ref() else {
            return WindowAt::Nowhere;
        };
        if i < store.len() {
            return store.window(i).map_or(WindowAt::Nowhere, WindowAt::Here);
        }
        self.held
            .iter()
            .find(|h| (h.from..h.from + h.count).contains(&i))
            .map_or(WindowAt::Nowhere, |h| {
                WindowAt::Elsewhere(HeldBy {
                    shard: h.shard,
                    index: i - h.from,
                })
            })
    }
}

/// A helper's answer waiting for the primary.
#[derive(Default)]
struct MergeSlot {
    /// Columns, and for a byte range its counts.
    got: Vec<HelperShare>,
    error: Option<String>,
    /// Resolves the primary's wait.
    wake: Option<js_sys::Function>,
}

impl MergeSlot {
    fn wake(&mut self) {
        if let Some(wake) = self.wake.take() {
            let _ = wake.call0(&JsValue::NULL);
        }
    }
}

/// What a worker holds between messages.
#[derive(Default)]
struct State {
    /// Per slot (a, b): the model, its name, and its last replay.
    models: [Option<(Rc<CountModel>, String)>; 2],
    replayed: [Option<Replayed>; 2],
    /// The replay in progress: a newer replay or a cancel stops an older one at its next chunk.
    active: u32,
    /// Helpers' answers by the primary's request id.
    merges: HashMap<u32, MergeSlot>,
}

type Shared = Rc<RefCell<State>>;

/// The worker's one dispatcher (see the module docs).
#[wasm_bindgen]
pub struct ReplayWorker {
    state: Shared,
}

#[wasm_bindgen]
impl ReplayWorker {
    /// A worker with no model and no replay.
    #[wasm_bindgen(constructor)]
    pub fn new() -> ReplayWorker {
        ReplayWorker {
            state: Shared::default(),
        }
    }

    /// Handle one message from the page. Every answer (progress, then the result or the error) goes
    /// through `post(message, transfer)`. The promise settles when the request is answered; several
    /// requests run at once (a `cancel` or a `merge` arrives while a replay streams).
    pub fn handle(&self, message: JsValue, post: js_sys::Function) -> js_sys::Promise {
        let state = self.state.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            // The id is read first, so even a request that is not one of ours is answered under it.
            let id = js_sys::Reflect::get(&message, &"id".into())
                .ok()
                .and_then(|v| v.as_f64())
                .map(|v| v as u32);
            let out = Outbox { post, id };
            let answer = match serde_wasm_bindgen::from_value::<Message>(message) {
                Ok(m) => dispatch(&state, m.id.unwrap_or(0), m.request, &out).await,
                Err(e) => Err(WorkerError::Request(e.to_string())),
            };
            match answer {
                Ok(Some((message, transfer))) => out.send(message, &transfer),
                Ok(None) => {}
                Err(e) => out.error(&e),
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Default for ReplayWorker {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a request's answers go.
struct Outbox {
    post: js_sys::Function,
    id: Option<u32>,
}

impl Outbox {
    fn send(&self, message: JsValue, transfer: &js_sys::Array) {
        if let Some(id) = self.id {
            // A fresh plain object takes a new property.
            let _ = js_sys::Reflect::set(&message, &"id".into(), &id.into());
        }
        let _ = self.post.call2(&JsValue::NULL, &message, transfer);
    }

    fn answer(&self, response: &Response) {
        match encode(response) {
            Ok(m) => self.send(m, &js_sys::Array::new()),
            Err(e) => self.error(&e),
        }
    }

    fn error(&self, e: &WorkerError) {
        let response = Response::Error {
            message: e.to_string(),
            stopped: matches!(e, WorkerError::Stopped),
        };
        if let Ok(m) = encode(&response) {
            self.send(m, &js_sys::Array::new());
        }
    }
}

fn encode(response: &Response) -> Result<JsValue, WorkerError> {
    response
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| WorkerError::Answer(e.to_string()))
}

type Answer = Option<(JsValue, js_sys::Array)>;

async fn dispatch(
    state: &Shared,
    id: u32,
    request: Request,
    out: &Outbox,
) -> Result<Answer, WorkerError> {
    match request {
        Request::Model {
            bytes,
            options,
            slot,
        } => {
            let name = options.name.clone().unwrap_or_else(|| "model".into());
            let model = Rc::new(options.load(&bytes.0.to_vec())?);
            let message = encode(&Response::Model {
                info: model.info(),
                calibration: model.calibration().describe(),
                batch: model.batch_size(),
            })?;
            let mut st = state.borrow_mut();
            st.models[slot.index()] = Some((model, name));
            st.replayed[slot.index()] = None;
            if slot == Slot::A {
                st.models[1] = None;
                st.replayed[1] = None;
            }
            Ok(Some((message, js_sys::Array::new())))
        }
        Request::Compare => {
            let st = state.borrow();
            let (a, b) = match (&st.replayed, &st.models) {
                ([Some(a), Some(b)], [Some((_, na)), Some((_, nb))]) => ((a, na), (b, nb)),
                ([None, _], _) => return Err(WorkerError::NotBothReplayed("A")),
                _ => return Err(WorkerError::NotBothReplayed("B")),
            };
            let recording = a.0.name.clone();
            let comparison = Comparison::build(
                [a.1.as_str(), b.1.as_str()],
                &[recording.as_str()],
                &[&a.0.outcome.predictions],
                &[&b.0.outcome.predictions],
            )?;
            let message = encode(&Response::Compared {
                text: comparison.to_text(),
                comparison: &comparison,
            })?;
            Ok(Some((message, js_sys::Array::new())))
        }
        Request::Replay(r) => replay(state, id, r, out).await.map(Some),
        Request::Shard(r) => shard(state, id, r).await.map(Some),
        Request::Merge(m) => {
            let mut st = state.borrow_mut();
            // A helper's answer for a replay no longer waiting (stopped, failed) is dropped.
            if let Some(slot) = st.merges.get_mut(&m.replay) {
                match (m.error, m.columns) {
                    (Some(e), _) => slot.error = Some(e),
                    (None, Some(c)) => match Series::from_js(&c.0) {
                        Ok(s) => slot.got.push((s, m.tail.map(|t| *t))),
                        Err(e) => slot.error = Some(e.to_string()),
                    },
                    (None, None) => {
                        slot.error = Some("a merge with neither columns nor error".into())
                    }
                }
                slot.wake();
            }
            Ok(None)
        }
        Request::Report(r) => {
            let st = state.borrow();
            let replayed = st.replayed[0]
                .as_ref()
                .ok_or(WorkerError::NothingReplayed)?;
            let report = replayed.report(r.targets.as_deref(), r.cross_room)?;
            let message = encode(&Response::Report {
                report_text: report.to_text(),
                report: &report,
            })?;
            Ok(Some((message, js_sys::Array::new())))
        }
        Request::Window { index } => {
            let at = state.borrow().replayed[0]
                .as_ref()
                .map_or(WindowAt::Nowhere, |r| r.window_at(index));
            let (window, held_by) = match at {
                WindowAt::Here(w) => (Some(js_sys::Float32Array::from(&w[..])), None),
                WindowAt::Elsewhere(h) => (None, Some(h)),
                WindowAt::Nowhere => (None, None),
            };
            let transfer = js_sys::Array::new();
            if let Some(w) = &window {
                transfer.push(&w.buffer());
            }
            let message = encode(&Response::Window {
                window: window.map(Js),
                held_by,
            })?;
            Ok(Some((message, transfer)))
        }
        Request::Cancel => {
            let mut st = state.borrow_mut();
            st.active = 0;
            st.merges.values_mut().for_each(MergeSlot::wake);
            Ok(None)
        }
    }
}

/// Removes the primary's merge slot however its replay ends.
struct SlotGuard<'a>(&'a Shared, u32);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().merges.remove(&self.1);
    }
}

async fn replay(
    state: &Shared,
    id: u32,
    r: ReplayRequest,
    out: &Outbox,
) -> Result<(JsValue, js_sys::Array), WorkerError> {
    let started = now_ms();
    let shards = r.shards.unwrap_or(1).max(1);
    state.borrow_mut().merges.insert(id, MergeSlot::default());
    let _slot = SlotGuard(state, id);
    let ranges = split(&r, shards).await?;
    let range = ranges.as_ref().map(|r| r[0]);
    // The heatmap's windows are slot a's: slot b replays the same recording.
    let mut session = open_session(state, id, &r, r.slot == Slot::A, 0, shards, range).await?;
    let (name, source_ms) = pump(state, id, &r.source.0, &mut session, Some(out), range).await?;
    let mut replayed = session.finish()?;
    replayed.name = name.clone();
    let mut phases = Phases {
        source: source_ms / 1000.0,
        ..Phases::default()
    };
    let mut clock = started;
    // Phase k's memory, and the phases after it until they end (one worker skips waiting and merging).
    let mut wasm_after = [0.0; 5];
    let mut lap = |phase: &mut f64, k: usize| {
        let now = now_ms();
        *phase = (now - clock) / 1000.0;
        clock = now;
        wasm_after[k..].fill(wasm_bytes());
    };
    lap(&mut phases.read, 0);
    if shards > 1 {
        let mut others = helpers(state, id, shards - 1).await?;
        lap(&mut phases.waited, 1);
        // Room for every share's predictions, taken once: grown share by share, the vector would hold
        // its old and new buffers at once at each step, and wasm memory keeps that peak.
        replayed.reserve(others.iter().map(|(series, _)| series.len()).sum());
        if ranges.is_some() {
            // Byte ranges: appended in file order, each helper's lines numbered after the ones before.
            others.sort_by_key(|(_, tail)| tail.as_ref().map_or(usize::MAX, |t| t.shard));
            for (series, tail) in others {
                let tail = tail.ok_or_else(|| {
                    WorkerError::Helper(
                        "a helper read batches where the file was split by bytes".into(),
                    )
                })?;
                replayed.append(tail.shard, tail.outcome(&series))?;
            }
        } else {
            for (series, _) in others {
                replayed.merge(&series)?;
            }
        }
        lap(&mut phases.merged, 2);
    }
    if let Some(message) = replayed.outcome.no_window_message(&name) {
        return Err(WorkerError::NoWindow(message));
    }
    // The targets are checked before the columns go, so once the page has them only the answer's own
    // encoding can fail.
    gate_set(r.targets.as_deref(), r.cross_room)?;
    let (columns, transfer) = replayed.series().to_js();
    let first_window = match replayed.window_at(0) {
        WindowAt::Here(w) => Some(js_sys::Float32Array::from(&w[..])),
        WindowAt::Elsewhere(_) | WindowAt::Nowhere => None,
    };
    if let Some(w) = &first_window {
        transfer.push(&w.buffer());
    }
    let columns = encode(&Response::Columns {
        name,
        columns: Js(columns),
        labelled_windows: replayed
            .outcome
            .predictions
            .iter()
            .filter(|p| p.truth.is_some())
            .count(),
        synthetic_windows: replayed.outcome.diagnostics.synthetic_windows,
        first_window: first_window.map(Js),
    })?;
    out.send(columns, &transfer);
    lap(&mut phases.columns, 3);
    let report = replayed.report(r.targets.as_deref(), r.cross_room)?;
    let report_text = report.to_text();
    lap(&mut phases.report, 4);
    let message = encode(&Response::Replayed {
        report_text,
        report: &report,
        seconds: (now_ms() - started) / 1000.0,
        phases,
        split: match (&ranges, shards) {
            (_, 1) => "none",
            (Some(_), _) => "bytes",
            (None, _) => "batches",
        },
        memory: Memory {
            windows: replayed
                .outcome
                .windows
                .as_ref()
                .map_or(0, |w| w.heap_bytes()),
            wasm: wasm_bytes(),
            wasm_after,
        },
    })?;
    state.borrow_mut().replayed[r.slot.index()] = Some(replayed);
    Ok((message, js_sys::Array::new()))
}

async fn shard(
    state: &Shared,
    id: u32,
    r: ReplayRequest,
) -> Result<(JsValue, js_sys::Array), WorkerError> {
    let shards = r.shards.unwrap_or(1).max(1);
    let ranges = split(&r, shards).await?;
    let range = match &ranges {
        Some(all) => Some(*all.get(r.shard).ok_or(ReplayError::Shard {
            index: r.shard,
            count: shards,
        })?),
        None => None,
    };
    // A byte range keeps its windows for the heatmap (slot a) and answers `window` for them: the primary
    // holds only its own range's.
    let keep = range.is_some() && r.slot == Slot::A;
    // A helper's windows of an earlier replay go before this one reads.
    state.borrow_mut().replayed[r.slot.index()] = None;
    let mut session = open_session(state, id, &r, keep, r.shard, shards, range).await?;
    pump(state, id, &r.source.0, &mut session, None, range).await?;
    let replayed = session.finish()?;
    let (columns, transfer) = replayed.series().to_js();
    let message = encode(&Response::Shard {
        columns: Js(columns),
        wasm: wasm_bytes(),
        tail: range.map(|_| Box::new(RangeTail::of(r.shard, &replayed.outcome))),
    })?;
    if keep {
        state.borrow_mut().replayed[r.slot.index()] = Some(replayed);
    }
    Ok((message, transfer))
}

/// This instance's wasm memory, in bytes.
fn wasm_bytes() -> f64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

/// The session for a replay: on the loaded model, or (`normalise: recording`) on a copy z-scoring with
/// the source's own statistics, read in a first pass over the whole source.
async fn open_session(
    state: &Shared,
    id: u32,
    r: &ReplayRequest,
    keep_windows: bool,
    shard: usize,
    shards: usize,
    range: Option<LineRange>,
) -> Result<Session, WorkerError> {
    let model = state.borrow().models[r.slot.index()]
        .as_ref()
        .map(|(m, _)| m.clone())
        .ok_or(WorkerError::NoModel)?;
    let layout = r.layout.as_deref();
    let model = if r.normalise == Some(Normalise::Recording) {
        let mut scan = ScanSink(InputScan::new(layout)?);
        pump(state, id, &r.source.0, &mut scan, None, None).await?;
        Rc::new(scan.0.normalise(&model))
    } else {
        model
    };
    let mut session = match range {
        // One byte range: this worker infers every window it reads.
        Some(range) => {
            let mut s = Session::new(&model, layout, keep_windows, 0, 1)?;
            s.read_range(range)?;
            s
        }
        None => Session::new(&model, layout, keep_windows, shard, shards)?,
    };
    if let Some(hop) = r.hop {
        session.replay.set_hop(hop);
    }
    Ok(session)
}

/// How the replay's workers share the source: byte ranges (one per worker, from [`LineRange::plan`] on
/// the file's first 64 KiB and last 4 bytes, which every worker reads and decides alike) for a file of
/// window lines, plain or gzip (split by its decoded text), else `None`: every worker reads it all and
/// infers its share of the batches.
async fn split(r: &ReplayRequest, shards: usize) -> Result<Option<Vec<LineRange>>, WorkerError> {
    let Some(blob) = r.source.0.dyn_ref::<web_sys::Blob>() else {
        return Ok(None);
    };
    if shards < 2 || r.normalise == Some(Normalise::Recording) {
        return Ok(None);
    }
    let fail = |e: JsValue| WorkerError::Source {
        source_name: "recording".into(),
        reason: describe(&e),
    };
    let size = blob.size();
    let read = |from: f64, to: f64| async move {
        let part = blob.slice_with_f64_and_f64(from, to).map_err(fail)?;
        let bytes = JsFuture::from(part.array_buffer()).await.map_err(fail)?;
        Ok::<_, WorkerError>(js_sys::Uint8Array::new(&bytes).to_vec())
    };
    let head = read(0.0, 65_536.0).await?;
    let tail = read((size - 4.0).max(0.0), size).await?;
    Ok(LineRange::plan(&head, &tail, size as u64, shards))
}

/// Where a source's chunks go.
trait Sink {
    fn push(&mut self, chunk: &[u8]) -> Result<(), WorkerError>;
    fn progress(&self, total: Option<f64>) -> Option<Response<'static>>;
    /// Whether the rest of the source is not this sink's (a byte range read to its last line).
    fn done(&self) -> bool {
        false
    }
}

impl Sink for Session {
    fn push(&mut self, chunk: &[u8]) -> Result<(), WorkerError> {
        Session::push(self, chunk)
    }
    fn progress(&self, total: Option<f64>) -> Option<Response<'static>> {
        Some(Session::progress(self, total))
    }
    fn done(&self) -> bool {
        self.range_done()
    }
}

struct ScanSink(InputScan);

impl Sink for ScanSink {
    fn push(&mut self, chunk: &[u8]) -> Result<(), WorkerError> {
        self.0.push(chunk);
        Ok(())
    }
    fn progress(&self, _: Option<f64>) -> Option<Response<'static>> {
        None
    }
}

/// A source opened for reading.
struct Opened {
    reader: web_sys::ReadableStreamDefaultReader,
    total: Option<f64>,
    name: String,
}

async fn open(source: &JsValue, range: Option<LineRange>) -> Result<Opened, WorkerError> {
    let (stream, total, name) = if let Some(url) = source.as_string() {
        let fail = |reason: String| WorkerError::Source {
            source_name: url.clone(),
            reason,
        };
        let response: web_sys::Response = JsFuture::from(fetch_url(&url))
            .await
            .map_err(|e| fail(describe(&e)))?
            .dyn_into()
            .map_err(|_| fail("fetch answered something other than a Response".into()))?;
        if !response.ok() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let total = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|n| n.parse::<f64>().ok());
        let stream = response
            .body()
            .ok_or_else(|| fail("the response has no body".into()))?;
        let name = url.rsplit('/').next().unwrap_or(&url).to_string();
        (stream, total, name)
    } else if let Some(blob) = source.dyn_ref::<web_sys::Blob>() {
        let name = source
            .dyn_ref::<web_sys::File>()
            .map_or_else(|| "recording".to_string(), |f| f.name());
        match range {
            // A byte range: from the byte before it, its length the progress bar's whole.
            Some(g) => {
                let part =
                    blob.slice_with_f64(g.read_from() as f64)
                        .map_err(|e| WorkerError::Source {
                            source_name: name.clone(),
                            reason: describe(&e),
                        })?;
                (part.stream(), Some((g.end - g.start) as f64), name)
            }
            None => (blob.stream(), Some(blob.size()), name),
        }
    } else {
        return Err(WorkerError::Request(
            "a replay's source must be a File, a Blob or a URL".into(),
        ));
    };
    Ok(Opened {
        reader: stream.get_reader().unchecked_into(),
        total,
        name,
    })
}

fn describe(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Let the event loop run other messages (a `cancel`, a `merge`) before going on.
async fn yield_task() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, 0);
    });
    let _ = JsFuture::from(promise).await;
}

/// Make `id` the replay in progress, and wake any older replay waiting for its helpers so it sees that
/// and stops.
fn begin(state: &Shared, id: u32) {
    let mut st = state.borrow_mut();
    st.active = id;
    st.merges
        .iter_mut()
        .filter(|(&other, _)| other != id)
        .for_each(|(_, slot)| slot.wake());
}

/// Stream `source` into `sink`, posting progress (when `progress` is given) every 100 ms; a newer replay
/// or a cancel stops it at the next chunk. Returns the source's name and the milliseconds spent waiting
/// for its chunks.
async fn pump(
    state: &Shared,
    id: u32,
    source: &JsValue,
    sink: &mut dyn Sink,
    progress: Option<&Outbox>,
    range: Option<LineRange>,
) -> Result<(String, f64), WorkerError> {
    let opened = open(source, range).await?;
    begin(state, id);
    let mut last_post = now_ms();
    let mut buffer = Vec::new();
    let mut waiting = 0.0;
    loop {
        let asked = now_ms();
        let chunk =
            JsFuture::from(opened.reader.read())
                .await
                .map_err(|e| WorkerError::Source {
                    source_name: opened.name.clone(),
                    reason: describe(&e),
                })?;
        waiting += now_ms() - asked;
        if state.borrow().active != id {
            let _ = opened.reader.cancel();
            return Err(WorkerError::Stopped);
        }
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).unwrap_or(JsValue::UNDEFINED);
        let bytes = value
            .dyn_ref::<js_sys::Uint8Array>()
            .ok_or_else(|| WorkerError::Source {
                source_name: opened.name.clone(),
                reason: "the stream gave something other than bytes".into(),
            })?;
        buffer.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut buffer);
        sink.push(&buffer)?;
        if sink.done() {
            let _ = opened.reader.cancel();
            break;
        }
        let now = now_ms();
        if now - last_post > 100.0 {
            last_post = now;
            if let (Some(out), Some(p)) = (progress, sink.progress(opened.total)) {
                out.answer(&p);
            }
            // A file's chunks can arrive as microtasks only: yield a task so a cancel is seen.
            yield_task().await;
        }
    }
    if let (Some(out), Some(p)) = (progress, sink.progress(opened.total)) {
        out.answer(&p);
    }
    Ok((opened.name, waiting))
}

/// The other shards' columns, once all `count` have arrived (or the first failure, or a stop).
/// A helper's answer: its columns, and for a byte range its counts.
type HelperShare = (Series, Option<RangeTail>);

async fn helpers(state: &Shared, id: u32, count: usize) -> Result<Vec<HelperShare>, WorkerError> {
    loop {
        {
            let mut st = state.borrow_mut();
            let active = st.active;
            let slot = st.merges.get_mut(&id).ok_or(WorkerError::Stopped)?;
            if let Some(e) = slot.error.take() {
                return Err(WorkerError::Helper(e));
            }
            if active != id {
                return Err(WorkerError::Stopped);
            }
            if slot.got.len() >= count {
                return Ok(std::mem::take(&mut slot.got));
            }
        }
        let wait = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(slot) = state.borrow_mut().merges.get_mut(&id) {
                slot.wake = Some(resolve);
            }
        });
        let _ = JsFuture::from(wait).await;
    }
}
