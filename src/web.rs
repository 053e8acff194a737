//! The browser shell: a small wasm-bindgen API over the core, used by `www/` and the browser tests.
//!
//! Two halves, because the page runs two instances of this module:
//! - **the worker** streams the recording: [`Model`] (load and check), [`Session`] (push chunks, read
//!   progress), [`Replayed`] (the finished replay: columns as typed arrays, the report through
//!   serde-wasm-bindgen, any window for the heatmap, CSV);
//! - **the main thread** draws: [`Plots`] is rebuilt from the columns the worker transfers and draws the
//!   plots into canvases with plotters-canvas (plotters measures text through the DOM, so drawing stays on
//!   the main thread).
//!
//! Nothing here parses, scores or plots by itself: every number comes from the same core the CLI uses.

use crate::input::StatsPass;
use crate::model::{
    parse_temperature, sidecar_names, weights_name, CountModel, ExternalData, LoadOptions,
    SafeTensors, Source, TemperatureSources, Weights,
};
use crate::plot::{self, Style};
use crate::recording::{LayoutPolicy, LineError, Reader, Record};
use crate::replay::{FramePrediction, Outcome, Replay};
use crate::report::gates::Targets;
use crate::report::{GateSet, Metrics, Report};
use crate::series::{Series, NO_TRUTH};
use crate::sim::{SimConfig, Simulator};
use crate::N_CLASSES;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;
use serde::Serialize;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("cannot hand the value to JavaScript: {e}")))
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A JavaScript options object, read field by field (`undefined` and `null` fields are absent).
struct Options(JsValue);

impl Options {
    fn get(&self, key: &str) -> Option<JsValue> {
        if self.0.is_undefined() || self.0.is_null() {
            return None;
        }
        js_sys::Reflect::get(&self.0, &key.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>, JsError> {
        self.get(key)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| JsError::new(&format!("{key} must be a string")))
            })
            .transpose()
    }
}

/// The bytes of a `Uint8Array` (or refuses, naming `what`).
fn bytes_of(v: &JsValue, what: &str) -> Result<Vec<u8>, JsError> {
    v.dyn_ref::<js_sys::Uint8Array>()
        .map(|a| a.to_vec())
        .ok_or_else(|| JsError::new(&format!("{what} must be a Uint8Array")))
}

/// A loaded, checked count model.
#[wasm_bindgen]
pub struct Model {
    inner: Rc<CountModel>,
}

