//! The human form of a report: the tables RuView's benchmark log has, ending with the comparison to the
//! ADR-103 targets.

use super::gates::{Direction, GateMetric};
use super::Report;
use crate::N_CLASSES;
use std::fmt::Write;

/// A share as `54.0 %`, `—` when absent.
pub(crate) fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

/// A number to three places, `—` when absent.
pub(crate) fn num(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{v:.3}"))
}

/// `[low, high]` in the metric's format, or `—`.
pub(crate) fn interval(i: Option<super::Interval>, show: fn(Option<f64>) -> String) -> String {
    i.map_or("—".into(), |i| {
        format!("{} to {}", show(Some(i.low)), show(Some(i.high)))
    })
}

fn gate_value(name: GateMetric, v: Option<f64>) -> String {
    match name {
        GateMetric::WithinPm1 | GateMetric::Accuracy => pct(v),
        _ => num(v),
    }
}

fn gate_label(name: GateMetric) -> &'static str {
    match name {
        GateMetric::WithinPm1 => "accuracy within ±1",
        GateMetric::Mae => "MAE",
        GateMetric::Spearman => "Spearman(confidence, correct)",
        GateMetric::Accuracy => "accuracy",
        GateMetric::Ece => "ECE (10 bins)",
        GateMetric::Brier => "Brier score",
    }
}

impl Report {
    /// Render as text tables for a terminal or a log.
    pub fn to_text(&self) -> String {
        let m = &self.metrics;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "countscope report: {} windows ({} labelled), {} skipped line(s)",
            m.windows, m.labelled_windows, self.skipped_lines
        );
        if self.recording.synthetic_windows > 0 {
            let _ = writeln!(
                s,
                "SYNTHETIC recording: {} of {} windows simulated ({})",
                self.recording.synthetic_windows,
                m.windows,
                self.recording
                    .synthetic_source
                    .as_deref()
                    .unwrap_or("a simulator")
            );
        }
        if let Some(e) = &self.recording.stream_error {
            let _ = writeln!(s, "input cut short: {e}");
        }
        let _ = writeln!(
            s,
            "model: {}, {} parameters, batch {}",
            self.model.producer, self.model.parameters, self.model.batch_size
        );
        if self.model.weights.len() > 1 {
            let from: Vec<String> = self
                .model
                .weights
                .iter()
                .map(|w| format!("{} tensor(s) from {}", w.tensors.len(), w.file))
                .collect();
            let _ = writeln!(s, "weights: {}", from.join(", "));
        }
        let _ = writeln!(s, "calibration: {}", self.calibration.description);
        if let Some(input) = &self.input {
            let _ = writeln!(s, "{}", input.description);
        }
        if let Some(f) = &self.recording.framing {
            let _ = writeln!(s, "{}", f.describe());
        }
        let _ = writeln!(s, "{}", self.layout.description);
        for e in self.bad_lines.iter().take(10) {
            let _ = writeln!(s, "  skipped {e}");
        }
        if self.skipped_lines > 10 {
            let _ = writeln!(
                s,
                "  … and {} more skipped line(s)",
                self.skipped_lines - 10
            );
        }
        metrics_table(&mut s, m, self.uncertainty.as_ref());

        let _ = writeln!(
            s,
            "\n| class | support | correct | accuracy | predicted |\n|---|---|---|---|---|"
        );
        for c in m
            .per_class
            .iter()
            .filter(|c| c.support > 0 || c.predicted > 0)
        {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                c.class,
                c.support,
                c.correct,
                pct(c.accuracy),
                c.predicted
            );
        }
        if m.labelled_windows > 0 {
            let _ = writeln!(s, "\nconfusion (rows: truth, columns: predicted)");
            let _ = writeln!(
                s,
                "     {}",
                (0..N_CLASSES)
                    .map(|c| format!("{c:>6}"))
                    .collect::<String>()
            );
            for (t, row) in m
                .confusion
                .iter()
                .enumerate()
                .filter(|(t, _)| m.per_class[*t].support > 0)
            {
                let _ = writeln!(
                    s,
                    "  {t}  {}",
                    row.iter().map(|v| format!("{v:>6}")).collect::<String>()
                );
            }
        }
        findings_list(&mut s, &self.findings);
        gate_table(&mut s, &self.gates);
        let _ = writeln!(
            s,
            "\ngates: {}",
            if self.gates_passed {
                "all met"
            } else {
                "NOT all met"
            }
        );
        s
    }
}

