//! The core's report types to the WIT records and back.
//!
//! Both directions, so that `report-json` / `evaluation-json` can serialise a record the host hands back
//! with the core's own `Serialize` (the CLI's JSON, byte for byte), and so that a native test can check the
//! round trip core → record → core loses nothing (`tests` below).

use crate::bindings::exports::countscope::check::types as w;
use countscope::evaluate::{self as ev, Entry, Evaluation, RecordingLine, RoomLine, SplitReport};
use countscope::input::InputSummary;
use countscope::model::calibration::{Calibration, Normalisation, Source};
use countscope::model::{ModelFormat, WeightSource};
use countscope::recording::{Framing, LayoutPolicy, LayoutTally, LineError, NodeFraming};
use countscope::report::findings::{Finding, FindingCode, Severity};
use countscope::report::gates::{Direction, GateMetric, GateResult, Status};
use countscope::report::metrics::{ClassStats, Metrics, ReliabilityBin, SpearmanUndefined};
use countscope::report::uncertainty::{BlockRule, Interval, Uncertainty, METHOD};
use countscope::report::{
    CalibrationReport, InputReport, LayoutReport, ModelSummary, RecordingSummary, Report,
};

/// Core → record.
pub trait ToWit {
    /// The record.
    type Wit;
    /// Convert.
    fn to_wit(&self) -> Self::Wit;
}

/// Record → core.
pub trait FromWit: Sized {
    /// The record.
    type Wit;
    /// Convert.
    fn from_wit(w: Self::Wit) -> Self;
}

macro_rules! enums {
    ($($core:ty => $wit:ty { $($c:ident <=> $w:ident),* $(,)? })*) => {$(
        impl ToWit for $core {
            type Wit = $wit;
            fn to_wit(&self) -> $wit {
                match self { $(<$core>::$c => <$wit>::$w,)* }
            }
        }
        impl FromWit for $core {
            type Wit = $wit;
            fn from_wit(w: $wit) -> Self {
                match w { $(<$wit>::$w => <$core>::$c,)* }
            }
        }
    )*};
}

enums! {
    ev::Split => w::Split { SameRoom <=> SameRoom, CrossRoom <=> CrossRoom }
    LayoutPolicy => w::LayoutPolicy { Labelled <=> Labelled, FrameMajor <=> FrameMajor, AsStored <=> AsStored }
    SpearmanUndefined => w::SpearmanUndefined {
        NoLabels <=> NoLabels, CorrectnessConstant <=> CorrectnessConstant, ConfidenceConstant <=> ConfidenceConstant
    }
    Severity => w::Severity { Info <=> Info, Warning <=> Warning }
    GateMetric => w::GateMetric {
        WithinPm1 <=> WithinPm1, Mae <=> Mae, Spearman <=> Spearman, Accuracy <=> Accuracy, Ece <=> Ece, Brier <=> Brier
    }
    Direction => w::Direction { AtLeast <=> AtLeast, AtMost <=> AtMost }
    Status => w::GateStatus {
        Met <=> Met, NotMet <=> NotMet, MetButUncertain <=> MetButUncertain,
        NotMetButUncertain <=> NotMetButUncertain, MetOnlyTrivially <=> MetOnlyTrivially, NotEvaluated <=> NotEvaluated
    }
    ModelFormat => w::ModelFormat { Onnx <=> Onnx, Safetensors <=> Safetensors }
    FindingCode => w::FindingCode {
        SyntheticRecording <=> SyntheticRecording, InputCutShort <=> InputCutShort,
        InputNotNormalised <=> InputNotNormalised, InputDistributionShift <=> InputDistributionShift,
        SkippedLines <=> SkippedLines, NoWindows <=> NoWindows, NoLabels <=> NoLabels,
        PartlyLabelled <=> PartlyLabelled, PredictionCollapse <=> PredictionCollapse,
        TooFewWindows <=> TooFewWindows, WithinPm1Trivial <=> WithinPm1Trivial,
        BelowMajorityBaseline <=> BelowMajorityBaseline, ClassNeverRight <=> ClassNeverRight,
        SpearmanBelowGate <=> SpearmanBelowGate, SpearmanUndefined <=> SpearmanUndefined,
        ConfidenceMiscalibrated <=> ConfidenceMiscalibrated, FewIndependentWindows <=> FewIndependentWindows,
        GateUncertain <=> GateUncertain, DifferenceSignificant <=> DifferenceSignificant,
        DifferenceNotSignificant <=> DifferenceNotSignificant, SplitMissing <=> SplitMissing,
        RoomInBothSplits <=> RoomInBothSplits, OneCrossRoom <=> OneCrossRoom
    }
}