#[wasm_bindgen]
impl Model {
    /// Load a model from its bytes: an ONNX file, or a CountNet safetensors file on its own (told apart
    /// by content), with one options object (every field optional):
    ///
    /// - `name`: the model file's name, for messages, the report and the sidecar names;
    /// - `external`: `{name: Uint8Array}`, the `.onnx.data` companions the model names
    ///   ([`Model::external_files`]);
    /// - `weights`, `weightsName`: a safetensors file filling the ONNX initializers whose data file is not
    ///   in `external` (RuView's `count_v1.safetensors`);
    /// - `sidecar`: `{name, text}`, a `.temperature` file found beside the model or dropped with it (used
    ///   only when the model carries no temperature: the core's precedence);
    /// - `temperature`: an explicit temperature, above everything.
    ///
    /// A wrong model fails with what was expected and what was found.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], options: JsValue) -> Result<Model, JsError> {
        let o = Options(options);
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        if let Some(external) = o.get("external") {
            let entries =
                js_sys::Object::entries(external.dyn_ref::<js_sys::Object>().ok_or_else(|| {
                    JsError::new("external data must be an object of name → Uint8Array")
                })?);
            for entry in entries.iter() {
                let pair = js_sys::Array::from(&entry);
                let name = pair
                    .get(0)
                    .as_string()
                    .ok_or_else(|| JsError::new("external data names must be strings"))?;
                files.insert(
                    name.clone(),
                    bytes_of(&pair.get(1), &format!("external data `{name}`"))?,
                );
            }
        }
        let weights = match o.get("weights") {
            Some(w) => {
                let file = o
                    .string("weightsName")?
                    .unwrap_or_else(|| "weights.safetensors".into());
                let tensors = SafeTensors::parse(&bytes_of(&w, "weights")?)
                    .map_err(|e| JsError::new(&format!("weights `{file}`: {e}")))?;
                Some(Weights { file, tensors })
            }
            None => None,
        };
        let sidecar = match o.get("sidecar") {
            Some(side) => {
                let side = Options(side);
                Some((
                    side.string("name")?
                        .unwrap_or_else(|| "the .temperature file".into()),
                    side.string("text")?
                        .ok_or_else(|| JsError::new("sidecar.text must be a string"))?,
                ))
            }
            None => None,
        };
        let explicit = match o.get("temperature") {
            // A number or its text, checked by the core's one rule.
            Some(t) => Some((
                parse_temperature(
                    &t.as_f64()
                        .map_or_else(|| t.as_string().unwrap_or_default(), |t| t.to_string()),
                )
                .map_err(js_err)?,
                Source::Explicit,
            )),
            None => None,
        };
        let name = o.string("name")?.unwrap_or_else(|| "model.onnx".into());
        let external: &dyn ExternalData = &files;
        let inner = CountModel::load_with(
            bytes,
            LoadOptions {
                name: &name,
                external,
                weights: weights.as_ref(),
                temperature: TemperatureSources {
                    explicit,
                    sidecar: sidecar.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                },
            },
        )
        .map_err(js_err)?;
        Ok(Model {
            inner: Rc::new(inner),
        })
    }

    /// The sidecar files to look for beside a model, in order, before loading it: none when the model
    /// carries its own temperature (which a sidecar never overrides), else the core's
    /// [`sidecar_names`] for `name`. The page asks this instead of loading the model twice.
    #[wasm_bindgen(js_name = sidecarNames)]
    pub fn sidecar_names(bytes: &[u8], name: &str) -> Result<Vec<String>, JsError> {
        let info = CountModel::inspect(bytes).map_err(js_err)?;
        Ok(if info.calibration.takes_sidecar() {
            sidecar_names(name).into_iter().collect()
        } else {
            Vec::new()
        })
    }

    /// The safetensors file to look for beside a model whose external data is missing: the core's
    /// [`weights_name`] (`count_v1.safetensors` for `count_v1.onnx`).
    #[wasm_bindgen(js_name = weightsName)]
    pub fn weights_name(name: &str) -> String {
        weights_name(name)
    }

    /// This model, z-scoring each subcarrier with the statistics `scan` read from a recording (the CLI's
    /// `--normalise recording`): a new model sharing the same plan; this one is unchanged.
    #[wasm_bindgen(js_name = normalisedBy)]
    pub fn normalised_by(&self, scan: InputScan) -> Model {
        let mut m = (*self.inner).clone();
        if let Some(stats) = scan.pass.finish() {
            m.set_normalisation(stats.normalisation(), Source::Recording);
        }
        Model { inner: Rc::new(m) }
    }

    /// The companion files a model names (before loading it, so the page can ask for the missing one).
    #[wasm_bindgen(js_name = externalFiles)]
    pub fn external_files(onnx: &[u8]) -> Result<Vec<String>, JsError> {
        let info = CountModel::inspect(onnx).map_err(js_err)?;
        Ok(info.external_files.into_iter().map(|(f, _)| f).collect())
    }

    /// What the model declares (interface, producer, parameters, calibration), as a plain object.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(self.inner.info())
    }

    /// The calibration in force, in words (as the report says it).
    #[wasm_bindgen(js_name = calibrationText)]
    pub fn calibration_text(&self) -> String {
        self.inner.calibration().describe()
    }

    /// Windows per inference call.
    #[wasm_bindgen(js_name = batchSize)]
    pub fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    /// Change the windows per inference call (for benchmarks: the page keeps the engine's default). Only
    /// while no [`Session`] shares the model, so a running replay never changes under its feet.
    #[wasm_bindgen(js_name = setBatchSize)]
    pub fn set_batch_size(&mut self, n: usize) -> Result<(), JsError> {
        Rc::get_mut(&mut self.inner)
            .ok_or_else(|| {
                JsError::new("the batch size cannot change while a replay uses this model")
            })?
            .set_batch_size(n);
        Ok(())
    }

    /// Run raw windows (model order, 1120 values each; normalised here) and return, per window, the 8
    /// count logits followed by the confidence logit. This is the bare engine, for benchmarks and for
    /// checking countscope against another runtime on the very same inputs; replays go through [`Session`].
    pub fn infer(&self, windows: &[f32]) -> Result<Vec<f32>, JsError> {
        Ok(self.inner.infer(windows).map_err(js_err)?.interleaved())
    }
}