/// The headline metrics with their intervals, and how the intervals were made.
pub(crate) fn metrics_table(s: &mut String, m: &super::Metrics, u: Option<&super::Uncertainty>) {
    let baseline = match (m.majority_baseline, m.majority_class) {
        (Some(b), Some(c)) => {
            format!("   (majority-class baseline {}: always {c})", pct(Some(b)))
        }
        _ => String::new(),
    };
    let rho = match (&m.spearman, &m.spearman_undefined) {
        (Some(r), _) => format!("{r:.3}"),
        (None, Some(why)) => format!("undefined ({})", why.explain()),
        _ => "—".into(),
    };
    let iv =
        |f: fn(&super::Uncertainty) -> Option<super::Interval>, show| interval(u.and_then(f), show);
    let _ = writeln!(s, "\n| metric | value | 95 % interval |\n|---|---|---|");
    let _ = writeln!(
        s,
        "| accuracy | {}{baseline} | {} |",
        pct(m.accuracy),
        iv(|u| u.accuracy, pct)
    );
    let _ = writeln!(
        s,
        "| accuracy within ±1 | {} | {} |",
        pct(m.within_pm1),
        iv(|u| u.within_pm1, pct)
    );
    let _ = writeln!(s, "| MAE | {} | {} |", num(m.mae), iv(|u| u.mae, num));
    let _ = writeln!(
        s,
        "| Spearman(confidence, correct) | {rho} | {} |",
        iv(|u| u.spearman, num)
    );
    let _ = writeln!(
        s,
        "| Brier score | {} | {} |",
        num(m.brier),
        iv(|u| u.brier, num)
    );
    let _ = writeln!(
        s,
        "| ECE (10 bins) | {} | {} |",
        num(m.ece),
        iv(|u| u.ece, num)
    );
    if let Some(u) = u {
        let _ = writeln!(s, "\n{}", u.description);
    }
}

