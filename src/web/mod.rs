//! The browser shell: a small wasm-bindgen API over the core, used by `www/` and the browser tests.
//!
//! Two halves, because the page runs two instances of this module:
//! - **the worker** ([`worker`]): [`ReplayWorker`] is the one dispatcher of the worker protocol. Every
//!   request and every answer is a Rust type ([`worker::Request`], [`worker::Response`]); the page's
//!   worker script only hands messages to it and posts what it answers. It loads the model once, streams
//!   the recording (a `File`'s or a `fetch`'s chunks straight into the replay), merges the helpers' shards
//!   and hands the columns over in their one transfer encoding ([`crate::series::Series::to_js`]);
//! - **the main thread** ([`plots`]): [`Plots`] is rebuilt from those columns and draws the plots into
//!   canvases with plotters-canvas (plotters measures text through the DOM, so drawing stays on the main
//!   thread).
//!
//! [`Model`] (load and check, with one options object), [`FileKind`]'s sniffing of dropped files and the
//! companion names the page fetches are shared by both; the core's [`WorkerPlan`] says how many workers
//! the main thread starts, and when (`workerPlan`). Nothing here parses, scores or plots by itself:
//! every number comes from the same core the CLI uses.

pub mod plots;
pub mod worker;

pub use plots::{draw_heatmap, Plots};
pub use worker::{InputScan, ReplayWorker, Replayed, Session};

use crate::model::{
    parse_temperature, sidecar_names, weights_name, CountModel, ExternalData, LoadOptions,
    ModelError, SafeTensors, Source, TemperatureSources, Weights,
};
use crate::pool::WorkerPlan;
use crate::recording::{LayoutPolicy, LineError, Reader, Record};
use crate::sim::{SimConfig, Simulator};
use crate::sniff::FileKind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A value handed to JavaScript through serde (maps as plain objects, as `JSON` would).
fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("cannot hand the value to JavaScript: {e}")))
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A JavaScript value carried through serde as itself (a `File`, a typed array), with its type checked:
/// serde-wasm-bindgen's `preserve`. Lets the worker protocol's Rust types hold what JavaScript owns.
pub struct Js<T>(pub T);

impl<'de, T: JsCast> Deserialize<'de> for Js<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_wasm_bindgen::preserve::deserialize(d).map(Js)
    }
}

impl<T: JsCast> Serialize for Js<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(&self.0, s)
    }
}

/// How to load a model: the one options object of [`Model`]'s constructor and of the worker's `model`
/// request. Every field is optional.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelOptions {
    /// The model file's name, for messages, the report and the sidecar names (default `model.onnx`).
    pub name: Option<String>,
    /// The `.onnx.data` companions the model names ([`Model::external_files`]), by name.
    #[serde(default)]
    pub external: HashMap<String, Js<js_sys::Uint8Array>>,
    /// A safetensors file filling the ONNX initializers whose data file is not in `external` (RuView's
    /// `count_v1.safetensors`).
    pub weights: Option<Js<js_sys::Uint8Array>>,
    /// That file's name (default `weights.safetensors`).
    pub weights_name: Option<String>,
    /// A `.temperature` file found beside the model or dropped with it: used only when the model carries
    /// no temperature (the core's precedence).
    pub sidecar: Option<Sidecar>,
    /// An explicit temperature, above everything: a number or its text.
    pub temperature: Option<TemperatureArg>,
}

/// A `.temperature` sidecar's name and text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Its file name (for the report).
    pub name: Option<String>,
    /// Its contents.
    pub text: String,
}

/// An explicit temperature as JavaScript gives it.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum TemperatureArg {
    /// `1.5`
    Number(f64),
    /// `"1.5"` (an input field's value)
    Text(String),
}

impl ModelOptions {
    /// The options from a JavaScript object (`undefined` and `null` mean none).
    pub fn from_js(options: JsValue) -> Result<Self, JsError> {
        if options.is_undefined() || options.is_null() {
            return Ok(Self::default());
        }
        serde_wasm_bindgen::from_value(options)
            .map_err(|e| JsError::new(&format!("model options: {e}")))
    }