/// The first pass of `--normalise recording` in the page: stream the recording through it, then hand it to
/// [`Model::normalised_by`].
#[wasm_bindgen]
pub struct InputScan {
    pass: StatsPass,
}

#[wasm_bindgen]
impl InputScan {
    /// A scan reading flat `csi` arrays by `layout` (as the replay that follows will).
    #[wasm_bindgen(constructor)]
    pub fn new(layout: Option<String>) -> Result<InputScan, JsError> {
        Ok(InputScan {
            pass: StatsPass::new(layout_policy(layout)?),
        })
    }

    /// Feed the next chunk (any size, plain or gzip).
    pub fn push(&mut self, chunk: &[u8]) {
        self.pass.push(chunk);
    }
}

fn layout_policy(layout: Option<String>) -> Result<LayoutPolicy, JsError> {
    match layout.as_deref() {
        None | Some("") => Ok(LayoutPolicy::Labelled),
        Some(s) => s.parse().map_err(js_err),
    }
}

/// The recording reader alone, without a model: push chunks, count windows. It exists so
/// the reader's speed can be measured in the browser against `JSON.parse` (`cargo xtask bench`); every
/// window is still built in model order, as a replay would, and then dropped.
#[wasm_bindgen]
pub struct RecordingParser {
    reader: Reader,
    out: Vec<Result<Record, LineError>>,
    windows: usize,
}

#[wasm_bindgen]
impl RecordingParser {
    /// A reader with the `labelled` layout, accepting plain or gzip bytes.
    #[wasm_bindgen(constructor)]
    pub fn new() -> RecordingParser {
        RecordingParser {
            reader: Reader::new(LayoutPolicy::Labelled),
            out: Vec::new(),
            windows: 0,
        }
    }

    fn absorb(&mut self) {
        self.reader.take_lines(&mut self.out);
        self.windows += self.out.drain(..).filter(Result::is_ok).count();
    }

    /// Feed the next chunk (any size, split anywhere).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        let result = self.reader.push(chunk);
        self.absorb();
        result.map_err(js_err)
    }

    /// End of input: returns the number of windows read.
    pub fn finish(&mut self) -> Result<usize, JsError> {
        let result = self.reader.finish();
        self.absorb();
        result.map_err(js_err)?;
        Ok(self.windows)
    }
}

impl Default for RecordingParser {
    fn default() -> Self {
        Self::new()
    }
}

/// A replay in progress: push the recording's bytes in chunks of any size (plain or gzip).
#[wasm_bindgen]
pub struct Session {
    replay: Replay<Rc<CountModel>>,
    model: Rc<CountModel>,
}

#[wasm_bindgen]
impl Session {
    /// Start replaying against `model`. `layout` is `labelled` (default), `frame-major` or `as-stored`;
    /// `keep_windows` keeps every window (8-bit) for the heatmap. `shard` of `shards` (default 0 of 1)
    /// runs only that share of the batches through the model, so several workers can replay the same
    /// bytes in parallel; shard 0 then takes the others' columns with [`Replayed::merge_shard`].
    #[wasm_bindgen(constructor)]
    pub fn new(
        model: &Model,
        layout: Option<String>,
        keep_windows: bool,
        shard: Option<usize>,
        shards: Option<usize>,
    ) -> Result<Session, JsError> {
        let policy = layout_policy(layout)?;
        let mut replay = Replay::new(model.inner.clone(), policy, false);
        replay
            .shard(shard.unwrap_or(0), shards.unwrap_or(1))
            .map_err(js_err)?;
        if keep_windows {
            replay.keep_windows();
        }
        Ok(Session {
            replay,
            model: model.inner.clone(),
        })
    }

