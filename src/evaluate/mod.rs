//! ADR-103 over a set of recordings: one line per recording, the metrics pooled per split over all its
//! windows (never an average of recordings), the findings and gates per split, and a per-room breakdown.
//!
//! RuView's gates are defined over sets: same-room within ±1 on held-out sessions of the training rooms,
//! cross-room within ±1 on rooms the model never saw. An [`Evaluation`] is built from
//! [`RecordingOutcome`]s in the manifest's order, whether they were just replayed (a single run, one
//! thread per core) or read back from files written by separate jobs (a batch runner's fan-out): the
//! same outcomes in the same order give the same bits.

pub mod manifest;
pub mod outcome;
mod text;

pub use manifest::{Entry, Manifest, ManifestError, Split};
pub use outcome::{ModelIdentity, OutcomeError, RecordingOutcome, WindowScore, OUTCOME_FORMAT};

use crate::input::InputStats;
use crate::model::CountModel;
use crate::replay::Diagnostics;
use crate::report::findings::{self, Finding, FindingCode, Severity};
use crate::report::gates::{GateMetric, GateResult, GateSet, Status, Targets};
use crate::report::uncertainty::{Interval, Scores, Uncertainty};
use crate::report::{CalibrationReport, InputReport, Metrics, ModelSummary};
use serde::Serialize;

/// One recording's line.
#[derive(Clone, Debug, Serialize)]
pub struct RecordingLine {
    /// As in the manifest.
    pub path: String,
    /// The room.
    pub room: String,
    /// The split.
    pub split: Split,
    /// The manifest line.
    pub manifest_line: u64,
    /// Windows replayed.
    pub windows: u64,
    /// Of those, labelled.
    pub labelled_windows: u64,
    /// Exact accuracy over this recording alone.
    pub accuracy: Option<f64>,
    /// Within ±1 over this recording alone.
    pub within_pm1: Option<f64>,
    /// MAE over this recording alone.
    pub mae: Option<f64>,
    /// Lines skipped.
    pub skipped_lines: u64,
    /// The first of them.
    pub bad_lines: Vec<crate::recording::LineError>,
    /// Windows marked synthetic.
    pub synthetic_windows: u64,
    /// Why reading stopped early, if it did.
    pub stream_error: Option<String>,
    /// How a CSI frame file was framed, in words.
    pub framing: Option<String>,
    /// How the windows were laid out, in words.
    pub layout: String,
    /// The calibration in force for this recording, in words.
    pub calibration: String,
}

/// One split's pooled verdict.
#[derive(Clone, Debug, Serialize)]
pub struct SplitReport {
    /// Which split.
    pub split: Split,
    /// Recordings in it.
    pub recordings: u64,
    /// Its rooms, in first-listed order.
    pub rooms: Vec<String>,
    /// The metrics over every window of every recording in it.
    pub metrics: Metrics,
    /// Their 95 % intervals (recordings resampled as wholes, then blocks within each).
    pub uncertainty: Option<Uncertainty>,
    /// Lines skipped over the split.
    pub skipped_lines: u64,
    /// What the model was fed, pooled.
    pub input: Option<InputReport>,
    /// The honest read of the pooled numbers.
    pub findings: Vec<Finding>,
    /// ADR-103's gates for this split (cross-room: the cross-room within ±1 target).
    pub gates: Vec<GateResult>,
    /// Whether every gate counts as passed.
    pub gates_passed: bool,
}

/// One room's pooled numbers.
#[derive(Clone, Debug, Serialize)]
pub struct RoomLine {
    /// The room.
    pub room: String,
    /// Its split.
    pub split: Split,
    /// Recordings from it.
    pub recordings: u64,
    /// Windows.
    pub windows: u64,
    /// Labelled windows.
    pub labelled_windows: u64,
    /// Accuracy over the room's windows.
    pub accuracy: Option<f64>,
    /// Its 95 % interval.
    pub accuracy_interval: Option<Interval>,
    /// Within ±1.
    pub within_pm1: Option<f64>,
    /// Its 95 % interval.
    pub within_pm1_interval: Option<Interval>,
    /// MAE.
    pub mae: Option<f64>,
    /// Its 95 % interval.
    pub mae_interval: Option<Interval>,
    /// Spearman(confidence, correct).
    pub spearman: Option<f64>,
}

