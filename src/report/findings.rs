//! Findings: the honest read RuView wrote by hand in its benchmark log, produced automatically.
//!
//! Each finding has a stable `code` (scripts and tests match on it; never rename one) and a sentence with the
//! numbers behind it.

use super::gates::{GateMetric, GateResult, Status};
use super::metrics::Metrics;
use super::uncertainty::Uncertainty;
use serde::Serialize;

/// Fewer labelled windows than this and the metrics are too noisy to trust (the 95 % interval of an
/// accuracy near 50 % is then wider than ±10 points).
pub const MIN_TRUSTED_WINDOWS: u64 = 100;
/// One predicted class taking at least this share of all predictions is a collapse.
pub const COLLAPSE_SHARE: f64 = 0.95;
/// Expected calibration error above this is reported.
pub const ECE_WARN: f64 = 0.10;
/// Labelled windows worth fewer independent ones than this are reported (`few-independent-windows`).
pub const MIN_INDEPENDENT_WINDOWS: f64 = 30.0;

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Context the reader needs.
    Info,
    /// A number that looks better than what it measures, or a real weakness.
    Warning,
}

/// The stable code of a finding: serialised as its kebab-case name (`within-pm1-trivial`, …), which
/// scripts and tests match on. Never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCode {
    /// Windows were simulated, not measured.
    SyntheticRecording,
    /// A corrupt or truncated gzip stream ended reading early.
    InputCutShort,
    /// A model without normalisation fed input far from zero-mean/unit-scale.
    InputNotNormalised,
    /// The recording sits far from the statistics the model carries.
    InputDistributionShift,
    /// Lines could not be read and were skipped.
    SkippedLines,
    /// No usable window at all.
    NoWindows,
    /// No window has ground truth.
    NoLabels,
    /// Only some windows have ground truth.
    PartlyLabelled,
    /// One class takes almost every prediction.
    PredictionCollapse,
    /// Too few labelled windows to trust the numbers.
    TooFewWindows,
    /// Within ±1 is trivial for these labels.
    WithinPm1Trivial,
    /// Accuracy is not above always answering the majority class.
    BelowMajorityBaseline,
    /// A class with support is never predicted right.
    ClassNeverRight,
    /// The confidence does not rank right above wrong.
    SpearmanBelowGate,
    /// Spearman(confidence, correct) cannot be computed.
    SpearmanUndefined,
    /// The confidence is not a probability of being right.
    ConfidenceMiscalibrated,
    /// Consecutive windows are so alike that the labelled ones are worth few independent samples.
    FewIndependentWindows,
    /// A gate's verdict holds for the measured value, but its 95 % interval lies on both sides of the
    /// target.
    GateUncertain,
    /// Two models compared: the accuracy difference's 95 % interval excludes 0.
    DifferenceSignificant,
    /// Two models compared: the accuracy difference's 95 % interval includes 0.
    DifferenceNotSignificant,
    /// An evaluation's manifest has no recording in one of ADR-103's splits: its gates are not evaluated.
    SplitMissing,
    /// An evaluation's manifest lists a room in both splits: "cross-room" then means nothing.
    RoomInBothSplits,
    /// An evaluation's cross-room split holds a single room: how the model carries to new rooms is judged
    /// on one room.
    OneCrossRoom,
}

impl FindingCode {
    /// The stable code as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::SyntheticRecording => "synthetic-recording",
            FindingCode::InputCutShort => "input-cut-short",
            FindingCode::InputNotNormalised => "input-not-normalised",
            FindingCode::InputDistributionShift => "input-distribution-shift",
            FindingCode::SkippedLines => "skipped-lines",
            FindingCode::NoWindows => "no-windows",
            FindingCode::NoLabels => "no-labels",
            FindingCode::PartlyLabelled => "partly-labelled",
            FindingCode::PredictionCollapse => "prediction-collapse",
            FindingCode::TooFewWindows => "too-few-windows",
            FindingCode::WithinPm1Trivial => "within-pm1-trivial",
            FindingCode::BelowMajorityBaseline => "below-majority-baseline",
            FindingCode::ClassNeverRight => "class-never-right",
            FindingCode::SpearmanBelowGate => "spearman-below-gate",
            FindingCode::SpearmanUndefined => "spearman-undefined",
            FindingCode::ConfidenceMiscalibrated => "confidence-miscalibrated",
            FindingCode::FewIndependentWindows => "few-independent-windows",
            FindingCode::GateUncertain => "gate-uncertain",
            FindingCode::DifferenceSignificant => "difference-significant",
            FindingCode::DifferenceNotSignificant => "difference-not-significant",
            FindingCode::SplitMissing => "split-missing",
            FindingCode::RoomInBothSplits => "room-in-both-splits",
            FindingCode::OneCrossRoom => "one-cross-room",
        }
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `within-pm1-trivial`.
    pub code: FindingCode,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence, with the numbers.
    pub message: String,
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Whether within ±1 is trivial: the labels span two adjacent classes or fewer.
pub fn within_pm1_is_trivial(m: &Metrics) -> bool {
    matches!(m.label_range, Some((lo, hi)) if hi - lo <= 1)
}

