//! countscope's typed component: the `countscope:check` world (`wit/check.wit`) over the core, for servers
//! and CI that call checks the way they call a library, with no filesystem, no network and the bounds the
//! host sets.
//!
//! A shell like the CLI and the page: bytes in, the core's numbers out. It is a library (reactor)
//! component built beside the CLI's command component rather than inside it. A command's core module is
//! initialised by its `run` export (the runtime's constructors run there, and then the instance is done);
//! typed exports called on it would run without them, and countscope's wasm matrix kernel registers itself
//! with tract through `inventory`, i.e. through those constructors. In a library component every export
//! runs the constructors once on entry (wit-bindgen's `run_ctors_once`), so the kernel is there on every
//! call.

pub mod convert;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "checker",
        generate_all,
    });
}

use bindings::exports::countscope::check::check::{
    self as api, Guest, GuestEvaluator, GuestModel, GuestSession, ModelBorrow,
};
use bindings::exports::countscope::check::types as w;
use convert::{FromWit, ToWit};
use countscope::evaluate::{self as ev, EvaluateOptions, Evaluation, RecordingOutcome};
use countscope::input::StatsPass;
use countscope::model::{
    sidecar_names, weights_name, CountModel, LoadOptions, ModelError, SafeTensors, Source,
    TemperatureSources, Weights,
};
use countscope::recording::LayoutPolicy;
use countscope::replay::{Outcome, Replay};
use countscope::report::gates::{GateSet, Targets};
use countscope::Report;
use std::cell::RefCell;
use std::collections::HashMap;

/// The most bytes one recording may hold in a session that keeps them (`normalise-recording` reads the
/// recording twice): above it the session stops with `too-large` instead of growing without end.
pub const MAX_KEPT_BYTES: u64 = 1 << 30;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    type Model = ModelResource;
    type Session = SessionResource;
    type Evaluator = EvaluatorResource;

    fn parse_manifest(text: String) -> Result<Vec<w::ManifestEntry>, w::CheckError> {
        ev::Manifest::parse(&text)
            .map(|m| m.recordings.to_wit())
            .map_err(manifest_error)
    }

    fn inspect(bytes: Vec<u8>) -> Result<w::ModelInfo, w::ModelError> {
        let info = CountModel::inspect(&bytes).map_err(model_error)?;
        Ok(w::ModelInfo {
            format: info.format.to_wit(),
            ir_version: info.ir_version,
            opsets: info.opsets.clone(),
            producer: info.producer.clone(),
            inputs: info.inputs.iter().map(tensor).collect(),
            outputs: info.outputs.iter().map(tensor).collect(),
            parameters: info.parameters,
            external_files: info
                .external_files
                .iter()
                .map(|(f, n)| (f.clone(), *n as u64))
                .collect(),
            metadata_keys: info.metadata_keys.clone(),
            calibration: info.calibration.to_wit(),
            safetensors_countnet: info.safetensors.as_ref().map(|s| match &s.not_countnet {
                None => Ok(()),
                Some(why) => Err(why.clone()),
            }),
        })
    }

    fn report_json(report: w::Report) -> String {
        serde_json::to_string_pretty(&Report::from_wit(report)).unwrap_or_default()
    }

    fn evaluation_json(evaluation: w::Evaluation) -> String {
        serde_json::to_string_pretty(&Evaluation::from_wit(evaluation)).unwrap_or_default()
    }

    fn engine() -> String {
        countscope::model::kernel::describe()
    }
}

fn tensor(t: &countscope::model::TensorSummary) -> w::TensorSummary {
    w::TensorSummary {
        name: t.name.clone(),
        datum: t.datum.clone(),
        shape: t.shape.clone(),
    }
}

fn targets(s: &str) -> Result<Targets, w::CheckError> {
    s.parse()
        .map_err(|e: countscope::report::gates::GateError| w::CheckError::BadInput(e.to_string()))
}

fn manifest_error(e: ev::ManifestError) -> w::CheckError {
    let (line, reason) = match &e {
        ev::ManifestError::Invalid { line, reason } => (*line, reason.clone()),
        ev::ManifestError::Duplicate { line, .. } => (*line, e.to_string()),
        ev::ManifestError::Empty => (0, e.to_string()),
    };
    w::CheckError::Manifest(w::ManifestError { line, reason })
}

/// The core's model errors, grouped by what a server does about them.
fn model_error(e: ModelError) -> w::ModelError {
    let m = e.to_string();
    match e {
        ModelError::Decode(_) => w::ModelError::Decode(m),
        ModelError::Interface { .. } | ModelError::PartialWindow { .. } => {
            w::ModelError::Interface(m)
        }
        ModelError::MissingExternal { .. }
        | ModelError::ExternalUnreadable { .. }
        | ModelError::UnsafeLocation { .. }
        | ModelError::ExternalRange { .. } => w::ModelError::ExternalData(m),
        ModelError::Weights { .. }
        | ModelError::NotCountNet { .. }
        | ModelError::MissingWeight { .. }
        | ModelError::WeightMismatch { .. } => w::ModelError::Weights(m),
        ModelError::Calibration(_) => w::ModelError::Calibration(m),
        // The page's build alone refuses ops; a component registers every op tract-onnx knows.
        ModelError::Tract { .. } | ModelError::UnsupportedOp { .. } => w::ModelError::Engine(m),
    }
}

