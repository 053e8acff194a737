//! The report: metrics, findings and gate verdicts of a replay, as plain serialisable data.
//!
//! The CLI prints it as a table ([`Report::to_text`]) or JSON; the page receives the same struct through
//! serde-wasm-bindgen, so every shell shows the same numbers.

pub mod compare;
pub mod findings;
pub mod gates;
pub mod metrics;
pub(crate) mod text;
pub mod uncertainty;

pub use compare::{CompareError, Comparison};
pub use findings::{Finding, Severity};
pub use gates::{GateMetric, GateResult, GateSet, Status};
pub use metrics::Metrics;
pub use uncertainty::{Interval, Uncertainty};

use crate::input::InputSummary;
use crate::model::{Calibration, CountModel, ModelFormat, WeightSource};
use crate::recording::{LayoutTally, LineError};
use crate::replay::Outcome;
use serde::Serialize;

/// The model facts a report carries.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    /// Producer of the ONNX file.
    pub producer: String,
    /// Floating-point weights.
    pub parameters: u64,
    /// Companion files its weights were read from (data files, a safetensors file).
    pub external_files: Vec<String>,
    /// ONNX, or a CountNet safetensors file built by countscope.
    pub format: ModelFormat,
    /// Which file supplied which weights.
    pub weights: Vec<WeightSource>,
    /// Windows per inference call.
    pub batch_size: usize,
    /// The model as loaded ([`CountModel::fingerprint`]).
    pub fingerprint: String,
}

impl ModelSummary {
    /// The facts of a loaded model.
    pub fn of(model: &CountModel) -> Self {
        let info = model.info();
        ModelSummary {
            producer: info.producer.clone(),
            parameters: info.parameters,
            external_files: model
                .weights()
                .iter()
                .skip(1)
                .map(|w| w.file.clone())
                .collect(),
            format: info.format,
            weights: model.weights().to_vec(),
            batch_size: model.batch_size(),
            fingerprint: model.fingerprint(),
        }
    }
}

impl CalibrationReport {
    /// The calibration a model applies, with its sentence.
    pub fn of(calibration: &Calibration) -> Self {
        CalibrationReport {
            calibration: calibration.clone(),
            description: calibration.describe(),
        }
    }
}

/// The layout reading, with its sentence.
#[derive(Clone, Debug, Serialize)]
pub struct LayoutReport {
    /// Counts of each reading.
    #[serde(flatten)]
    pub tally: LayoutTally,
    /// What was fed to the model, in words.
    pub description: String,
}

/// The calibration applied, with its sentence.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationReport {
    /// Temperature and normalisation in force.
    #[serde(flatten)]
    pub calibration: Calibration,
    /// What was applied, in words.
    pub description: String,
}

/// What the model was fed: the windows' statistics before normalisation, and the range after it.
#[derive(Clone, Debug, Serialize)]
pub struct InputReport {
    /// Per-subcarrier mean and std, and the range, of the windows as laid out (raw amplitudes).
    #[serde(flatten)]
    pub raw: InputSummary,
    /// Whether a normalisation was applied before the model.
    pub normalised: bool,
    /// The smallest value the model received (after normalisation, if any).
    pub fed_min: f32,
    /// The largest value the model received.
    pub fed_max: f32,
    /// In words.
    pub description: String,
}

impl InputReport {
    /// The report of `raw` fed under `calibration`.
    pub fn new(raw: &InputSummary, calibration: &Calibration) -> Self {
        let (fed, how) = match &calibration.normalisation {
            Some(n) => {
                let fed = raw.normalised_by(n);
                let how = format!("fed z-scored: {}", fed.describe());
                (fed, how)
            }
            None => (raw.clone(), "fed as is".to_string()),
        };
        InputReport {
            description: format!("input: {} ({} windows); {how}", raw.describe(), raw.windows),
            raw: raw.clone(),
            normalised: calibration.normalisation.is_some(),
            fed_min: fed.min,
            fed_max: fed.max,
        }
    }
}

