//! Reading RuView paired recordings (`*.paired.jsonl`): one JSON object per line, one line per window of
//! 20 CSI frames × 56 subcarriers, with an optional ground-truth person count.
//!
//! [`Parser`] is a push parser over byte chunks so that a browser can stream a file of any size: it holds
//! only the unfinished line. Each line becomes either a [`Record`] (a window in model order plus its
//! metadata) or a [`LineError`] naming the 1-based line number and what is wrong. What to do with bad lines
//! (keep going or stop) is the caller's policy, see [`crate::replay::Replay`].

mod fastline;
pub mod frames;
mod gzip;
mod line;
mod parser;
pub mod range;
mod reader;
pub mod scan;

pub use frames::{Framing, NodeFraming};
pub use gzip::{Decoder, StreamError, GZIP_MAGIC};
pub use parser::{Parser, MAX_LINE_BYTES};
pub use reader::Reader;

use serde::Serialize;

/// How a flat `csi` array is mapped onto the model's `[56 subcarriers][20 frames]` input.
///
/// RuView's writer always fills `csi` frame-major (`[20][56]`), but before its fix #1007 it labelled that
/// `csi_shape: [56, 20]`, and RuView's model was trained and is served on that array reshaped as stored.
/// So the reading is a choice, and countscope makes it visible instead of guessing silently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutPolicy {
    /// Honour `csi_shape`: `[20,56]` is transposed into `[56][20]`; `[56,20]` is fed as stored (what
    /// RuView's model expects). A flat array without `csi_shape` is read as frame-major `[20,56]`, which is
    /// how every RuView writer fills it.
    #[default]
    Labelled,
    /// Read every flat array as frame-major `[20][56]` and transpose it, whatever its label says.
    FrameMajor,
    /// Feed every flat array as stored into `[56][20]`, whatever its label says (RuView's runtime reading).
    AsStored,
}

/// A layout name that is none of the three.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("unknown layout {0:?}: expected labelled, frame-major or as-stored")]
pub struct UnknownLayout(pub String);

impl std::str::FromStr for LayoutPolicy {
    type Err = UnknownLayout;
    fn from_str(s: &str) -> Result<Self, UnknownLayout> {
        match s {
            "labelled" | "labeled" | "as-labelled" => Ok(Self::Labelled),
            "frame-major" | "transpose" => Ok(Self::FrameMajor),
            "as-stored" | "stored" => Ok(Self::AsStored),
            other => Err(UnknownLayout(other.to_string())),
        }
    }
}

/// Which reading produced a window; tallied in the report so the user sees what was fed to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutUsed {
    /// Flat `csi`, read frame-major `[20][56]` and transposed to `[56][20]`.
    Transposed,
    /// Flat `csi`, fed as stored into `[56][20]`.
    AsStored,
    /// Nested `csi` given as `[56][20]` rows: already model order.
    NestedSubcarrierMajor,
    /// Nested `csi` given as `[20][56]` rows: transposed.
    NestedFrameMajor,
}

/// One replayable window: CSI amplitudes in model order plus what the recording says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// 1-based line number in the recording, so every prediction can be traced back to its bytes.
    pub line: u64,
    /// `WINDOW_LEN` amplitudes in model order: index `s * 20 + f` is subcarrier `s`, frame `f`.
    pub window: Vec<f32>,
    /// Ground truth `n_persons_mode`, when the recording is labelled. Never defaulted to 0.
    pub truth: Option<u8>,
    /// `n_persons_max`: the most people seen during the window, when the recording says.
    pub truth_max: Option<u8>,
    /// Start of the window, seconds since the Unix epoch (`ts_start`, or `timestamp`).
    pub ts_start: Option<f64>,
    /// End of the window, seconds since the Unix epoch.
    pub ts_end: Option<f64>,
    /// How the `csi` values were mapped into model order.
    pub layout: LayoutUsed,
    /// The `csi_shape` label as written, if any (shown to the user next to the reading used).
    pub shape_label: Option<[u32; 2]>,
    /// The line's `synthetic` tag (a simulator's provenance), when it carries one: such data was not
    /// measured, and every report says so.
    pub synthetic: Option<String>,
    /// The ESP32 node whose frames made the window, when a CSI frame file names it (`node_id`); `None` for
    /// a paired line and for the recorder format, which holds one unnamed node.
    pub node: Option<u8>,
}

/// A line that could not become a window: where it is and what is wrong, in one line of text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// A one-line, human-readable reason.
    pub reason: String,
}

/// Counts of each reading used over a recording, reported next to the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LayoutTally {
    /// The policy in force.
    pub policy: LayoutPolicy,
    /// Flat windows labelled `[20,56]`.
    pub labelled_20x56: u64,
    /// Flat windows labelled `[56,20]` (RuView's pre-#1007 label).
    pub labelled_56x20: u64,
    /// Flat windows with no `csi_shape`.
    pub unlabelled: u64,
    /// Windows transposed from frame-major into model order.
    pub transposed: u64,
    /// Windows fed as stored.
    pub as_stored: u64,
    /// Windows given as nested arrays (their nesting decides the layout).
    pub nested: u64,
}

impl LayoutTally {
    /// A tally for `policy` with nothing counted yet.
    pub fn new(policy: LayoutPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Count one record.
    pub fn add(&mut self, r: &Record) {
        match r.shape_label {
            _ if matches!(
                r.layout,
                LayoutUsed::NestedFrameMajor | LayoutUsed::NestedSubcarrierMajor
            ) =>
            {
                self.nested += 1
            }
            Some([20, 56]) => self.labelled_20x56 += 1,
            Some(_) => self.labelled_56x20 += 1,
            None => self.unlabelled += 1,
        }
        match r.layout {
            LayoutUsed::Transposed | LayoutUsed::NestedFrameMajor => self.transposed += 1,
            LayoutUsed::AsStored | LayoutUsed::NestedSubcarrierMajor => self.as_stored += 1,
        }
    }

    /// Add another share's counts (the same policy: one replay split by bytes).
    pub fn merge(&mut self, other: &LayoutTally) {
        self.labelled_20x56 += other.labelled_20x56;
        self.labelled_56x20 += other.labelled_56x20;
        self.unlabelled += other.unlabelled;
        self.transposed += other.transposed;
        self.as_stored += other.as_stored;
        self.nested += other.nested;
    }

    /// One sentence saying what was fed to the model, for the human report and the page.
    pub fn describe(&self) -> String {
        let policy = match self.policy {
            LayoutPolicy::Labelled => "as labelled by csi_shape",
            LayoutPolicy::FrameMajor => {
                "overridden: every flat csi read frame-major [20,56] and transposed"
            }
            LayoutPolicy::AsStored => {
                "overridden: every flat csi fed as stored into [56,20] (RuView runtime reading)"
            }
        };
        format!(
            "layout {policy}; labels seen: [20,56] ×{}, [56,20] ×{}, none ×{}, nested ×{}; windows transposed ×{}, fed as stored ×{}",
            self.labelled_20x56, self.labelled_56x20, self.unlabelled, self.nested, self.transposed, self.as_stored
        )
    }
}