    /// Feed the next chunk. Bad lines are collected, not thrown; only a failing model throws.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.replay.push(chunk).map_err(js_err)
    }

    /// Good windows read so far, by every shard (each reads them all): the progress to show.
    #[wasm_bindgen(js_name = windowsRead)]
    pub fn windows_read(&self) -> f64 {
        self.replay.windows_read() as f64
    }

    /// Lines skipped so far.
    #[wasm_bindgen(js_name = skippedLines)]
    pub fn skipped_lines(&self) -> f64 {
        self.replay.diagnostics().skipped_lines as f64
    }

    /// Bytes pushed so far, as given (compressed for gzip): for a progress bar against the file size.
    #[wasm_bindgen(js_name = bytesRead)]
    pub fn bytes_read(&self) -> f64 {
        self.replay.bytes_read() as f64
    }

    /// End of input: run the last windows and keep the outcome.
    pub fn finish(self) -> Result<Replayed, JsError> {
        Ok(Replayed {
            outcome: self.replay.finish().map_err(js_err)?,
            series: OnceCell::new(),
            model: self.model,
        })
    }
}

/// A finished replay.
#[wasm_bindgen]
pub struct Replayed {
    outcome: Outcome,
    /// The predictions as columns, built on first use from `outcome` (after any merge: a sharded replay
    /// builds them once, from the merged predictions).
    series: OnceCell<Series>,
    model: Rc<CountModel>,
}

fn gate_set(targets: Option<String>, cross_room: bool) -> Result<GateSet, JsError> {
    let targets: Targets = match targets.as_deref() {
        None | Some("") => Targets::V010,
        Some(t) => t.parse().map_err(js_err)?,
    };
    Ok(GateSet::adr103(targets, cross_room))
}

#[wasm_bindgen]
impl Replayed {
    /// The report, the same struct `countscope report --json` prints. `targets` is `v0.1.0` (default) or
    /// `v0.2.0`; `cross_room` applies the cross-room target.
    pub fn report(&self, targets: Option<String>, cross_room: bool) -> Result<JsValue, JsError> {
        let gates = gate_set(targets, cross_room)?;
        to_js(&Report::build(&self.outcome, &self.model, &gates))
    }

    /// The report as `countscope report` prints it.
    #[wasm_bindgen(js_name = reportText)]
    pub fn report_text(
        &self,
        targets: Option<String>,
        cross_room: bool,
    ) -> Result<String, JsError> {
        let gates = gate_set(targets, cross_room)?;
        Ok(Report::build(&self.outcome, &self.model, &gates).to_text())
    }