/// A loaded model.
pub struct ModelResource {
    model: CountModel,
}

impl GuestModel for ModelResource {
    fn load(
        name: String,
        bytes: Vec<u8>,
        companions: Vec<(String, Vec<u8>)>,
        temperature: Option<f32>,
    ) -> Result<api::Model, w::ModelError> {
        let companions: HashMap<String, Vec<u8>> = companions.into_iter().collect();
        // The safetensors file RuView publishes beside its ONNX fills the weights its data file would.
        let weights_file = weights_name(&name);
        let weights = match companions.get(&weights_file) {
            Some(b) => Some(Weights {
                tensors: SafeTensors::parse(b).map_err(|e| {
                    w::ModelError::Weights(format!("weights `{weights_file}`: {e}"))
                })?,
                file: weights_file,
            }),
            None => None,
        };
        let sidecar = sidecar_names(&name).into_iter().find_map(|n| {
            companions
                .get(&n)
                .map(|b| (n, String::from_utf8_lossy(b).into_owned()))
        });
        let model = CountModel::load_with(
            &bytes,
            LoadOptions {
                name: &name,
                external: &companions,
                weights: weights.as_ref(),
                temperature: TemperatureSources {
                    explicit: temperature.map(|t| (t, Source::Explicit)),
                    sidecar: sidecar.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                },
            },
        )
        .map_err(model_error)?;
        Ok(api::Model::new(ModelResource { model }))
    }

    fn fingerprint(&self) -> String {
        self.model.fingerprint()
    }

    fn session(&self, options: w::ReplayOptions) -> api::Session {
        api::Session::new(SessionResource {
            state: RefCell::new(Some(Replaying::new(self.model.clone(), options))),
        })
    }
}

/// One recording being replayed, as its chunks arrive.
enum Replaying {
    /// Straight through the model.
    Streaming {
        model: CountModel,
        replay: Box<Replay<CountModel>>,
    },
    /// Keeping the bytes for a first pass over them (`normalise-recording`).
    Keeping {
        model: CountModel,
        options: w::ReplayOptions,
        bytes: Vec<u8>,
    },
}

fn policy(l: w::LayoutPolicy) -> LayoutPolicy {
    LayoutPolicy::from_wit(l)
}

fn start(model: CountModel, options: &w::ReplayOptions) -> Replay<CountModel> {
    let mut replay = Replay::new(model, policy(options.layout), options.strict);
    replay.set_hop(options.hop.clamp(1, 20) as usize);
    replay
}