/// ADR-103 over a manifest's recordings.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Which ADR-103 column the gates hold the model to (`v0.1.0`, `v0.2.0`).
    pub targets: String,
    /// The model.
    pub model: ModelSummary,
    /// Its calibration as loaded.
    pub calibration: CalibrationReport,
    /// Windows over all recordings.
    pub windows: u64,
    /// One line per recording, in the manifest's order.
    pub recordings: Vec<RecordingLine>,
    /// Same-room, then cross-room.
    pub splits: Vec<SplitReport>,
    /// Per room, in first-listed order.
    pub rooms: Vec<RoomLine>,
    /// What concerns the set as a whole (a split missing, a room in both).
    pub findings: Vec<Finding>,
    /// Whether every gate of both splits counts as passed.
    pub gates_passed: bool,
}

/// Why outcomes cannot be pooled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvaluateError {
    /// An outcome was made with another model.
    #[error("{path} (manifest line {line}) was replayed with model {found}, not {expected}: outcomes of different models cannot be pooled")]
    OtherModel {
        /// The recording.
        path: String,
        /// Its manifest line.
        line: u64,
        /// The evaluation's model fingerprint.
        expected: String,
        /// The outcome's.
        found: String,
    },
    /// An outcome was made with another calibration.
    #[error("{path} (manifest line {line}) was replayed with calibration \"{found}\", not \"{expected}\": its confidences are not comparable")]
    OtherCalibration {
        /// The recording.
        path: String,
        /// Its manifest line.
        line: u64,
        /// The evaluation's calibration.
        expected: String,
        /// The outcome's.
        found: String,
    },
    /// A recording with no usable window.
    #[error("{path} (manifest line {line}): no usable window ({skipped} line(s) skipped{first})")]
    NoWindows {
        /// The recording.
        path: String,
        /// Its manifest line.
        line: u64,
        /// Lines skipped.
        skipped: u64,
        /// The first reason.
        first: String,
    },
    /// Outcomes do not answer the manifest one to one.
    #[error("{0}")]
    NotTheManifest(String),
}

/// How an evaluation holds the model to ADR-103.
#[derive(Clone, Debug)]
pub struct EvaluateOptions {
    /// Which column.
    pub targets: Targets,
    /// `--gate NAME=VALUE`s set on both splits' gates.
    pub extra_gates: Vec<String>,
    /// Each recording z-scored by its own statistics (`--normalise recording`): calibrations then differ
    /// per recording by design.
    pub normalise_per_recording: bool,
}

impl EvaluateOptions {
    /// The gates of a split.
    pub fn gates(&self, split: Split) -> Result<GateSet, crate::report::gates::GateError> {
        GateSet::adr103_with(self.targets, split == Split::CrossRoom, &self.extra_gates)
    }
}

impl Evaluation {
    /// Match outcomes (read from files, any order) to the manifest's entries: one each, same room and
    /// split, in the manifest's order.
    pub fn order(
        manifest: &Manifest,
        mut outcomes: Vec<(String, RecordingOutcome)>,
    ) -> Result<Vec<RecordingOutcome>, EvaluateError> {
        let mut ordered = Vec::with_capacity(manifest.recordings.len());
        for e in &manifest.recordings {
            let found: Vec<usize> = outcomes
                .iter()
                .enumerate()
                .filter(|(_, (_, o))| o.entry.path == e.path)
                .map(|(i, _)| i)
                .collect();
            let i = match found.as_slice() {
                [i] => *i,
                [] => {
                    return Err(EvaluateError::NotTheManifest(format!(
                        "no outcome for {} (manifest line {}): every recording needs its job's outcome file",
                        e.path, e.line
                    )))
                }
                [i, j, ..] => {
                    return Err(EvaluateError::NotTheManifest(format!(
                        "{} and {} are both outcomes of {} (manifest line {})",
                        outcomes[*i].0, outcomes[*j].0, e.path, e.line
                    )))
                }
            };
            let (file, o) = outcomes.swap_remove(i);
            if !o.entry.same_as(e) {
                return Err(EvaluateError::NotTheManifest(format!(
                    "{file}: made for {} in room {:?} ({}), but manifest line {} now says room {:?} ({}), or another layout or hop: rerun its job",
                    o.entry.path, o.entry.room, o.entry.split, e.line, e.room, e.split
                )));
            }
            ordered.push(RecordingOutcome {
                entry: e.clone(),
                ..o
            });
        }
        if let Some((file, o)) = outcomes.first() {
            return Err(EvaluateError::NotTheManifest(format!(
                "{file}: an outcome of {}, which the manifest does not list",
                o.entry.path
            )));
        }
        Ok(ordered)
    }