impl<T: ToWit> ToWit for Option<T> {
    type Wit = Option<T::Wit>;
    fn to_wit(&self) -> Self::Wit {
        self.as_ref().map(T::to_wit)
    }
}

impl<T: FromWit> FromWit for Option<T> {
    type Wit = Option<T::Wit>;
    fn from_wit(w: Self::Wit) -> Self {
        w.map(T::from_wit)
    }
}

impl<T: ToWit> ToWit for Vec<T> {
    type Wit = Vec<T::Wit>;
    fn to_wit(&self) -> Self::Wit {
        self.iter().map(T::to_wit).collect()
    }
}

impl<T: FromWit> FromWit for Vec<T> {
    type Wit = Vec<T::Wit>;
    fn from_wit(w: Self::Wit) -> Self {
        w.into_iter().map(T::from_wit).collect()
    }
}

impl ToWit for Source {
    type Wit = w::Source;
    fn to_wit(&self) -> w::Source {
        match self {
            Source::Default => w::Source::Default,
            Source::ModelMetadata => w::Source::ModelMetadata,
            Source::Sidecar(s) => w::Source::Sidecar(s.clone()),
            Source::Explicit => w::Source::Explicit,
            Source::Recording => w::Source::Recording,
        }
    }
}

impl FromWit for Source {
    type Wit = w::Source;
    fn from_wit(w: w::Source) -> Self {
        match w {
            w::Source::Default => Source::Default,
            w::Source::ModelMetadata => Source::ModelMetadata,
            w::Source::Sidecar(s) => Source::Sidecar(s),
            w::Source::Explicit => Source::Explicit,
            w::Source::Recording => Source::Recording,
        }
    }
}

/// Field-by-field records whose fields are the same on both sides (copied, or converted by the traits).
macro_rules! records {
    ($($core:ident => $wit:ident { $($f:ident),* $(,)? })*) => {$(
        impl ToWit for $core {
            type Wit = w::$wit;
            fn to_wit(&self) -> w::$wit {
                w::$wit { $($f: Field::out(&self.$f),)* }
            }
        }
        impl FromWit for $core {
            type Wit = w::$wit;
            fn from_wit(w: w::$wit) -> Self {
                $core { $($f: Field::back(w.$f),)* }
            }
        }
    )*};
}

/// How one field crosses: plain values are copied, the rest go through [`ToWit`] / [`FromWit`].
trait Field<W>: Sized {
    fn out(&self) -> W;
    fn back(w: W) -> Self;
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        impl Field<$t> for $t {
            fn out(&self) -> $t { self.clone() }
            fn back(w: $t) -> Self { w }
        }
        impl Field<Option<$t>> for Option<$t> {
            fn out(&self) -> Option<$t> { self.clone() }
            fn back(w: Option<$t>) -> Self { w }
        }
        impl Field<Vec<$t>> for Vec<$t> {
            fn out(&self) -> Vec<$t> { self.clone() }
            fn back(w: Vec<$t>) -> Self { w }
        }
    )*};
}

plain!(u8, u16, u32, u64, i64, f32, f64, bool, String);

impl<T: ToWit + FromWit<Wit = <T as ToWit>::Wit>> Field<<T as ToWit>::Wit> for T {
    fn out(&self) -> <T as ToWit>::Wit {
        self.to_wit()
    }
    fn back(w: <T as ToWit>::Wit) -> Self {
        T::from_wit(w)
    }
}