impl Replaying {
    fn new(model: CountModel, options: w::ReplayOptions) -> Self {
        if options.normalise_recording {
            Replaying::Keeping {
                model,
                options,
                bytes: Vec::new(),
            }
        } else {
            Replaying::Streaming {
                replay: Box::new(start(model.clone(), &options)),
                model,
            }
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), w::CheckError> {
        match self {
            Replaying::Streaming { replay, .. } => replay
                .push(chunk)
                .map_err(|e| w::CheckError::BadInput(e.to_string())),
            Replaying::Keeping { bytes, .. } => {
                if bytes.len() as u64 + chunk.len() as u64 > MAX_KEPT_BYTES {
                    return Err(w::CheckError::TooLarge(format!(
                        "normalise-recording keeps the recording for a second pass, and it is over {MAX_KEPT_BYTES} bytes"
                    )));
                }
                bytes.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    fn windows(&self) -> u64 {
        match self {
            Replaying::Streaming { replay, .. } => replay.windows_read(),
            Replaying::Keeping { .. } => 0,
        }
    }

    /// The outcome, and the model as used (with `normalise-recording`, calibrated by the recording's own
    /// statistics, which the report names). A recording with no usable window is an error.
    fn finish(self) -> Result<(CountModel, Outcome), w::CheckError> {
        let (model, outcome) = match self {
            Replaying::Streaming { model, replay } => {
                let outcome = replay
                    .finish()
                    .map_err(|e| w::CheckError::BadInput(e.to_string()))?;
                (model, outcome)
            }
            Replaying::Keeping {
                mut model,
                options,
                bytes,
            } => {
                let mut pass = StatsPass::new(policy(options.layout));
                pass.push(&bytes);
                pass.normalise(&mut model);
                let mut replay = start(model.clone(), &options);
                replay
                    .push(&bytes)
                    .map_err(|e| w::CheckError::BadInput(e.to_string()))?;
                let outcome = replay
                    .finish()
                    .map_err(|e| w::CheckError::BadInput(e.to_string()))?;
                (model, outcome)
            }
        };
        if let Some(message) = outcome.no_window_message("the recording") {
            return Err(w::CheckError::BadInput(message));
        }
        Ok((model, outcome))
    }
}

fn out_of_order(what: &str) -> w::CheckError {
    w::CheckError::OutOfOrder(what.to_string())
}

/// One recording, pushed in chunks.
pub struct SessionResource {
    state: RefCell<Option<Replaying>>,
}

impl GuestSession for SessionResource {
    fn push(&self, chunk: Vec<u8>) -> Result<(), w::CheckError> {
        match &mut *self.state.borrow_mut() {
            Some(r) => r.push(&chunk),
            None => Err(out_of_order("push after finish")),
        }
    }

    fn windows(&self) -> u64 {
        self.state.borrow().as_ref().map_or(0, Replaying::windows)
    }

    fn finish(&self, gates: w::GateOptions) -> Result<w::Report, w::CheckError> {
        let replaying = self
            .state
            .borrow_mut()
            .take()
            .ok_or_else(|| out_of_order("finish after finish"))?;
        let set = gate_set(&gates)?;
        let (model, outcome) = replaying.finish()?;
        Ok(Report::build(&outcome, &model, &set).to_wit())
    }
}

fn gate_set(gates: &w::GateOptions) -> Result<GateSet, w::CheckError> {
    GateSet::adr103_with(
        targets(&gates.targets)?,
        gates.cross_room,
        &gates.extra_gates,
    )
    .map_err(|e| w::CheckError::BadInput(e.to_string()))
}

/// An evaluation, one recording at a time.
pub struct EvaluatorResource {
    model: CountModel,
    options: w::ReplayOptions,
    evaluate: EvaluateOptions,
    bad_targets: Option<w::CheckError>,
    current: RefCell<Option<(ev::Entry, Replaying)>>,
    outcomes: RefCell<Vec<RecordingOutcome>>,
}

impl GuestEvaluator for EvaluatorResource {
    fn new(model: ModelBorrow<'_>, options: w::ReplayOptions, gates: w::GateOptions) -> Self {
        // A bad `targets` is reported by `begin` and `finish`, which have a result to carry it.
        let (targets, bad_targets) = match targets(&gates.targets) {
            Ok(t) => (t, None),
            Err(e) => (Targets::V010, Some(e)),
        };
        EvaluatorResource {
            model: model.get::<ModelResource>().model.clone(),
            evaluate: EvaluateOptions {
                targets,
                extra_gates: gates.extra_gates,
                normalise_per_recording: options.normalise_recording,
            },
            bad_targets,
            options,
            current: RefCell::new(None),
            outcomes: RefCell::new(Vec::new()),
        }
    }

    fn begin(&self, entry: w::ManifestEntry) -> Result<(), w::CheckError> {
        if let Some(e) = &self.bad_targets {
            return Err(e.clone());
        }
        let mut current = self.current.borrow_mut();
        if let Some((e, _)) = &*current {
            return Err(out_of_order(&format!("begin before the end of {}", e.path)));
        }
        let entry = ev::Entry::from_wit(entry);
        let mut options = self.options;
        let (layout, hop) = entry.reading(policy(options.layout), options.hop.into());
        options.layout = layout.to_wit();
        options.hop = hop.clamp(1, 20) as u8;
        *current = Some((entry, Replaying::new(self.model.clone(), options)));
        Ok(())
    }

    fn push(&self, chunk: Vec<u8>) -> Result<(), w::CheckError> {
        match &mut *self.current.borrow_mut() {
            Some((_, r)) => r.push(&chunk),
            None => Err(out_of_order("push before begin")),
        }
    }

    fn end(&self) -> Result<(), w::CheckError> {
        let (entry, replaying) = self
            .current
            .borrow_mut()
            .take()
            .ok_or_else(|| out_of_order("end before begin"))?;
        let (used, outcome) = replaying.finish().map_err(|e| match e {
            w::CheckError::BadInput(m) => w::CheckError::BadInput(format!(
                "{} (manifest line {}): {m}",
                entry.path, entry.line
            )),
            other => other,
        })?;
        self.outcomes
            .borrow_mut()
            .push(RecordingOutcome::new(entry, &used, &outcome));
        Ok(())
    }

    fn finish(&self) -> Result<w::Evaluation, w::CheckError> {
        if let Some(e) = &self.bad_targets {
            return Err(e.clone());
        }
        if let Some((e, _)) = &*self.current.borrow() {
            return Err(out_of_order(&format!(
                "finish before the end of {}",
                e.path
            )));
        }
        let outcomes = std::mem::take(&mut *self.outcomes.borrow_mut());
        Evaluation::build(&self.model, &outcomes, &self.evaluate)
            .map(|e| e.to_wit())
            .map_err(|e| w::CheckError::NotTheManifest(e.to_string()))
    }
}

// The exports exist only in the component: natively (the conversions' tests) their `pkg:iface#name`
// symbols are not linkable names, and nothing would call them.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
