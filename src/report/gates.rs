//! Gates: pass/fail thresholds on the metrics, by default RuView's ADR-103 v0.1.0 targets.
//!
//! A gate that cannot be evaluated (no labels, Spearman undefined) is not met and says why; a gate met only
//! because the labels make it trivial (within ±1 when the labels span two adjacent classes or fewer) is
//! reported as "met only trivially" and does not count as passed.

use super::metrics::Metrics;
use super::uncertainty::{Interval, Uncertainty};
use serde::Serialize;

/// Which side of the target passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// measured ≥ target
    AtLeast,
    /// measured ≤ target
    AtMost,
}

/// The metrics a gate can be set on. Serialised as the metric's name in the JSON report (`within_pm1`,
/// `mae`, `spearman`, `accuracy`, `ece`, `brier`): stable names, as in `--gate NAME=VALUE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateMetric {
    /// Accuracy within ±1 person.
    WithinPm1,
    /// Mean absolute error.
    Mae,
    /// Spearman(confidence, correct).
    Spearman,
    /// Exact accuracy.
    Accuracy,
    /// Expected calibration error.
    Ece,
    /// Brier score.
    Brier,
}

impl GateMetric {
    /// Every metric, in the order `--gate`'s error lists them.
    pub const ALL: [GateMetric; 6] = [
        GateMetric::WithinPm1,
        GateMetric::Mae,
        GateMetric::Spearman,
        GateMetric::Accuracy,
        GateMetric::Ece,
        GateMetric::Brier,
    ];

    /// The stable name (the JSON report's key and `--gate`'s NAME).
    pub fn name(self) -> &'static str {
        match self {
            GateMetric::WithinPm1 => "within_pm1",
            GateMetric::Mae => "mae",
            GateMetric::Spearman => "spearman",
            GateMetric::Accuracy => "accuracy",
            GateMetric::Ece => "ece",
            GateMetric::Brier => "brier",
        }
    }

    /// Which side passes: errors at most, the rest at least.
    pub fn direction(self) -> Direction {
        match self {
            GateMetric::Mae | GateMetric::Ece | GateMetric::Brier => Direction::AtMost,
            _ => Direction::AtLeast,
        }
    }

    /// The metric's value in a replay's metrics.
    pub fn measured(self, m: &Metrics) -> Option<f64> {
        match self {
            GateMetric::WithinPm1 => m.within_pm1,
            GateMetric::Mae => m.mae,
            GateMetric::Spearman => m.spearman,
            GateMetric::Accuracy => m.accuracy,
            GateMetric::Ece => m.ece,
            GateMetric::Brier => m.brier,
        }
    }
}

impl std::fmt::Display for GateMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a `--gate` or `--targets` value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GateError {
    /// Not `NAME=VALUE`.
    #[error("gate {0:?} is not NAME=VALUE")]
    NotNameValue(String),
    /// No such metric.
    #[error("unknown gate {name:?}: known gates are {}", GateMetric::ALL.map(GateMetric::name).join(", "))]
    UnknownGate {
        /// The name given.
        name: String,
    },
    /// The value is not a finite number.
    #[error("gate {metric}: {value:?} is not a number")]
    NotANumber {
        /// The metric.
        metric: GateMetric,
        /// The value given.
        value: String,
    },
    /// No such ADR-103 column.
    #[error("unknown ADR-103 targets {0:?}: use v0.1.0 or v0.2.0")]
    UnknownTargets(String),
}

impl std::str::FromStr for GateMetric {
    type Err = GateError;
    fn from_str(s: &str) -> Result<Self, GateError> {
        GateMetric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| GateError::UnknownGate {
                name: s.to_string(),
            })
    }
}

/// A gate definition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gate {
    /// The metric (serialised as its name).
    pub name: GateMetric,
    /// Which side passes.
    pub direction: Direction,
    /// The threshold.
    pub target: f64,
}