records! {
    Interval => Interval { low, high }
    ClassStats => ClassStats { class, support, correct, accuracy, predicted }
    ReliabilityBin => ReliabilityBin { lo, hi, count, mean_confidence, accuracy }
    LineError => LineError { line, reason }
    Finding => Finding { code, severity, message }
    WeightSource => WeightSource { file, tensors }
    Normalisation => Normalisation { mean, std }
    Calibration => Calibration { temperature, temperature_source, normalisation, normalisation_source }
    CalibrationReport => CalibrationReport { calibration, description }
    GateResult => GateResult { name, direction, target, measured, interval, status, note }
    RecordingSummary => RecordingSummary { bytes, gzip, stream_error, synthetic_windows, synthetic_source, framing }
    RecordingLine => RecordingLine {
        path, room, split, manifest_line, windows, labelled_windows, accuracy, within_pm1, mae, skipped_lines,
        bad_lines, synthetic_windows, stream_error, framing, layout, calibration
    }
    SplitReport => SplitReport {
        split, recordings, rooms, metrics, uncertainty, skipped_lines, input, findings, gates, gates_passed
    }
    RoomLine => RoomLine {
        room, split, recordings, windows, labelled_windows, accuracy, accuracy_interval, within_pm1,
        within_pm1_interval, mae, mae_interval, spearman
    }
    Evaluation => Evaluation {
        targets, model, calibration, windows, recordings, splits, rooms, findings, gates_passed
    }
    Entry => ManifestEntry { path, room, split, layout, hop, line }
}

impl ToWit for Metrics {
    type Wit = w::Metrics;
    fn to_wit(&self) -> w::Metrics {
        w::Metrics {
            windows: self.windows,
            labelled_windows: self.labelled_windows,
            accuracy: self.accuracy,
            within_pm1: self.within_pm1,
            mae: self.mae,
            per_class: self.per_class.to_wit(),
            confusion: self.confusion.iter().map(|r| r.to_vec()).collect(),
            spearman: self.spearman,
            spearman_undefined: self.spearman_undefined.to_wit(),
            brier: self.brier,
            ece: self.ece,
            reliability: self.reliability.to_wit(),
            majority_class: self.majority_class,
            majority_baseline: self.majority_baseline,
            label_range: self.label_range,
        }
    }
}

impl FromWit for Metrics {
    type Wit = w::Metrics;
    fn from_wit(w: w::Metrics) -> Self {
        let mut confusion = [[0u64; countscope::N_CLASSES]; countscope::N_CLASSES];
        for (row, r) in confusion.iter_mut().zip(&w.confusion) {
            for (x, v) in row.iter_mut().zip(r) {
                *x = *v;
            }
        }
        Metrics {
            windows: w.windows,
            labelled_windows: w.labelled_windows,
            accuracy: w.accuracy,
            within_pm1: w.within_pm1,
            mae: w.mae,
            per_class: FromWit::from_wit(w.per_class),
            confusion,
            spearman: w.spearman,
            spearman_undefined: FromWit::from_wit(w.spearman_undefined),
            brier: w.brier,
            ece: w.ece,
            reliability: FromWit::from_wit(w.reliability),
            majority_class: w.majority_class,
            majority_baseline: w.majority_baseline,
            label_range: w.label_range,
        }
    }
}

impl ToWit for BlockRule {
    type Wit = w::BlockRule;
    fn to_wit(&self) -> w::BlockRule {
        w::BlockRule {
            windows: self.windows as u64,
            block: self.block as u64,
            tau: self.tau,
            effective_windows: self.effective_windows,
        }
    }
}

impl FromWit for BlockRule {
    type Wit = w::BlockRule;
    fn from_wit(w: w::BlockRule) -> Self {
        BlockRule {
            windows: w.windows as usize,
            block: w.block as usize,
            tau: w.tau,
            effective_windows: w.effective_windows,
        }
    }
}

