//! One recording's part of an evaluation, as a file: what a batch runner's job writes and the merge reads.
//!
//! An outcome keeps, per window, only what the numbers are computed from (line, truth, count, confidence),
//! plus the recording's diagnostics and the exact sums of its input statistics. An evaluation is always
//! built from outcomes, in the manifest's order, so the pooled numbers from outcomes made by separate jobs
//! are the bits a single run gives (`tests/cli.rs` checks the JSON is identical).

use super::manifest::Entry;
use crate::input::InputStats;
use crate::model::CountModel;
use crate::recording::{LayoutTally, LineError};
use crate::replay::Outcome;
use crate::report::metrics::Scored;
use serde::{Deserialize, Serialize};

/// The format tag every outcome file starts with; a file with another is refused.
pub const OUTCOME_FORMAT: &str = "countscope-outcome/1";

/// What an outcome keeps of a window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    /// The recording line the window came from.
    pub line: u64,
    /// Ground truth, `null` when unlabelled.
    pub truth: Option<u8>,
    /// The predicted count.
    pub count: u8,
    /// The calibrated confidence (an `f32`, whose shortest decimal reads back to the same bits).
    pub confidence: f32,
}

impl Scored for WindowScore {
    fn truth(&self) -> Option<u8> {
        self.truth
    }
    fn count(&self) -> u8 {
        self.count
    }
    fn confidence(&self) -> f32 {
        self.confidence
    }
}

/// Which model and calibration an outcome was made with: outcomes merge only when these agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// [`CountModel::fingerprint`].
    pub fingerprint: String,
    /// The calibration in force, in words (with `--normalise recording`, this recording's own).
    pub calibration: String,
}

impl ModelIdentity {
    /// The identity of a loaded model with its calibration.
    pub fn of(model: &CountModel) -> Self {
        ModelIdentity {
            fingerprint: model.fingerprint(),
            calibration: model.calibration().describe(),
        }
    }
}

/// One recording's replay, reduced to what an evaluation pools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordingOutcome {
    /// [`OUTCOME_FORMAT`].
    pub format: String,
    /// The manifest entry it answers.
    pub entry: Entry,
    /// The model it was replayed against.
    pub model: ModelIdentity,
    /// Bytes read, as given.
    pub bytes: u64,
    /// Whether the recording was gzip-compressed.
    pub gzip: bool,
    /// Why reading stopped early, if it did.
    pub stream_error: Option<String>,
    /// Lines skipped.
    pub skipped_lines: u64,
    /// The first of them.
    pub bad_lines: Vec<LineError>,
    /// Windows marked synthetic.
    pub synthetic_windows: u64,
    /// How they were made.
    pub synthetic_source: Option<String>,
    /// How a CSI frame file was framed, in words (`null` for a paired recording).
    pub framing: Option<String>,
    /// How the windows were laid out for the model.
    pub layout: LayoutTally,
    /// Every window, in recording order.
    pub windows: Vec<WindowScore>,
    /// The input's sums, exact.
    pub input: InputStats,
}

/// Why an outcome file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeError {
    /// Not JSON of an outcome.
    #[error("not a countscope outcome file: {0}")]
    Invalid(String),
    /// Another format version.
    #[error("outcome format {found:?}, expected {OUTCOME_FORMAT:?}")]
    Format {
        /// The file's tag.
        found: String,
    },
}

impl RecordingOutcome {
    /// Reduce a finished replay of `entry`'s recording.
    pub fn new(entry: Entry, model: &CountModel, outcome: &Outcome) -> Self {
        let d = &outcome.diagnostics;
        RecordingOutcome {
            format: OUTCOME_FORMAT.to_string(),
            entry,
            model: ModelIdentity::of(model),
            bytes: outcome.bytes,
            gzip: d.gzip,
            stream_error: d.stream_error.clone(),
            skipped_lines: d.skipped_lines,
            bad_lines: d.line_errors.clone(),
            synthetic_windows: d.synthetic_windows,
            synthetic_source: d.synthetic_source.clone(),
            framing: d.framing.as_ref().map(|f| f.description.clone()),
            layout: outcome.layout.clone(),
            windows: outcome
                .predictions
                .iter()
                .map(|p| WindowScore {
                    line: p.line,
                    truth: p.truth,
                    count: p.count,
                    confidence: p.confidence,
                })
                .collect(),
            input: outcome.input_stats.clone(),
        }
    }

    /// Read an outcome file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, OutcomeError> {
        #[derive(Deserialize)]
        struct Tag {
            format: Option<String>,
        }
        let tag: Tag =
            serde_json::from_slice(bytes).map_err(|e| OutcomeError::Invalid(e.to_string()))?;
        match tag.format {
            Some(f) if f == OUTCOME_FORMAT => {}
            Some(found) => return Err(OutcomeError::Format { found }),
            None => return Err(OutcomeError::Invalid("no \"format\" key".into())),
        }
        serde_json::from_slice(bytes).map_err(|e| OutcomeError::Invalid(e.to_string()))
    }
}