    /// The report and its text from one [`Report::build`] (metrics, Spearman's ranking and the gates run
    /// once): `{ report, text }`. The page asks for both after every replay and every change of targets.
    #[wasm_bindgen(js_name = reportWithText)]
    pub fn report_with_text(
        &self,
        targets: Option<String>,
        cross_room: bool,
    ) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Both<'a> {
            report: &'a Report,
            text: String,
        }
        let gates = gate_set(targets, cross_room)?;
        let report = Report::build(&self.outcome, &self.model, &gates);
        to_js(&Both {
            text: report.to_text(),
            report: &report,
        })
    }

    /// Merge another shard's windows (its `line`, `tsStart`, `tsEnd`, `truth`, `countLogits` and
    /// `confLogit` columns) into this replay: the readings are recomputed here from the logits with this
    /// model's calibration, so a merged replay equals an unsharded one.
    #[wasm_bindgen(js_name = mergeShard)]
    pub fn merge_shard(
        &mut self,
        line: Vec<u32>,
        ts_start: Vec<f64>,
        ts_end: Vec<f64>,
        truth: Vec<u8>,
        count_logits: Vec<f32>,
        conf_logit: Vec<f32>,
    ) -> Result<(), JsError> {
        let n = line.len();
        if [ts_start.len(), ts_end.len(), truth.len(), conf_logit.len()] != [n; 4]
            || count_logits.len() != n * N_CLASSES
        {
            return Err(JsError::new(&format!(
                "a shard of {n} windows needs {n} values per column and {} count logits",
                n * N_CLASSES
            )));
        }
        let opt = |t: f64| (!t.is_nan()).then_some(t);
        let calibration = self.model.calibration();
        let predictions = (0..n)
            .map(|i| {
                let mut logits = [0.0; N_CLASSES];
                logits.copy_from_slice(&count_logits[i * N_CLASSES..(i + 1) * N_CLASSES]);
                FramePrediction::from_logits(
                    u64::from(line[i]),
                    opt(ts_start[i]),
                    opt(ts_end[i]),
                    (truth[i] != NO_TRUTH).then_some(truth[i]),
                    logits,
                    conf_logit[i],
                    calibration,
                )
            })
            .collect();
        self.outcome.merge_shard(predictions).map_err(js_err)?;
        self.series = OnceCell::new();
        Ok(())
    }

    fn series(&self) -> &Series {
        self.series
            .get_or_init(|| Series::from_predictions(&self.outcome.predictions))
    }

    /// Windows replayed.
    pub fn len(&self) -> usize {
        self.series().len()
    }

    /// Whether no window was replayed.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.series().is_empty()
    }

    /// Recording line of each window.
    pub fn line(&self) -> Vec<u32> {
        self.series().line.clone()
    }
    /// Window starts (epoch seconds; NaN where unknown).
    #[wasm_bindgen(js_name = tsStart)]
    pub fn ts_start(&self) -> Vec<f64> {
        self.series().ts_start.clone()
    }
    /// Window ends (epoch seconds; NaN where unknown).
    #[wasm_bindgen(js_name = tsEnd)]
    pub fn ts_end(&self) -> Vec<f64> {
        self.series().ts_end.clone()
    }
    /// Ground truth per window, 255 where unlabelled.
    pub fn truth(&self) -> Vec<u8> {
        self.series().truth.clone()
    }
    /// Predicted count per window.
    pub fn count(&self) -> Vec<u8> {
        self.series().count.clone()
    }
    /// Calibrated confidence per window.
    pub fn confidence(&self) -> Vec<f32> {
        self.series().confidence.clone()
    }
    /// Lower ends of the 95 % intervals.
    #[wasm_bindgen(js_name = p95Low)]
    pub fn p95_low(&self) -> Vec<u8> {
        self.series().p95_low.clone()
    }
    /// Upper ends of the 95 % intervals.
    #[wasm_bindgen(js_name = p95High)]
    pub fn p95_high(&self) -> Vec<u8> {
        self.series().p95_high.clone()
    }
    /// Class probabilities, 8 per window.
    pub fn probs(&self) -> Vec<f32> {
        self.series().probs.clone()
    }
    /// Raw count logits, 8 per window.
    #[wasm_bindgen(js_name = countLogits)]
    pub fn count_logits(&self) -> Vec<f32> {
        self.series().count_logits.clone()
    }
    /// Raw confidence logits.
    #[wasm_bindgen(js_name = confLogit)]
    pub fn conf_logit(&self) -> Vec<f32> {
        self.series().conf_logit.clone()
    }

    /// Window `i` as fed to the layout (model order `[56][20]`, 8-bit restored), if windows were kept.
    pub fn window(&self, i: usize) -> Option<Vec<f32>> {
        self.outcome.windows.as_ref()?.window(i)
    }

    /// Bytes held by the kept windows.
    #[wasm_bindgen(js_name = windowBytes)]
    pub fn window_bytes(&self) -> usize {
        self.outcome.windows.as_ref().map_or(0, |w| w.heap_bytes())
    }

    /// Per-frame CSV (the columns of `countscope replay --format csv`).
    pub fn csv(&self) -> String {
        self.series().to_csv()
    }
}