impl ToWit for Uncertainty {
    type Wit = w::Uncertainty;
    fn to_wit(&self) -> w::Uncertainty {
        w::Uncertainty {
            method: self.method.to_string(),
            resamples: self.resamples as u64,
            seed: self.seed,
            blocks: self.blocks.to_wit(),
            effective_windows: self.effective_windows,
            accuracy: self.accuracy.to_wit(),
            within_pm1: self.within_pm1.to_wit(),
            mae: self.mae.to_wit(),
            spearman: self.spearman.to_wit(),
            brier: self.brier.to_wit(),
            ece: self.ece.to_wit(),
            description: self.description.clone(),
        }
    }
}

impl FromWit for Uncertainty {
    type Wit = w::Uncertainty;
    fn from_wit(w: w::Uncertainty) -> Self {
        Uncertainty {
            // The one method there is; a host cannot make up another.
            method: METHOD,
            resamples: w.resamples as usize,
            seed: w.seed,
            blocks: FromWit::from_wit(w.blocks),
            effective_windows: w.effective_windows,
            accuracy: FromWit::from_wit(w.accuracy),
            within_pm1: FromWit::from_wit(w.within_pm1),
            mae: FromWit::from_wit(w.mae),
            spearman: FromWit::from_wit(w.spearman),
            brier: FromWit::from_wit(w.brier),
            ece: FromWit::from_wit(w.ece),
            description: w.description,
        }
    }
}

impl ToWit for LayoutReport {
    type Wit = w::LayoutReport;
    fn to_wit(&self) -> w::LayoutReport {
        let t = &self.tally;
        w::LayoutReport {
            policy: t.policy.to_wit(),
            labelled_frame_major: t.labelled_20x56,
            labelled_subcarrier_major: t.labelled_56x20,
            unlabelled: t.unlabelled,
            transposed: t.transposed,
            as_stored: t.as_stored,
            nested: t.nested,
            description: self.description.clone(),
        }
    }
}

impl FromWit for LayoutReport {
    type Wit = w::LayoutReport;
    fn from_wit(w: w::LayoutReport) -> Self {
        LayoutReport {
            tally: LayoutTally {
                policy: FromWit::from_wit(w.policy),
                labelled_20x56: w.labelled_frame_major,
                labelled_56x20: w.labelled_subcarrier_major,
                unlabelled: w.unlabelled,
                transposed: w.transposed,
                as_stored: w.as_stored,
                nested: w.nested,
            },
            description: w.description,
        }
    }
}

impl ToWit for ModelSummary {
    type Wit = w::ModelSummary;
    fn to_wit(&self) -> w::ModelSummary {
        w::ModelSummary {
            producer: self.producer.clone(),
            parameters: self.parameters,
            external_files: self.external_files.clone(),
            format: self.format.to_wit(),
            weights: self.weights.to_wit(),
            batch_size: self.batch_size as u32,
            fingerprint: self.fingerprint.clone(),
        }
    }
}

impl FromWit for ModelSummary {
    type Wit = w::ModelSummary;
    fn from_wit(w: w::ModelSummary) -> Self {
        ModelSummary {
            producer: w.producer,
            parameters: w.parameters,
            external_files: w.external_files,
            format: FromWit::from_wit(w.format),
            weights: FromWit::from_wit(w.weights),
            batch_size: w.batch_size as usize,
            fingerprint: w.fingerprint,
        }
    }
}

impl ToWit for InputReport {
    type Wit = w::InputReport;
    fn to_wit(&self) -> w::InputReport {
        w::InputReport {
            windows: self.raw.windows,
            mean: self.raw.mean.clone(),
            std: self.raw.std.clone(),
            min: self.raw.min,
            max: self.raw.max,
            normalised: self.normalised,
            fed_min: self.fed_min,
            fed_max: self.fed_max,
            description: self.description.clone(),
        }
    }
}