/// Outcome of one gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The threshold is met.
    Met,
    /// The threshold is not met.
    NotMet,
    /// The measured value meets the threshold, but its 95 % interval lies on both sides of it: the
    /// recording cannot tell whether the model meets it. Counts as passed (ADR-103's gates are on the
    /// measured value), with a `gate-uncertain` finding.
    MetButUncertain,
    /// The measured value misses the threshold, but its 95 % interval reaches past it.
    NotMetButUncertain,
    /// Met, but only because the labels make it trivial; does not count as passed.
    MetOnlyTrivially,
    /// Could not be evaluated; does not count as passed.
    NotEvaluated,
}

impl Status {
    /// The word used in the human table.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "NOT MET",
            Status::MetButUncertain => "met, but the 95 % interval crosses the target",
            Status::NotMetButUncertain => "NOT MET, and the 95 % interval crosses the target",
            Status::MetOnlyTrivially => "met only trivially",
            Status::NotEvaluated => "NOT MET (not evaluable)",
        }
    }
}

/// A gate with its measurement and verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateResult {
    /// The metric (serialised as its name).
    pub name: GateMetric,
    /// Which side passes.
    pub direction: Direction,
    /// The threshold.
    pub target: f64,
    /// The measured value, if any.
    pub measured: Option<f64>,
    /// Its 95 % interval, if any.
    pub interval: Option<Interval>,
    /// The verdict.
    pub status: Status,
    /// Why, when not simply met / not met.
    pub note: Option<String>,
}

impl GateResult {
    /// Whether this gate counts as passed: [`Status::Met`], or met with an interval that crosses the
    /// target (ADR-103 judges the measured value; the `gate-uncertain` finding says the rest).
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Met | Status::MetButUncertain)
    }
}

/// An ordered set of gates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateSet {
    /// The gates, in report order.
    pub gates: Vec<Gate>,
}

impl Default for GateSet {
    /// RuView ADR-103 v0.1.0: same-room within ±1 ≥ 0.80, MAE ≤ 0.6, Spearman(confidence, correct) ≥ 0.5.
    fn default() -> Self {
        Self::adr103(Targets::V010, false)
    }
}

/// Which ADR-103 column to hold a replay to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// v0.1.0: within ±1 ≥ 80 % same-room (≥ 60 % cross-room), MAE ≤ 0.6, Spearman ≥ 0.5.
    V010,
    /// v0.2.0: within ±1 ≥ 90 % same-room (≥ 75 % cross-room), MAE ≤ 0.4, Spearman ≥ 0.7.
    V020,
}

impl std::str::FromStr for Targets {
    type Err = GateError;
    fn from_str(s: &str) -> Result<Self, GateError> {
        match s.trim_start_matches('v') {
            "0.1.0" | "0.1" => Ok(Targets::V010),
            "0.2.0" | "0.2" => Ok(Targets::V020),
            _ => Err(GateError::UnknownTargets(s.to_string())),
        }
    }
}

impl GateSet {
    /// RuView's ADR-103 gates for a version, same-room or cross-room (which only changes within ±1). The
    /// latency and binary-size gates are about a Raspberry Pi build, not a recording, and are not here.
    pub fn adr103(targets: Targets, cross_room: bool) -> Self {
        let (same, cross, mae, rho) = match targets {
            Targets::V010 => (0.80, 0.60, 0.6, 0.5),
            Targets::V020 => (0.90, 0.75, 0.4, 0.7),
        };
        let g = |name: GateMetric, target| Gate {
            name,
            direction: name.direction(),
            target,
        };
        Self {
            gates: vec![
                g(GateMetric::WithinPm1, if cross_room { cross } else { same }),
                g(GateMetric::Mae, mae),
                g(GateMetric::Spearman, rho),
            ],
        }
    }

    /// ADR-103's gates with the user's `NAME=VALUE` overrides applied in order: what every shell's
    /// `--gate` (and the component's `extra-gates`) means.
    pub fn adr103_with<S: AsRef<str>>(
        targets: Targets,
        cross_room: bool,
        overrides: &[S],
    ) -> Result<Self, GateError> {
        let mut set = Self::adr103(targets, cross_room);
        for spec in overrides {
            set.set(spec.as_ref())?;
        }
        Ok(set)
    }