    /// Pool outcomes, given in the manifest's order, for `model` (whose fingerprint every outcome must
    /// carry).
    pub fn build(
        model: &CountModel,
        outcomes: &[RecordingOutcome],
        options: &EvaluateOptions,
    ) -> Result<Self, EvaluateError> {
        let identity = ModelIdentity::of(model);
        for o in outcomes {
            let (path, line) = (o.entry.path.clone(), o.entry.line);
            if o.model.fingerprint != identity.fingerprint {
                return Err(EvaluateError::OtherModel {
                    path,
                    line,
                    expected: identity.fingerprint,
                    found: o.model.fingerprint.clone(),
                });
            }
            if !options.normalise_per_recording && o.model.calibration != identity.calibration {
                return Err(EvaluateError::OtherCalibration {
                    path,
                    line,
                    expected: identity.calibration,
                    found: o.model.calibration.clone(),
                });
            }
            if o.windows.is_empty() {
                return Err(EvaluateError::NoWindows {
                    path,
                    line,
                    skipped: o.skipped_lines,
                    first: o
                        .bad_lines
                        .first()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default(),
                });
            }
        }
        let recordings = outcomes.iter().map(recording_line).collect();
        let mut splits = Vec::new();
        let mut set_findings = Vec::new();
        for split in Split::ALL {
            let members: Vec<&RecordingOutcome> =
                outcomes.iter().filter(|o| o.entry.split == split).collect();
            let gates = options
                .gates(split)
                .map_err(|e| EvaluateError::NotTheManifest(format!("--gate: {e}")))?;
            if members.is_empty() {
                set_findings.push(Finding {
                    code: FindingCode::SplitMissing,
                    severity: Severity::Warning,
                    message: format!(
                        "the manifest has no {split} recording, so ADR-103's {split} gates are not evaluated (and not passed)"
                    ),
                });
            }
            splits.push(split_report(split, &members, model, &gates));
        }
        let rooms = room_lines(outcomes);
        for r in &rooms {
            if r.split == Split::CrossRoom
                && rooms
                    .iter()
                    .any(|s| s.split == Split::SameRoom && s.room == r.room)
            {
                set_findings.push(Finding {
                    code: FindingCode::RoomInBothSplits,
                    severity: Severity::Warning,
                    message: format!(
                        "room {:?} is listed in both splits: a cross-room recording must come from a room the model never saw, so the cross-room numbers are not cross-room",
                        r.room
                    ),
                });
            }
        }
        if let Some(cross) = splits.iter().find(|s| s.split == Split::CrossRoom) {
            if cross.rooms.len() == 1 {
                set_findings.push(Finding {
                    code: FindingCode::OneCrossRoom,
                    severity: Severity::Info,
                    message: format!(
                        "the cross-room split holds one room ({:?}): how the model carries to rooms it never saw is judged on a single room, and the interval cannot cover the spread between rooms",
                        cross.rooms[0]
                    ),
                });
            }
        }
        Ok(Evaluation {
            targets: match options.targets {
                Targets::V010 => "v0.1.0",
                Targets::V020 => "v0.2.0",
            }
            .to_string(),
            model: ModelSummary::of(model),
            calibration: CalibrationReport::of(model.calibration()),
            windows: outcomes.iter().map(|o| o.windows.len() as u64).sum(),
            recordings,
            gates_passed: splits.iter().all(|s| s.gates_passed),
            splits,
            rooms,
            findings: set_findings,
        })
    }
}

fn recording_line(o: &RecordingOutcome) -> RecordingLine {
    let m = Metrics::compute(&o.windows);
    RecordingLine {
        path: o.entry.path.clone(),
        room: o.entry.room.clone(),
        split: o.entry.split,
        manifest_line: o.entry.line,
        windows: m.windows,
        labelled_windows: m.labelled_windows,
        accuracy: m.accuracy,
        within_pm1: m.within_pm1,
        mae: m.mae,
        skipped_lines: o.skipped_lines,
        bad_lines: o.bad_lines.clone(),
        synthetic_windows: o.synthetic_windows,
        stream_error: o.stream_error.clone(),
        framing: o.framing.clone(),
        layout: o.layout.describe(),
        calibration: o.model.calibration.clone(),
    }
}

/// The windows of several outcomes, one after the other.
fn pooled(members: &[&RecordingOutcome]) -> Vec<WindowScore> {
    members
        .iter()
        .flat_map(|o| o.windows.iter().copied())
        .collect()
}