impl FromWit for InputReport {
    type Wit = w::InputReport;
    fn from_wit(w: w::InputReport) -> Self {
        InputReport {
            raw: InputSummary {
                windows: w.windows,
                mean: w.mean,
                std: w.std,
                min: w.min,
                max: w.max,
                // Not part of any report (only of the range after normalisation, already in fed_*).
                subcarrier_min: Vec::new(),
                subcarrier_max: Vec::new(),
            },
            normalised: w.normalised,
            fed_min: w.fed_min,
            fed_max: w.fed_max,
            description: w.description,
        }
    }
}

impl ToWit for NodeFraming {
    type Wit = w::NodeFraming;
    fn to_wit(&self) -> w::NodeFraming {
        w::NodeFraming {
            node: self.node,
            frames: self.frames,
            frame_rate: self.frame_rate,
            median_interval: self.median_interval,
            widths: self.widths.iter().map(|(&k, &v)| (k as u32, v)).collect(),
            skipped_width: self.skipped_width,
            duplicates: self.duplicates,
            gaps: self.gaps,
            windows: self.windows,
            left_over: self.left_over,
        }
    }
}

impl FromWit for NodeFraming {
    type Wit = w::NodeFraming;
    fn from_wit(w: w::NodeFraming) -> Self {
        // The framer's own timestamps are not part of a report: only what it reports is set.
        let mut n = NodeFraming::default();
        n.node = w.node;
        n.frames = w.frames;
        n.frame_rate = w.frame_rate;
        n.median_interval = w.median_interval;
        n.widths = w.widths.into_iter().map(|(k, v)| (k as usize, v)).collect();
        n.skipped_width = w.skipped_width;
        n.duplicates = w.duplicates;
        n.gaps = w.gaps;
        n.windows = w.windows;
        n.left_over = w.left_over;
        n
    }
}

impl ToWit for Framing {
    type Wit = w::Framing;
    fn to_wit(&self) -> w::Framing {
        w::Framing {
            hop: self.hop as u32,
            gap_factor: self.gap_factor,
            nodes: self.nodes.to_wit(),
            skipped_types: self
                .skipped_types
                .iter()
                .map(|(k, &v)| (k.clone(), v))
                .collect(),
            description: self.description.clone(),
        }
    }
}

impl FromWit for Framing {
    type Wit = w::Framing;
    fn from_wit(w: w::Framing) -> Self {
        Framing {
            hop: w.hop as usize,
            gap_factor: w.gap_factor,
            nodes: FromWit::from_wit(w.nodes),
            skipped_types: w.skipped_types.into_iter().collect(),
            description: w.description,
        }
    }
}

impl ToWit for Report {
    type Wit = w::Report;
    fn to_wit(&self) -> w::Report {
        w::Report {
            metrics: self.metrics.to_wit(),
            uncertainty: self.uncertainty.to_wit(),
            skipped_lines: self.skipped_lines,
            bad_lines: self.bad_lines.to_wit(),
            findings: self.findings.to_wit(),
            gates: self.gates.to_wit(),
            gates_passed: self.gates_passed,
            layout: self.layout.to_wit(),
            calibration: self.calibration.to_wit(),
            model: self.model.to_wit(),
            input: self.input.to_wit(),
            recording: self.recording.to_wit(),
        }
    }
}