/// The plots of one replay, drawn on the main thread from the columns the worker sent.
#[wasm_bindgen]
pub struct Plots {
    series: Series,
    metrics: Metrics,
}

fn canvas_area(
    canvas: &HtmlCanvasElement,
    scale: f64,
) -> Result<plotters::drawing::DrawingArea<CanvasBackend, plotters::coord::Shift>, JsError> {
    // plotters-canvas draws in canvas pixels and ignores devicePixelRatio: size the backing store to the
    // element's CSS size × the ratio, and the plots scale their fonts and strokes by the same ratio.
    let (cw, ch) = (canvas.client_width(), canvas.client_height());
    if cw > 0 && ch > 0 {
        let (w, h) = (
            (cw as f64 * scale).round() as u32,
            (ch as f64 * scale).round() as u32,
        );
        if canvas.width() != w || canvas.height() != h {
            canvas.set_width(w);
            canvas.set_height(h);
        }
    }
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or_else(|| JsError::new("the canvas has no 2-D context"))?;
    Ok(backend.into_drawing_area())
}

#[wasm_bindgen]
impl Plots {
    /// Rebuild a replay's columns (as [`Replayed`] hands them out) for drawing.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(constructor)]
    pub fn new(
        line: Vec<u32>,
        ts_start: Vec<f64>,
        ts_end: Vec<f64>,
        truth: Vec<u8>,
        count: Vec<u8>,
        confidence: Vec<f32>,
        p95_low: Vec<u8>,
        p95_high: Vec<u8>,
        probs: Vec<f32>,
        count_logits: Vec<f32>,
        conf_logit: Vec<f32>,
    ) -> Result<Plots, JsError> {
        let series = Series::from_columns(
            line,
            ts_start,
            ts_end,
            truth,
            count,
            confidence,
            p95_low,
            p95_high,
            probs,
            count_logits,
            conf_logit,
        )
        .map_err(js_err)?;
        let metrics = Metrics::compute(&series.predictions());
        Ok(Plots { series, metrics })
    }

    /// Windows.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// The window under `x` CSS pixels from a time plot's left edge, for a plot `width` CSS pixels wide
    /// showing windows `from..to`: the plots' own frame, so the page holds no pixel constants.
    #[wasm_bindgen(js_name = indexAt)]
    pub fn index_at(&self, x: f64, width: f64, from: usize, to: usize) -> usize {
        plot::TIME_FRAME.index_at(x, width, from..to)
    }

    /// How many windows a horizontal drag of `dx` CSS pixels spans on a time plot `width` wide showing
    /// `from..to` (for panning).
    #[wasm_bindgen(js_name = windowsAcross)]
    pub fn windows_across(&self, dx: f64, width: f64, from: usize, to: usize) -> f64 {
        plot::TIME_FRAME.windows_across(dx, width, from..to)
    }

    /// Whether there are no windows.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Window `i`'s prediction as a plain object (time, truth, prediction, confidence, line …).
    pub fn frame(&self, i: usize) -> Result<JsValue, JsError> {
        to_js(&self.series.prediction(i))
    }

    /// Seconds from the first window to window `i` (NaN when the recording has no times).
    pub fn elapsed(&self, i: usize) -> f64 {
        self.series.elapsed(i).unwrap_or(f64::NAN)
    }

    /// The next wrong window after `i`.
    #[wasm_bindgen(js_name = nextWrong)]
    pub fn next_wrong(&self, i: usize) -> Option<usize> {
        self.series.next_wrong(i)
    }

    /// The previous wrong window before `i`.
    #[wasm_bindgen(js_name = prevWrong)]
    pub fn prev_wrong(&self, i: usize) -> Option<usize> {
        self.series.prev_wrong(i)
    }