/// `findings` and one line per finding, nothing when there is none.
pub(crate) fn findings_list(s: &mut String, findings: &[super::Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nfindings");
    for f in findings {
        let _ = writeln!(
            s,
            "  [{}] {}: {}",
            serde_json::to_value(f.severity)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            f.code,
            f.message
        );
    }
}

/// The gates against their targets.
pub(crate) fn gate_table(s: &mut String, gates: &[super::GateResult]) {
    let _ = writeln!(s, "\nComparison to ADR-103 targets\n\n| gate | target | measured | 95 % interval | status |\n|---|---|---|---|---|");
    for g in gates {
        let op = if g.direction == Direction::AtLeast {
            "≥"
        } else {
            "≤"
        };
        let target = gate_value(g.name, Some(g.target));
        let note = g
            .note
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let within = g.interval.map_or("—".into(), |i| {
            format!(
                "{} to {}",
                gate_value(g.name, Some(i.low)),
                gate_value(g.name, Some(i.high))
            )
        });
        let _ = writeln!(
            s,
            "| {} | {op} {target} | {} | {within} | {}{note} |",
            gate_label(g.name),
            gate_value(g.name, g.measured),
            g.status.label()
        );
    }
}

impl super::Comparison {
    /// Render a comparison as text tables: the two models side by side, the paired tests, per class, and
    /// the agreement of their counts.
    pub fn to_text(&self) -> String {
        use super::compare::Side;
        let [a, b] = &self.models;
        let mut s = String::new();
        let labelled = a.metrics.labelled_windows;
        let _ = writeln!(
            s,
            "countscope compare: A = {}, B = {}; {} windows ({labelled} labelled), counts differ on {}",
            a.name, b.name, self.windows, self.disagreements
        );
        let side = |m: &super::compare::ModelSide,
                    f: fn(&super::Metrics) -> Option<f64>,
                    i: fn(&super::Uncertainty) -> Option<super::Interval>,
                    show: fn(Option<f64>) -> String| {
            format!(
                "{} | {}",
                show(f(&m.metrics)),
                interval(m.uncertainty.as_ref().and_then(i), show)
            )
        };
        let points =
            |x: Option<f64>| x.map_or("—".into(), |v| format!("{:+.1} points", v * 100.0));
        let signed = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:+.3}"));
        let diff = |d: Option<&super::compare::Difference>, show: fn(Option<f64>) -> String| {
            d.map_or("— | —".into(), |d| {
                format!(
                    "{} | {}{}",
                    show(Some(d.a_minus_b)),
                    interval(Some(d.interval), show),
                    if d.significant { " (significant)" } else { "" }
                )
            })
        };
        let p = self.paired.as_ref();
        let _ = writeln!(
            s,
            "\n| metric | A | A 95 % | B | B 95 % | A − B | A − B 95 % |\n|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            s,
            "| accuracy | {} | {} | {} |",
            side(a, |m| m.accuracy, |u| u.accuracy, pct),
            side(b, |m| m.accuracy, |u| u.accuracy, pct),
            diff(p.map(|p| &p.accuracy), points)
        );
        let _ = writeln!(
            s,
            "| accuracy within ±1 | {} | {} | {} |",
            side(a, |m| m.within_pm1, |u| u.within_pm1, pct),
            side(b, |m| m.within_pm1, |u| u.within_pm1, pct),
            diff(p.map(|p| &p.within_pm1), points)
        );
        let _ = writeln!(
            s,
            "| MAE | {} | {} | {} |",
            side(a, |m| m.mae, |u| u.mae, num),
            side(b, |m| m.mae, |u| u.mae, num),
            diff(p.map(|p| &p.mae), signed)
        );
        for (label, f, i) in [
            (
                "Spearman(confidence, correct)",
                (|m: &super::Metrics| m.spearman) as fn(&super::Metrics) -> Option<f64>,
                (|u: &super::Uncertainty| u.spearman)
                    as fn(&super::Uncertainty) -> Option<super::Interval>,
            ),
            ("Brier score", |m| m.brier, |u| u.brier),
            ("ECE (10 bins)", |m| m.ece, |u| u.ece),
        ] {
            let _ = writeln!(
                s,
                "| {label} | {} | {} | | |",
                side(a, f, i, num),
                side(b, f, i, num)
            );
        }
        if let Some(p) = p {
            let _ = writeln!(
                s,
                "\npaired on {} labelled windows: both right {}, only A right {}, only B right {}, both wrong {}; McNemar's exact p = {:.3e} (takes windows as independent)\n{}",
                p.windows, p.both_right, p.only_a_right, p.only_b_right, p.both_wrong, p.mcnemar_p, p.description
            );
        }
        if !self.per_class.is_empty() {
            let _ = writeln!(
                s,
                "\n| class | support | A right | B right | A − B |\n|---|---|---|---|---|"
            );
            for c in &self.per_class {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    c.class,
                    c.support,
                    c.a_correct,
                    c.b_correct,
                    c.difference
                        .map_or("—".into(), |d| format!("{:+.1} points", d * 100.0))
                );
            }
        }
        let _ = writeln!(s, "\ncounts of A (rows) against B (columns), all windows");
        let used: Vec<usize> = (0..N_CLASSES)
            .filter(|&c| {
                self.agreement[c].iter().any(|&v| v > 0)
                    || self.agreement.iter().any(|row| row[c] > 0)
            })
            .collect();
        let _ = writeln!(
            s,
            "     {}",
            used.iter().map(|c| format!("{c:>6}")).collect::<String>()
        );
        for &r in &used {
            let _ = writeln!(
                s,
                "  {r}  {}",
                used.iter()
                    .map(|&c| format!("{:>6}", self.agreement[r][c]))
                    .collect::<String>()
            );
        }
        if !self.findings.is_empty() {
            let _ = writeln!(s, "\nfindings");
            for f in &self.findings {
                let _ = writeln!(s, "  {}: {}", f.code, f.message);
            }
        }
        let verdict = match self.better {
            Some(Side::A) => format!("A ({}) is better", a.name),
            Some(Side::B) => format!("B ({}) is better", b.name),
            None if p.is_some() => "no significant difference".to_string(),
            None => "not comparable without labels".to_string(),
        };
        let _ = writeln!(s, "\nverdict: {verdict}");
        s
    }
}