    /// Set (or add) a gate from `NAME=VALUE`; the direction follows the metric (MAE, ECE, Brier: at most).
    pub fn set(&mut self, spec: &str) -> Result<(), GateError> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| GateError::NotNameValue(spec.to_string()))?;
        let name: GateMetric = name.trim().parse()?;
        let target: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| GateError::NotANumber {
                metric: name,
                value: value.to_string(),
            })?;
        match self.gates.iter_mut().find(|g| g.name == name) {
            Some(g) => g.target = target,
            None => self.gates.push(Gate {
                name,
                direction: name.direction(),
                target,
            }),
        }
        Ok(())
    }

    /// The current value of a spec'd threshold, e.g. for findings that refer to the Spearman gate.
    pub fn target(&self, name: GateMetric) -> Option<f64> {
        self.gates.iter().find(|g| g.name == name).map(|g| g.target)
    }

    /// Evaluate every gate against the metrics. `within_trivial` marks within ±1 as trivial;
    /// `uncertainty` supplies the intervals that can make a verdict uncertain.
    pub fn evaluate(
        &self,
        m: &Metrics,
        within_trivial: bool,
        uncertainty: Option<&Uncertainty>,
    ) -> Vec<GateResult> {
        self.gates
            .iter()
            .map(|g| {
                let measured = g.name.measured(m);
                let interval = uncertainty.and_then(|u| u.of_metric(g.name));
                let unsure = interval.is_some_and(|i| i.straddles(g.target));
                let (status, note) = match measured {
                    None if m.labelled_windows == 0 => (Status::NotEvaluated, Some("the recording has no labels".to_string())),
                    None if g.name == GateMetric::Spearman => (
                        Status::NotEvaluated,
                        Some(format!("Spearman is undefined: {}", m.spearman_undefined.as_ref().map_or("", |u| u.explain()))),
                    ),
                    None => (Status::NotEvaluated, Some("not measured".to_string())),
                    Some(v) => {
                        let ok = match g.direction {
                            Direction::AtLeast => v >= g.target,
                            Direction::AtMost => v <= g.target,
                        };
                        match (ok, g.name == GateMetric::WithinPm1 && within_trivial) {
                            (true, true) => (
                                Status::MetOnlyTrivially,
                                Some("the labels span two adjacent classes or fewer, so within ±1 says nothing".to_string()),
                            ),
                            (true, false) if unsure => (Status::MetButUncertain, None),
                            (true, false) => (Status::Met, None),
                            (false, _) if unsure => (Status::NotMetButUncertain, None),
                            (false, _) => (Status::NotMet, None),
                        }
                    }
                };
                GateResult { name: g.name, direction: g.direction, target: g.target, measured, interval, status, note }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(set: &GateSet, metric: GateMetric) -> Option<f64> {
        set.gates
            .iter()
            .find(|g| g.name == metric)
            .map(|g| g.target)
    }

    #[test]
    fn overrides_apply_in_order_over_the_split_s_targets() {
        let cross =
            GateSet::adr103_with(Targets::V010, true, &["within_pm1=0.5", "mae=0.9"]).unwrap();
        assert_eq!(target(&cross, GateMetric::WithinPm1), Some(0.5));
        assert_eq!(target(&cross, GateMetric::Mae), Some(0.9));
        assert_eq!(target(&cross, GateMetric::Spearman), Some(0.5));
        let same = GateSet::adr103_with::<&str>(Targets::V020, false, &[]).unwrap();
        assert_eq!(target(&same, GateMetric::WithinPm1), Some(0.90));
        let last = GateSet::adr103_with(Targets::V010, false, &["mae=0.3", "mae=0.2"]).unwrap();
        assert_eq!(target(&last, GateMetric::Mae), Some(0.2));
        assert!(matches!(
            GateSet::adr103_with(Targets::V010, false, &["mae"]),
            Err(GateError::NotNameValue(_))
        ));
    }
}