    /// Load and check `bytes` (an ONNX file, or a CountNet safetensors file alone, told apart by content)
    /// with these options. A wrong model fails with what was expected and what was found.
    pub fn load(&self, bytes: &[u8]) -> Result<CountModel, ModelError> {
        let files: HashMap<String, Vec<u8>> = self
            .external
            .iter()
            .map(|(name, data)| (name.clone(), data.0.to_vec()))
            .collect();
        let weights = match &self.weights {
            Some(w) => {
                let file = self
                    .weights_name
                    .clone()
                    .unwrap_or_else(|| "weights.safetensors".into());
                let tensors =
                    SafeTensors::parse(&w.0.to_vec()).map_err(|e| ModelError::Weights {
                        file: file.clone(),
                        why: e.to_string(),
                    })?;
                Some(Weights { file, tensors })
            }
            None => None,
        };
        let explicit = match &self.temperature {
            // A number or its text, checked by the core's one rule.
            Some(TemperatureArg::Number(t)) => Some(parse_temperature(&t.to_string())?),
            Some(TemperatureArg::Text(t)) => Some(parse_temperature(t)?),
            None => None,
        };
        let sidecar_name = self.sidecar.as_ref().map(|s| {
            s.name
                .clone()
                .unwrap_or_else(|| "the .temperature file".into())
        });
        let external: &dyn ExternalData = &files;
        CountModel::load_with(
            bytes,
            LoadOptions {
                name: self.name.as_deref().unwrap_or("model.onnx"),
                external,
                weights: weights.as_ref(),
                temperature: TemperatureSources {
                    explicit: explicit.map(|t| (t, Source::Explicit)),
                    sidecar: self
                        .sidecar
                        .as_ref()
                        .zip(sidecar_name.as_deref())
                        .map(|(s, n)| (n, s.text.as_str())),
                },
            },
        )
    }
}

/// A loaded, checked count model.
#[wasm_bindgen]
pub struct Model {
    inner: Rc<CountModel>,
}

impl Model {
    /// The core model (shared with the replays that use it).
    pub fn count_model(&self) -> &Rc<CountModel> {
        &self.inner
    }
}

#[wasm_bindgen]
impl Model {
    /// Load a model from its bytes with one options object ([`ModelOptions`]: `name`, `external`,
    /// `weights`, `weightsName`, `sidecar: {name, text}`, `temperature`). A wrong model fails with what
    /// was expected and what was found.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], options: JsValue) -> Result<Model, JsError> {
        let inner = ModelOptions::from_js(options)?
            .load(bytes)
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
    /// while no replay shares the model, so a running replay never changes under its feet.
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
    /// checking countscope against another runtime on the very same inputs; replays go through the worker.
    pub fn infer(&self, windows: &[f32]) -> Result<Vec<f32>, JsError> {
        Ok(self.inner.infer(windows).map_err(js_err)?.interleaved())
    }
}

/// What a dropped file is, from its first bytes (and, for raw weight data, which has no signature, its
/// name): `"recording"`, `"model"` (ONNX), `"safetensors"`, `"data"` (`.onnx.data`), `"temperature"` or
/// `"unknown"`. The page sorts a drop by this, so the rule lives in the core ([`FileKind::sniff`]).
#[wasm_bindgen(js_name = fileKind)]
pub fn file_kind(head: &[u8], name: &str, size: f64) -> String {
    FileKind::sniff(head, name, size as u64).as_str().into()
}

/// How many replay workers the page runs and how many start before its first replay (`{count, first}`),
/// from `navigator.hardwareConcurrency` (0 when unknown) and the count the page was given, as written
/// (the `workers` attribute or `?workers=`; null when none): [`WorkerPlan::for_page`].
#[wasm_bindgen(js_name = workerPlan)]
pub fn worker_plan(cores: u32, asked: Option<String>) -> Result<JsValue, JsError> {
    to_js(&WorkerPlan::for_page(cores, asked.as_deref()))
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

/// The URL fragment of a moment: the cursor window and the zoomed view (`[viewStart, viewEnd)`, 0-based;
/// pass `viewEnd <= viewStart` for no zoom), with the names of the models and the recording open
/// (see `crate::moment`).
#[wasm_bindgen(js_name = momentFragment)]
pub fn moment_fragment(
    cursor: usize,
    view_start: usize,
    view_end: usize,
    models: Vec<String>,
    recording: Option<String>,
) -> String {
    let view = (view_end > view_start).then_some((view_start, view_end));
    crate::moment::Moment::fragment(cursor, view, &models, recording.as_deref())
}