/// Facts about the input itself.
#[derive(Clone, Debug, Serialize)]
pub struct RecordingSummary {
    /// Bytes read, as given.
    pub bytes: u64,
    /// Whether it was gzip-compressed.
    pub gzip: bool,
    /// Why reading stopped before the end (a corrupt or truncated gzip stream), if it did.
    pub stream_error: Option<String>,
    /// Windows marked `synthetic` (simulated, not measured).
    pub synthetic_windows: u64,
    /// How the synthetic windows were made (the first `synthetic` tag).
    pub synthetic_source: Option<String>,
    /// How a CSI frame file's frames were framed into windows, per node (`null` for a paired recording).
    pub framing: Option<crate::recording::Framing>,
}

/// Everything countscope says about one replay.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The numbers (flattened into the top level of the JSON).
    #[serde(flatten)]
    pub metrics: Metrics,
    /// 95 % intervals of the headline numbers (`null` without a labelled window).
    pub uncertainty: Option<Uncertainty>,
    /// Lines that could not be read.
    pub skipped_lines: u64,
    /// The first of them, with line numbers and reasons.
    pub bad_lines: Vec<LineError>,
    /// The honest read.
    pub findings: Vec<Finding>,
    /// Gate verdicts.
    pub gates: Vec<GateResult>,
    /// Whether every gate counts as passed.
    pub gates_passed: bool,
    /// How the CSI was laid out for the model.
    pub layout: LayoutReport,
    /// What calibration was applied.
    pub calibration: CalibrationReport,
    /// The model.
    pub model: ModelSummary,
    /// What the model was fed (`null` when no window was read).
    pub input: Option<InputReport>,
    /// The input.
    pub recording: RecordingSummary,
}

impl Report {
    /// Build the report of a finished replay.
    pub fn build(outcome: &Outcome, model: &CountModel, gates: &GateSet) -> Self {
        let metrics = Metrics::compute(&outcome.predictions);
        let uncertainty = Self::uncertainty(outcome, &metrics);
        Self::build_with(outcome, model, gates, metrics, uncertainty)
    }

    /// The intervals of a replay's numbers: the expensive part of a report, which does not depend on the
    /// gates (the page computes it once and reuses it for other targets).
    pub fn uncertainty(outcome: &Outcome, metrics: &Metrics) -> Option<Uncertainty> {
        Uncertainty::of(
            &uncertainty::Scores::new(&[&outcome.predictions]),
            metrics.spearman.is_some(),
        )
    }

    /// Build the report from metrics and intervals already computed.
    pub fn build_with(
        outcome: &Outcome,
        model: &CountModel,
        gates: &GateSet,
        metrics: Metrics,
        uncertainty: Option<Uncertainty>,
    ) -> Self {
        let d = &outcome.diagnostics;
        let input = outcome.input();
        let mut findings = findings::input_findings(d, metrics.windows);
        findings.extend(findings::input_scale_findings(
            input.as_ref(),
            model.calibration(),
        ));
        findings.extend(findings::findings(
            &metrics,
            d.skipped_lines,
            gates.target(gates::GateMetric::Spearman),
            uncertainty.as_ref(),
        ));
        let gate_results = gates.evaluate(
            &metrics,
            findings::within_pm1_is_trivial(&metrics),
            uncertainty.as_ref(),
        );
        findings.extend(findings::gate_findings(&gate_results));
        Report {
            skipped_lines: outcome.diagnostics.skipped_lines,
            bad_lines: outcome.diagnostics.line_errors.clone(),
            findings,
            gates_passed: gate_results.iter().all(GateResult::passed),
            gates: gate_results,
            layout: LayoutReport {
                tally: outcome.layout.clone(),
                description: outcome.layout.describe(),
            },
            calibration: CalibrationReport::of(model.calibration()),
            model: ModelSummary::of(model),
            input: input
                .as_ref()
                .map(|i| InputReport::new(i, model.calibration())),
            recording: RecordingSummary {
                bytes: outcome.bytes,
                gzip: d.gzip,
                stream_error: d.stream_error.clone(),
                framing: d.framing.clone(),
                synthetic_windows: d.synthetic_windows,
                synthetic_source: d.synthetic_source.clone(),
            },
            metrics,
            uncertainty,
        }
    }
}