/// What must be said about the input before any number: synthetic data, a stream cut short.
pub fn input_findings(d: &crate::replay::Diagnostics, windows: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    if d.synthetic_windows > 0 {
        let how = d.synthetic_source.as_deref().unwrap_or("a simulator");
        out.push(Finding {
            code: FindingCode::SyntheticRecording,
            severity: Severity::Info,
            message: format!(
                "SYNTHETIC: {} of {windows} windows were generated ({how}), not measured; the numbers say how the model does on simulated rooms, not on real ones",
                d.synthetic_windows
            ),
        });
    }
    if let Some(e) = &d.stream_error {
        out.push(Finding {
            code: FindingCode::InputCutShort,
            severity: Severity::Warning,
            message: format!("{e}; the {windows} window(s) read before that point were replayed"),
        });
    }
    out
}

/// What must be said about the scale of the input: a model with no normalisation fed input far from
/// zero-mean/unit-scale (`input-not-normalised`), or a model with statistics fed a recording distributed
/// unlike them (`input-distribution-shift`). The rules are [`crate::input`]'s constants:
///
/// - not normalised: the median over subcarriers of |mean| > 2, or the median std outside [1/3, 3];
/// - shift (only against statistics the model carries or the user gave, never the recording's own): more
///   than 25 % of subcarriers have a mean more than 1 model std away from the model's mean, or a std more
///   than 2× larger or smaller than the model's.
pub fn input_scale_findings(
    input: Option<&crate::input::InputSummary>,
    calibration: &crate::model::Calibration,
) -> Vec<Finding> {
    use crate::input::SHIFT_SHARE;
    use crate::model::Source;
    let Some(input) = input else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match &calibration.normalisation {
        None if input.far_from_unit_scale() => {
            out.push(Finding {
                code: FindingCode::InputNotNormalised,
                severity: Severity::Warning,
                message: format!(
                    "the model carries no input normalisation and was fed values far from zero-mean, unit-scale (median per-subcarrier |mean| {:.3}, median std {:.3}, range {} to {}); a model trained on z-scored input, as RuView trained CountNet, may then output numbers that mean nothing: replay with --normalise recording, or use a model that carries its statistics",
                    input.median_abs_mean(),
                    input.median_std(),
                    input.min,
                    input.max
                ),
            });
        }
        Some(n) if calibration.normalisation_source != Source::Recording => {
            let shifted = input.shifted_subcarriers(n);
            if shifted as f64 > SHIFT_SHARE * crate::N_SUBCARRIERS as f64 {
                out.push(Finding {
                    code: FindingCode::InputDistributionShift,
                    severity: Severity::Warning,
                    message: format!(
                        "{shifted} of {} subcarriers sit far from the model's own statistics (mean moved by more than 1 of its std, or std off by more than 2×): this recording is not distributed like the data the model was normalised for, so its numbers may not carry over",
                        crate::N_SUBCARRIERS
                    ),
                });
            }
        }
        _ => {}
    }
    out
}