    /// Draw the timeline of windows `from..to` (zoom; an empty range draws all) with the cursor at window
    /// `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = drawTimeline)]
    pub fn draw_timeline(
        &self,
        canvas: &HtmlCanvasElement,
        from: usize,
        to: usize,
        cursor: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        plot::timeline(&area, &self.series, from..to, cursor, Style { dark, scale }).map_err(js_err)
    }

    /// Draw confidence over windows `from..to` with the cursor at window `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = drawConfidence)]
    pub fn draw_confidence(
        &self,
        canvas: &HtmlCanvasElement,
        from: usize,
        to: usize,
        cursor: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        plot::confidence(&area, &self.series, from..to, cursor, Style { dark, scale })
            .map_err(js_err)
    }

    /// Draw window `i`'s class probabilities.
    #[wasm_bindgen(js_name = drawProbabilities)]
    pub fn draw_probabilities(
        &self,
        canvas: &HtmlCanvasElement,
        i: usize,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        let i = i.min(self.series.len().saturating_sub(1));
        let style = Style { dark, scale };
        if self.series.is_empty() {
            return plot::probabilities(&area, &[0.0; crate::N_CLASSES], None, (0, 0), style)
                .map_err(js_err);
        }
        plot::probabilities(
            &area,
            self.series.probs_at(i),
            self.series.truth_at(i),
            (self.series.p95_low[i], self.series.p95_high[i]),
            style,
        )
        .map_err(js_err)
    }

    /// Draw the confusion matrix.
    #[wasm_bindgen(js_name = drawConfusion)]
    pub fn draw_confusion(
        &self,
        canvas: &HtmlCanvasElement,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        plot::confusion(&area, &self.metrics.confusion, Style { dark, scale }).map_err(js_err)
    }

    /// Draw the reliability diagram.
    #[wasm_bindgen(js_name = drawReliability)]
    pub fn draw_reliability(
        &self,
        canvas: &HtmlCanvasElement,
        dark: bool,
        scale: f64,
    ) -> Result<(), JsError> {
        let area = canvas_area(canvas, scale)?;
        plot::reliability(&area, &self.metrics.reliability, Style { dark, scale }).map_err(js_err)
    }

    /// Per-frame CSV.
    pub fn csv(&self) -> String {
        self.series.to_csv()
    }
}

/// Draw one window (model order, as [`Replayed::window`] returns it) as a heatmap; `None` draws the
/// empty frame.
#[wasm_bindgen(js_name = drawHeatmap)]
pub fn draw_heatmap(
    canvas: &HtmlCanvasElement,
    window: Option<Vec<f32>>,
    dark: bool,
    scale: f64,
) -> Result<(), JsError> {
    let area = canvas_area(canvas, scale)?;
    plot::heatmap(&area, window.as_deref(), Style { dark, scale }).map_err(js_err)
}

/// The simulator, for making long SYNTHETIC recordings inside the page (tests, demos): lines come out in
/// chunks so a 24-hour recording never has to exist as one string.
#[wasm_bindgen]
pub struct Simulation {
    sim: Simulator,
}

#[wasm_bindgen]
impl Simulation {
    /// A simulated session: `seed`, `room`, `duration_s` seconds; every line is tagged synthetic.
    #[wasm_bindgen(constructor)]
    pub fn new(seed: u64, room: u32, duration_s: f64) -> Result<Simulation, JsError> {
        let cfg = SimConfig {
            seed,
            room,
            duration_s,
            ..SimConfig::default()
        };
        Ok(Simulation {
            sim: Simulator::new(cfg).map_err(js_err)?,
        })
    }

    /// Up to `lines` more lines (each ending in a newline) as UTF-8 bytes; empty when the session is over.
    #[wasm_bindgen(js_name = nextChunk)]
    pub fn next_chunk(&mut self, lines: usize) -> Vec<u8> {
        let mut out = String::new();
        for _ in 0..lines {
            if !self.sim.next_line(&mut out) {
                break;
            }
        }
        out.into_bytes()
    }
}