impl FromWit for Report {
    type Wit = w::Report;
    fn from_wit(w: w::Report) -> Self {
        Report {
            metrics: FromWit::from_wit(w.metrics),
            uncertainty: FromWit::from_wit(w.uncertainty),
            skipped_lines: w.skipped_lines,
            bad_lines: FromWit::from_wit(w.bad_lines),
            findings: FromWit::from_wit(w.findings),
            gates: FromWit::from_wit(w.gates),
            gates_passed: w.gates_passed,
            layout: FromWit::from_wit(w.layout),
            calibration: FromWit::from_wit(w.calibration),
            model: FromWit::from_wit(w.model),
            input: FromWit::from_wit(w.input),
            recording: FromWit::from_wit(w.recording),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The round trip core → record → core keeps every byte of the JSON, for reports that exercise every
    //! optional part: labelled with intervals, unlabelled CSI frames with their framing, a recording's own
    //! normalisation, a sidecar temperature; and an evaluation of the sample manifest.

    use super::*;
    use countscope::evaluate::{EvaluateOptions, Evaluation, Manifest, RecordingOutcome};
    use countscope::model::{CountModel, NoExternalData};
    use countscope::replay::{Outcome, Replay};
    use countscope::report::gates::{GateSet, Targets};
    use std::path::Path;

    fn repo(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
    }

    fn model() -> CountModel {
        let bytes = std::fs::read(repo("artifacts/count_v1.onnx")).unwrap();
        CountModel::load(&bytes, &NoExternalData, None).unwrap()
    }

    fn replay(model: &CountModel, rel: &str, layout: LayoutPolicy, hop: usize) -> Outcome {
        let bytes = std::fs::read(repo(rel)).unwrap();
        let mut r = Replay::new(model, layout, false);
        r.set_hop(hop);
        r.push(&bytes).unwrap();
        r.finish().unwrap()
    }

    fn round_trip_report(report: &Report) {
        let back = Report::from_wit(report.to_wit());
        assert_eq!(
            serde_json::to_string_pretty(report).unwrap(),
            serde_json::to_string_pretty(&back).unwrap()
        );
    }

    #[test]
    fn reports_cross_and_come_back_byte_for_byte() {
        let model = model();
        let gates = GateSet::adr103(Targets::V020, true);
        let labelled = replay(
            &model,
            "artifacts/recordings/room0-legacy-shape-2min.paired.jsonl.gz",
            LayoutPolicy::Labelled,
            20,
        );
        let report = Report::build(&labelled, &model, &gates);
        assert!(report.uncertainty.is_some() && !report.findings.is_empty());
        round_trip_report(&report);
        let frames = replay(
            &model,
            "artifacts/real/rec_1772470567081-20260302_165607.csi.jsonl.gz",
            LayoutPolicy::Labelled,
            1,
        );
        let report = Report::build(&frames, &model, &GateSet::default());
        assert!(report.recording.framing.is_some() && report.uncertainty.is_none());
        round_trip_report(&report);
        // Every source of a calibration: the recording's own statistics, and a sidecar temperature.
        let mut m = model.clone();
        let stats = labelled.input().unwrap();
        m.set_normalisation(stats.normalisation(), Source::Recording);
        let report = Report::build(&labelled, &m, &gates);
        assert_eq!(
            report.calibration.calibration.normalisation_source,
            Source::Recording
        );
        round_trip_report(&report);
        for s in [
            Source::Default,
            Source::ModelMetadata,
            Source::Sidecar("count_v1.temperature".into()),
            Source::Explicit,
            Source::Recording,
        ] {
            assert_eq!(Source::from_wit(s.to_wit()), s);
        }
    }

    #[test]
    fn an_evaluation_crosses_and_comes_back_byte_for_byte() {
        let model = model();
        let text = std::fs::read_to_string(repo("artifacts/recordings/samples.toml")).unwrap();
        let manifest = Manifest::parse(&text).unwrap();
        let outcomes: Vec<RecordingOutcome> = manifest
            .recordings
            .iter()
            .map(|e| {
                let o = replay(
                    &model,
                    &format!("artifacts/recordings/{}", e.path),
                    e.layout.unwrap_or_default(),
                    20,
                );
                RecordingOutcome::new(e.clone(), &model, &o)
            })
            .collect();
        let options = EvaluateOptions {
            targets: Targets::V010,
            extra_gates: vec![],
            normalise_per_recording: false,
        };
        let evaluation = Evaluation::build(&model, &outcomes, &options).unwrap();
        let back = Evaluation::from_wit(evaluation.to_wit());
        assert_eq!(
            serde_json::to_string_pretty(&evaluation).unwrap(),
            serde_json::to_string_pretty(&back).unwrap()
        );
        let entries: Vec<ev::Entry> = FromWit::from_wit(manifest.recordings.to_wit());
        assert_eq!(entries, manifest.recordings);
    }
}