/// Everything worth saying about a replay's metrics. `spearman_gate` is the Spearman target in force;
/// `uncertainty` the intervals, when there are labels.
pub fn findings(
    m: &Metrics,
    skipped_lines: u64,
    spearman_gate: Option<f64>,
    uncertainty: Option<&Uncertainty>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |code, severity, message: String| {
        out.push(Finding {
            code,
            severity,
            message,
        })
    };
    if skipped_lines > 0 {
        add(FindingCode::SkippedLines, Severity::Warning, format!("{skipped_lines} line(s) could not be read and were skipped; the numbers cover the other {} window(s)", m.windows));
    }
    if m.windows == 0 {
        add(
            FindingCode::NoWindows,
            Severity::Warning,
            "the recording has no usable window".into(),
        );
        return out;
    }
    if m.labelled_windows == 0 {
        add(FindingCode::NoLabels, Severity::Info, format!("none of the {} windows has n_persons_mode: they are replayed, and accuracy, MAE, Spearman and the gates cannot be computed", m.windows));
    } else if m.labelled_windows < m.windows {
        add(
            FindingCode::PartlyLabelled,
            Severity::Info,
            format!(
                "{} of {} windows are labelled; truth-based metrics use those only",
                m.labelled_windows, m.windows
            ),
        );
    }
    if let Some((c, n)) = m
        .per_class
        .iter()
        .map(|c| (c.class, c.predicted))
        .max_by_key(|&(c, n)| (n, std::cmp::Reverse(c)))
    {
        let share = n as f64 / m.windows as f64;
        if share >= COLLAPSE_SHARE {
            add(FindingCode::PredictionCollapse, Severity::Warning, format!("the model predicts {c} for {} of the windows ({n} of {}): it has collapsed onto one class", pct(share), m.windows));
        }
    }
    if m.labelled_windows == 0 {
        return out;
    }
    let accuracy_interval = uncertainty.and_then(|u| u.accuracy);
    if m.labelled_windows < MIN_TRUSTED_WINDOWS {
        let how_sure = match accuracy_interval {
            Some(i) => format!(
                "accuracy's 95 % interval is {} to {}",
                pct(i.low),
                pct(i.high)
            ),
            None => "accuracy is uncertain".to_string(),
        };
        add(
            FindingCode::TooFewWindows,
            Severity::Warning,
            format!(
                "only {} labelled windows (fewer than {MIN_TRUSTED_WINDOWS}): {how_sure}",
                m.labelled_windows
            ),
        );
    }
    if let Some(u) = uncertainty.filter(|u| u.effective_windows < MIN_INDEPENDENT_WINDOWS) {
        let interval = accuracy_interval
            .map(|i| {
                format!(
                    " (accuracy's 95 % interval: {} to {})",
                    pct(i.low),
                    pct(i.high)
                )
            })
            .unwrap_or_default();
        add(FindingCode::FewIndependentWindows, Severity::Warning, format!("consecutive windows are so alike that the {} labelled windows are worth about {:.1} independent ones (fewer than {MIN_INDEPENDENT_WINDOWS}){interval}: the recording holds few distinct situations, and every number above is that uncertain", m.labelled_windows, u.effective_windows));
    }
    if let (true, Some((lo, hi)), Some(w)) = (within_pm1_is_trivial(m), m.label_range, m.within_pm1)
    {
        let (span, answer) = if lo == hi {
            (format!("only class {lo}"), format!("{lo}"))
        } else {
            (
                format!("only classes {lo} and {hi}"),
                format!("{lo} or {hi}"),
            )
        };
        add(FindingCode::WithinPm1Trivial, Severity::Warning, format!("within ±1 = {} is trivial: the labels span {span}, so always answering {answer} scores 100 %", pct(w)));
    }
    if let (Some(acc), Some(base), Some(c)) = (m.accuracy, m.majority_baseline, m.majority_class) {
        if acc <= base + 1e-12 {
            add(FindingCode::BelowMajorityBaseline, Severity::Warning, format!("accuracy {} is not above the majority-class baseline {} (always answering {c})", pct(acc), pct(base)));
        }
    }
    for c in m
        .per_class
        .iter()
        .filter(|c| c.support > 0 && c.correct == 0)
    {
        add(
            FindingCode::ClassNeverRight,
            Severity::Warning,
            format!(
                "class {}: 0 of {} windows predicted right (0 %)",
                c.class, c.support
            ),
        );
    }
    match (m.spearman, &m.spearman_undefined, spearman_gate) {
        (Some(rho), _, Some(gate)) if rho < gate => add(FindingCode::SpearmanBelowGate, Severity::Warning, format!("Spearman(confidence, correct) = {rho:.3} is below its gate {gate}: the confidence does not tell right from wrong")),
        (None, Some(why), _) => add(FindingCode::SpearmanUndefined, Severity::Warning, format!("Spearman(confidence, correct) is undefined: {}", why.explain())),
        _ => {}
    }
    if let Some(ece) = m.ece.filter(|&e| e > ECE_WARN) {
        add(FindingCode::ConfidenceMiscalibrated, Severity::Warning, format!("expected calibration error {ece:.3} (10 bins) is above {ECE_WARN}: the confidence is not a probability of being right"));
    }
    out
}

/// What must be said about gate verdicts the intervals cannot back: one `gate-uncertain` finding per gate
/// whose 95 % interval lies on both sides of its target.
pub fn gate_findings(gates: &[GateResult]) -> Vec<Finding> {
    gates
        .iter()
        .filter(|g| matches!(g.status, Status::MetButUncertain | Status::NotMetButUncertain))
        .filter_map(|g| {
            let (v, i) = (g.measured?, g.interval?);
            let show = |x: f64| match g.name {
                GateMetric::WithinPm1 | GateMetric::Accuracy => pct(x),
                _ => format!("{x:.3}"),
            };
            let verdict = if g.passed() { "meets" } else { "misses" };
            Some(Finding {
                code: FindingCode::GateUncertain,
                severity: Severity::Warning,
                message: format!(
                    "gate {}: the measured {} {verdict} the target {}, but its 95 % interval {} to {} lies on both sides of it: these windows cannot tell whether the model meets the gate",
                    g.name,
                    show(v),
                    show(g.target),
                    show(i.low),
                    show(i.high)
                ),
            })
        })
        .collect()
}