fn intervals(members: &[&RecordingOutcome], m: &Metrics) -> Option<Uncertainty> {
    let parts: Vec<&[WindowScore]> = members
        .iter()
        .map(|o| o.windows.as_slice())
        .filter(|w| w.iter().any(|w| w.truth.is_some()))
        .collect();
    Uncertainty::of(&Scores::new(&parts), m.spearman.is_some())
}

fn split_report(
    split: Split,
    members: &[&RecordingOutcome],
    model: &CountModel,
    gates: &GateSet,
) -> SplitReport {
    let windows = pooled(members);
    let metrics = Metrics::compute(&windows);
    let uncertainty = intervals(members, &metrics);
    let skipped_lines = members.iter().map(|o| o.skipped_lines).sum();
    let mut stats = InputStats::default();
    for o in members {
        stats.merge(&o.input);
    }
    let input = stats.summary();
    // The split's diagnostics, for the findings that speak of the input: synthetic windows, and any
    // recording cut short (named).
    let cut: Vec<String> = members
        .iter()
        .filter_map(|o| {
            o.stream_error
                .as_ref()
                .map(|e| format!("{}: {e}", o.entry.path))
        })
        .collect();
    let diagnostics = Diagnostics {
        skipped_lines,
        synthetic_windows: members.iter().map(|o| o.synthetic_windows).sum(),
        synthetic_source: synthetic_source(members),
        stream_error: (!cut.is_empty()).then(|| cut.join("; ")),
        ..Diagnostics::default()
    };
    let mut found = Vec::new();
    if !members.is_empty() {
        found.extend(findings::input_findings(&diagnostics, metrics.windows));
        found.extend(findings::input_scale_findings(
            input.as_ref(),
            model.calibration(),
        ));
        found.extend(findings::findings(
            &metrics,
            skipped_lines,
            gates.target(GateMetric::Spearman),
            uncertainty.as_ref(),
        ));
    }
    let mut results = gates.evaluate(
        &metrics,
        findings::within_pm1_is_trivial(&metrics),
        uncertainty.as_ref(),
    );
    if members.is_empty() {
        for g in &mut results {
            g.status = Status::NotEvaluated;
            g.note = Some(format!("the manifest has no {split} recording"));
        }
    }
    found.extend(findings::gate_findings(&results));
    let mut rooms: Vec<String> = Vec::new();
    for o in members {
        if !rooms.contains(&o.entry.room) {
            rooms.push(o.entry.room.clone());
        }
    }
    SplitReport {
        split,
        recordings: members.len() as u64,
        rooms,
        input: input
            .as_ref()
            .map(|i| InputReport::new(i, model.calibration())),
        metrics,
        uncertainty,
        skipped_lines,
        findings: found,
        gates_passed: results.iter().all(GateResult::passed),
        gates: results,
    }
}

/// How a split's synthetic windows were made: the one source, or how many and the first.
fn synthetic_source(members: &[&RecordingOutcome]) -> Option<String> {
    let mut sources: Vec<&str> = Vec::new();
    for s in members.iter().filter_map(|o| o.synthetic_source.as_deref()) {
        if !sources.contains(&s) {
            sources.push(s);
        }
    }
    match sources.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        [first, ..] => Some(format!(
            "{} simulated sessions, the first by {first}",
            sources.len()
        )),
    }
}

fn room_lines(outcomes: &[RecordingOutcome]) -> Vec<RoomLine> {
    let mut keys: Vec<(String, Split)> = Vec::new();
    for o in outcomes {
        let k = (o.entry.room.clone(), o.entry.split);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(room, split)| {
            let members: Vec<&RecordingOutcome> = outcomes
                .iter()
                .filter(|o| o.entry.room == room && o.entry.split == split)
                .collect();
            let windows = pooled(&members);
            let m = Metrics::compute(&windows);
            let u = intervals(&members, &m);
            RoomLine {
                recordings: members.len() as u64,
                windows: m.windows,
                labelled_windows: m.labelled_windows,
                accuracy: m.accuracy,
                accuracy_interval: u.as_ref().and_then(|u| u.accuracy),
                within_pm1: m.within_pm1,
                within_pm1_interval: u.as_ref().and_then(|u| u.within_pm1),
                mae: m.mae,
                mae_interval: u.as_ref().and_then(|u| u.mae),
                spearman: m.spearman,
                room,
                split,
            }
        })
        .collect()
}
