//! The command line itself: argv → core → files, stdout and the exit code.

use crate::{bench, files, output};

use clap::{Parser as ClapParser, Subcommand};
use countscope::input::StatsPass;
use countscope::model::CountModel;
use countscope::replay::{Outcome, Replay};
use countscope::report::gates::Targets;
use countscope::sim::{ShapeLabel, SimConfig, Simulator};
use countscope::{GateSet, LayoutPolicy, Report};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Replay RuView WiFi-CSI recordings against a person-count ONNX model and report what it really does.
#[derive(ClapParser)]
#[command(
    name = "countscope",
    version,
    about,
    after_help = "Exit codes: 0 ok; 1 a gate was not met (report); 2 bad input, model or usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by `replay` and `report`.
#[derive(clap::Args)]
struct ReplayArgs {
    /// The count model: .onnx (external data files are read from its folder), or a CountNet
    /// .safetensors on its own (RuView's `count_v1.safetensors`).
    #[arg(long, short)]
    model: PathBuf,
    /// A safetensors file supplying the ONNX model's external weights whose data file is absent. By
    /// default `<model stem>.safetensors` beside the model is used when a named data file is missing.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// The paired recording (.jsonl), or `-` for standard input.
    recording: PathBuf,
    /// Confidence temperature: a number, or a file holding one (RuView's `*.temperature`). By default the
    /// model's metadata, else a `<model>.temperature` sidecar beside it, else T = 1.
    #[arg(long)]
    temperature: Option<String>,
    #[command(flatten)]
    options: ReplayOptions,
}

/// How a recording is replayed, whatever the model (shared by `replay`, `report`, `compare` and
/// `evaluate`).
#[derive(clap::Args, Clone)]
struct ReplayOptions {
    /// How flat `csi` arrays map to the model's [56][20]: labelled (honour csi_shape), frame-major
    /// (always transpose [20,56]) or as-stored (always feed as stored, RuView's runtime reading).
    #[arg(long, default_value = "labelled")]
    layout: LayoutPolicy,
    /// Stop at the first bad line instead of reporting it and replaying the rest.
    #[arg(long)]
    strict: bool,
    /// Windows per inference call (default: the engine's measured choice).
    #[arg(long)]
    batch: Option<usize>,
    /// Z-score each subcarrier before the model. `recording`: with the recording's own mean and std
    /// (read in a first pass), as RuView's training did with its training set's, for models that carry no
    /// statistics (RuView's own). The report says it was used.
    #[arg(long, value_name = "FROM", value_parser = ["recording"])]
    normalise: Option<String>,
    /// For a CSI frame file (RuView's recorder `*.csi.jsonl`, or raw ESP32 frames): frames between the
    /// starts of windows, 1–20. 20 (default): windows of 20 frames do not overlap; 1: a window after every
    /// frame, as RuView's count cog slides. Windows are framed per node and never span a gap.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=20))]
    hop: u16,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a model: inputs, outputs, opset, parameters, external files, calibration.
    Inspect {
        /// The model (.onnx), or a safetensors file.
        model: PathBuf,
        /// A safetensors file supplying the model's missing external weights (as for `report`).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replay a recording and write one prediction per window.
    Replay {
        #[command(flatten)]
        args: ReplayArgs,
        /// Output format.
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Time inference per window at several batch sizes (median of repeats, with min and max), on
    /// deterministic pseudo-random windows or a recording's, and optionally the parser's throughput. The
    /// same code runs natively and under wasmtime (`cargo xtask bench` runs both, and the peers).
    Bench(bench::Options),
    /// Describe a recording without a model: windows, labels, times, layouts, bad lines, and for a CSI
    /// frame file how its frames frame into windows per node.
    Scan {
        /// The recording (paired, or a CSI frame file; plain or gzip).
        recording: PathBuf,
        /// How flat `csi` arrays map to the model's [56][20] (as `report --layout`).
        #[arg(long, default_value = "labelled")]
        layout: LayoutPolicy,
        /// Frames between window starts in a CSI frame file, 1–20 (as `report --hop`).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=20))]
        hop: u16,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Frame a CSI frame file (RuView's recorder `*.csi.jsonl`, or raw ESP32 frames) into windows as
    /// `replay` does (per node, gaps respected) and write them in RuView's paired format (`csi` frame-major,
    /// `csi_shape` [20,56], `ts_start`/`ts_end`; no labels), which RuView's own tools read.
    Convert {
        /// The CSI frame file (plain or gzip).
        recording: PathBuf,
        /// Frames between window starts, 1–20 (as `replay --hop`).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=20))]
        hop: u16,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write a SYNTHETIC recording in RuView's paired-JSONL format from a physical channel model (rooms,
    /// moving and breathing people, multipath, noise, AGC, dropped frames). Every line is marked synthetic.
    Simulate {
        /// Session seed (people, noise, AGC, timing).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Room number (geometry and radio; the same room for every seed).
        #[arg(long, default_value_t = 0)]
        room: u32,
        /// Session length: seconds, or with a unit (`90s`, `30m`, `24h`).
        #[arg(long, default_value = "30m", value_parser = parse_duration)]
        duration: f64,
        /// CSI frame rate in Hz.
        #[arg(long, default_value_t = 25.0)]
        fps: f64,
        /// People present, `MIN-MAX` (or one number), within 0–7.
        #[arg(long, default_value = "0-7", value_parser = parse_persons)]
        persons: (u8, u8),
        /// Mean seconds between occupancy changes.
        #[arg(long, default_value_t = 45.0)]
        dwell: f64,
        /// Time of the first frame (ISO-8601).
        #[arg(long, default_value = "2026-05-20T14:00:00.000Z")]
        start: String,
        /// Label `csi` with the legacy (pre-#1007) `[56,20]` shape; the data stays frame-major.
        #[arg(long)]
        legacy_shape: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Replay a recording and report metrics, findings and gates.
    Report {
        #[command(flatten)]
        args: ReplayArgs,
        /// Set a gate, e.g. `--gate within_pm1=0.9`, on top of the targets below.
        #[arg(long = "gate", value_name = "NAME=VALUE")]
        gates: Vec<String>,
        /// Which ADR-103 targets: v0.1.0 (within ±1 ≥ 80 %, MAE ≤ 0.6, Spearman ≥ 0.5) or v0.2.0 (≥ 90 %, ≤ 0.4, ≥ 0.7).
        #[arg(long, default_value = "v0.1.0")]
        targets: Targets,
        /// The recording is from a room the model was not trained in: ADR-103's cross-room within ±1
        /// target applies (≥ 60 % for v0.1.0, ≥ 75 % for v0.2.0).
        #[arg(long)]
        cross_room: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// ADR-103 over a set of recordings listed in a manifest (TOML: `[[recording]]` tables with `path`,
    /// `room` and `split` = same-room | cross-room): one line per recording, the metrics pooled per split
    /// over all windows, findings and gates per split (the cross-room within ±1 target on the cross-room
    /// split), and per room. Recordings are replayed in parallel; `--only N --outcome FILE` replays one
    /// (a batch job's share) and `--merge FILE…` pools such files into the same result.
    Evaluate {
        /// The count model (as `report --model`).
        #[arg(long, short)]
        model: PathBuf,
        /// A safetensors file supplying the model's missing external weights (as `report --weights`).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// Confidence temperature (as `report --temperature`).
        #[arg(long)]
        temperature: Option<String>,
        /// The manifest (TOML); its relative paths are relative to its folder.
        manifest: PathBuf,
        #[command(flatten)]
        options: ReplayOptions,
        /// Which ADR-103 targets: v0.1.0 or v0.2.0.
        #[arg(long, default_value = "v0.1.0")]
        targets: Targets,
        /// Set a gate on both splits, e.g. `--gate accuracy=0.5`.
        #[arg(long = "gate", value_name = "NAME=VALUE")]
        gates: Vec<String>,
        /// Replay only the manifest's N-th recording (1-based, as a CI matrix or a Slurm array numbers its
        /// jobs) and write its outcome to `--outcome`.
        #[arg(long, value_name = "N", requires = "outcome", conflicts_with = "merge")]
        only: Option<usize>,
        /// Where `--only` writes the recording's outcome (JSON).
        #[arg(long, value_name = "FILE", requires = "only")]
        outcome: Option<PathBuf>,
        /// Pool these outcome files (one per recording, from `--only` jobs) instead of replaying.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        merge: Vec<PathBuf>,
        /// Recordings replayed at once (default: one per core).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Print the evaluation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay the same recordings against two models and compare them window by window: each one's
    /// numbers with 95 % intervals, McNemar's exact test, a paired block bootstrap of the differences,
    /// per-class differences and the agreement of their counts. Several recordings are pooled.
    Compare {
        /// The two models, `--model A --model B` (each with its own calibration: metadata or sidecar).
        #[arg(long, short, required = true, num_args = 1)]
        model: Vec<PathBuf>,
        /// The paired recordings (.jsonl, .jsonl.gz), the same for both models.
        #[arg(required = true)]
        recordings: Vec<PathBuf>,
        #[command(flatten)]
        options: ReplayOptions,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A failure that ends the run.
pub enum Fatal {
    /// Exit code 2 after printing the message.
    Message(String),
    /// Standard output was closed by its reader (`countscope replay … | head -1`): the run ends quietly
    /// with status 0, the rule users know from ripgrep and every Unix filter.
    OutputClosed,
}

impl Fatal {
    /// What to tell the user.
    pub fn message(&self) -> &str {
        match self {
            Fatal::Message(m) => m,
            Fatal::OutputClosed => "standard output was closed",
        }
    }
}

/// Whether an error is a write to a pipe whose reader is gone.
fn is_broken_pipe(e: &dyn std::any::Any) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == BrokenPipe)
        || e.downcast_ref::<serde_json::Error>()
            .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
}

impl<E: std::fmt::Display + 'static> From<E> for Fatal {
    fn from(e: E) -> Self {
        if is_broken_pipe(&e) {
            Fatal::OutputClosed
        } else {
            Fatal::Message(e.to_string())
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code: u8 = match run(cli) {
        Ok(code) => code,
        Err(Fatal::OutputClosed) => 0,
        Err(Fatal::Message(msg)) => {
            eprintln!("countscope: {msg}");
            2
        }
    };
    exit(code)
}

/// Exit with `code`. On WASI p2 the stable `exit` carries only ok/failed, so codes 1 and 2 go through the
/// `exit-with-code` interface (wasmtime: `-S cli-exit-with-code=y`).
fn exit(code: u8) -> ExitCode {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    if code != 0 {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        wasip2::cli::exit::exit_with_code(code);
    }
    ExitCode::from(code)
}

fn run(cli: Cli) -> Result<u8, Fatal> {
    match cli.command {
        Command::Inspect {
            model,
            weights,
            json,
        } => inspect(&model, weights.as_deref(), json),
        Command::Bench(options) => bench::run(options),
        Command::Convert {
            recording,
            hop,
            output,
        } => convert(&recording, hop as usize, output.as_deref()),
        Command::Scan {
            recording,
            layout,
            hop,
            json,
        } => {
            let mut scan = countscope::recording::scan::Scan::new(layout, hop as usize);
            files::for_each_chunk(&recording, &mut |chunk: &[u8]| {
                scan.push(chunk);
                Ok(())
            })?;
            let result = scan.finish();
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &result)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "recording: {}\n{}",
                    recording.display(),
                    result.describe()
                )?;
            }
            Ok(if result.windows > 0 { 0 } else { 2 })
        }
        Command::Simulate {
            seed,
            room,
            duration,
            fps,
            persons,
            dwell,
            start,
            legacy_shape,
            output,
        } => {
            let start = countscope::time::parse_iso8601(&start).ok_or_else(|| {
                Fatal::Message(format!("--start {start:?} is not an ISO-8601 time"))
            })?;
            let shape_label = if legacy_shape {
                ShapeLabel::Legacy
            } else {
                ShapeLabel::Current
            };
            let cfg = SimConfig {
                seed,
                room,
                duration_s: duration,
                fps,
                min_persons: persons.0,
                max_persons: persons.1,
                mean_dwell_s: dwell,
                start,
                shape_label,
            };
            simulate(cfg, output.as_deref())
        }
        Command::Replay {
            args,
            format,
            output,
        } => {
            let (_, outcome) = replay(&args)?;
            let mut out = create_output(output.as_deref())?;
            let mut out = std::io::BufWriter::new(&mut out);
            match format.as_str() {
                "csv" => output::write_csv(&mut out, &outcome.predictions)?,
                _ => output::write_jsonl(&mut out, &outcome.predictions)?,
            }
            out.flush()?;
            Ok(0)
        }
        Command::Report {
            args,
            gates,
            targets,
            cross_room,
            json,
        } => {
            let gate_set = GateSet::adr103_with(targets, cross_room, &gates)?;
            let (model, outcome) = replay(&args)?;
            let report = Report::build(&outcome, &model, &gate_set);
            let mut stdout = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut stdout, &report)?;
                writeln!(stdout)?;
            } else {
                write!(stdout, "{}", report.to_text())?;
            }
            Ok(if report.gates_passed { 0 } else { 1 })
        }
        Command::Compare {
            model,
            recordings,
            options,
            json,
        } => compare(&model, &recordings, &options, json),
        Command::Evaluate {
            model,
            weights,
            temperature,
            manifest,
            options,
            targets,
            gates,
            only,
            outcome,
            merge,
            jobs,
            json,
        } => {
            let model = files::load_model(&model, temperature.as_deref(), weights.as_deref())?;
            let normalise_per_recording = options.normalise.is_some();
            let run = evaluate::Run {
                manifest,
                options,
                evaluate: countscope::evaluate::EvaluateOptions {
                    targets,
                    extra_gates: gates,
                    normalise_per_recording,
                },
                jobs: jobs.map(usize::from),
            };
            match (only, outcome) {
                (Some(n), Some(file)) => evaluate::one(&model, &run, n, &file),
                _ => evaluate::all(&model, run, &merge, json),
            }
        }
    }
}

/// `countscope compare`: both models over every recording, then the comparison.
fn compare(
    models: &[PathBuf],
    recordings: &[PathBuf],
    options: &ReplayOptions,
    json: bool,
) -> Result<u8, Fatal> {
    let [a, b] = models else {
        return Err(Fatal::Message(format!(
            "compare takes exactly two models (--model A --model B), not {}",
            models.len()
        )));
    };
    if recordings.iter().any(|r| r == Path::new("-")) {
        return Err(Fatal::Message(
            "compare reads each recording once per model: give files, not standard input (-)"
                .into(),
        ));
    }
    // Names as the user knows them: file names, or whole paths when the file names are the same.
    let name = |p: &Path, other: &Path| match (p.file_name(), other.file_name()) {
        (Some(x), Some(y)) if x != y => x.to_string_lossy().into_owned(),
        _ => p.display().to_string(),
    };
    let names = [name(a, b), name(b, a)];
    let mut outcomes: [Vec<Outcome>; 2] = Default::default();
    for (i, path) in [a, b].into_iter().enumerate() {
        let mut model = files::load_model(path, None, None)?;
        for rec in recordings {
            // Bad lines are the recording's, not the model's: said once, on A's pass, with the file.
            let tell = if i == 0 {
                BadLines::ListedWithFile
            } else {
                BadLines::Quiet
            };
            outcomes[i].push(replay_recording(&mut model, rec, options, tell, true)?);
        }
    }
    let rec_names: Vec<String> = recordings.iter().map(|r| r.display().to_string()).collect();
    let rec_refs: Vec<&str> = rec_names.iter().map(String::as_str).collect();
    fn preds(o: &[Outcome]) -> Vec<&[countscope::replay::FramePrediction]> {
        o.iter().map(|o| o.predictions.as_slice()).collect()
    }
    let comparison = countscope::report::Comparison::build(
        [&names[0], &names[1]],
        &rec_refs,
        &preds(&outcomes[0]),
        &preds(&outcomes[1]),
    )?;
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut stdout, &comparison)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", comparison.to_text())?;
    }
    Ok(0)
}

/// The output file, or standard output when none is named.
fn create_output(output: Option<&Path>) -> Result<Box<dyn Write>, Fatal> {
    Ok(match output {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .map_err(|e| Fatal::Message(format!("{}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    })
}

/// `countscope convert`: a CSI frame file's windows, written as paired lines.
fn convert(recording: &Path, hop: usize, output: Option<&Path>) -> Result<u8, Fatal> {
    use countscope::recording::Reader;
    // As stored: the framer's windows stay frame-major, which is how the paired format's `csi` is filled.
    let mut reader = Reader::new(LayoutPolicy::AsStored);
    reader.set_hop(hop);
    let file = create_output(output)?;
    let mut out = std::io::BufWriter::new(file);
    let (mut lines, mut written, mut bad) = (Vec::new(), 0u64, 0u64);
    let mut write_lines = |lines: &mut Vec<_>, out: &mut dyn Write| -> Result<(), Fatal> {
        for item in lines.drain(..) {
            match item {
                Ok(record) => {
                    writeln!(
                        out,
                        "{}",
                        countscope::recording::frames::paired_line(&record)
                    )?;
                    written += 1;
                }
                Err(e) => {
                    bad += 1;
                    eprintln!("countscope: skipped {e}");
                }
            }
        }
        Ok(())
    };
    files::for_each_chunk(recording, &mut |chunk: &[u8]| {
        reader
            .push(chunk)
            .map_err(|e| Fatal::Message(format!("{}: {e}", recording.display())))?;
        reader.take_lines(&mut lines);
        write_lines(&mut lines, &mut out)
    })?;
    let end = reader.finish();
    reader.take_lines(&mut lines);
    write_lines(&mut lines, &mut out)?;
    end.map_err(|e| Fatal::Message(format!("{}: {e}", recording.display())))?;
    out.flush()?;
    let Some(framing) = reader.framing() else {
        return Err(Fatal::Message(format!(
            "{}: not a CSI frame file (no line names subcarriers, iq_hex or a type): a paired recording needs no converting",
            recording.display()
        )));
    };
    eprintln!(
        "countscope: {written} window(s) written, {bad} bad line(s)\n{}",
        framing.describe()
    );
    Ok(if written > 0 { 0 } else { 2 })
}

fn simulate(cfg: SimConfig, output: Option<&Path>) -> Result<u8, Fatal> {
    let mut sim = Simulator::new(cfg)?;
    eprintln!(
        "countscope: SYNTHETIC recording, {}; about {} windows",
        sim.room().describe(),
        sim.expected_windows()
    );
    let file = create_output(output)?;
    let buffered = std::io::BufWriter::with_capacity(1 << 20, file);
    // `*.gz` is written gzip-compressed (level 9, no name, mtime 0: the bytes depend only on the input
    // and the pinned flate2/miniz_oxide), which keeps the samples in `artifacts/` small.
    let gzip = output.is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")));
    let mut buffered = if gzip {
        let mut enc = flate2::GzBuilder::new()
            .mtime(0)
            .write(buffered, flate2::Compression::best());
        write_lines(&mut sim, &mut enc)?;
        enc.finish()?
    } else {
        let mut buffered = buffered;
        write_lines(&mut sim, &mut buffered)?;
        buffered
    };
    buffered.flush()?;
    Ok(0)
}

fn write_lines(sim: &mut Simulator, out: &mut dyn Write) -> std::io::Result<()> {
    let mut line = String::with_capacity(8 << 10);
    while sim.next_line(&mut line) {
        out.write_all(line.as_bytes())?;
        line.clear();
    }
    Ok(())
}

/// `90`, `90s`, `30m`, `24h` → seconds.
fn parse_duration(s: &str) -> Result<f64, String> {
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let mult = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 30m or 24h"))?;
    Ok(v * mult)
}

/// `0-7` or `3` → (min, max).
fn parse_persons(s: &str) -> Result<(u8, u8), String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u8>()
            .map_err(|_| format!("{t:?} is not a person count"))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((num(a)?, num(b)?)),
        None => num(s).map(|n| (n, n)),
    }
}

fn inspect(path: &Path, weights: Option<&Path>, json: bool) -> Result<u8, Fatal> {
    let bytes = files::read(path)?;
    let info = CountModel::inspect(&bytes)
        .map_err(|e| Fatal::Message(format!("{}: {e}", path.display())))?;
    let load = files::load_model(path, None, weights).map_err(|f| f.message().to_string());
    let mut out = std::io::stdout().lock();
    if json {
        let sources = load.as_ref().ok().map(|m| m.weights().to_vec());
        let v = serde_json::json!({ "model": info, "loads": load.is_ok(), "load_error": load.as_ref().err(), "weights": sources, "engine": countscope::model::kernel::describe() });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "model: {}", path.display())?;
        writeln!(out, "engine: {}", countscope::model::kernel::describe())?;
        if let Some(st) = &info.safetensors {
            writeln!(out, "format: safetensors, {} tensor(s)", st.tensors.len())?;
            for t in &st.tensors {
                writeln!(out, "tensor: {} {} {:?}", t.name, t.dtype, t.shape)?;
            }
            match &st.not_countnet {
                None => writeln!(
                    out,
                    "CountNet: yes (loads as CountNet, built by countscope)"
                )?,
                Some(why) => writeln!(out, "CountNet: no: {why}")?,
            }
        }
        if info.format == countscope::model::ModelFormat::Onnx {
            writeln!(
                out,
                "producer: {}  ir_version: {}  opsets: {}",
                info.producer,
                info.ir_version,
                info.opsets
                    .iter()
                    .map(|(d, v)| format!("{d} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        for i in &info.inputs {
            writeln!(out, "input:  {i}")?;
        }
        for o in &info.outputs {
            writeln!(out, "output: {o}")?;
        }
        writeln!(out, "parameters: {}", info.parameters)?;
        if info.external_files.is_empty() {
            writeln!(out, "external data: none (self-contained)")?;
        }
        for (f, n) in &info.external_files {
            writeln!(out, "external data: {f} ({n} tensors)")?;
        }
        writeln!(
            out,
            "calibration in the model: {}",
            info.calibration.describe()
        )?;
        if info.format == countscope::model::ModelFormat::Onnx {
            if info.outside_page.is_empty() {
                writeln!(out, "page: every op is in the page's list")?;
            } else {
                let ops: Vec<String> = info
                    .outside_page
                    .iter()
                    .map(|m| format!("{} (first node {})", m.op, m.first_node))
                    .collect();
                writeln!(
                    out,
                    "page: refused, it does not include {} (the CLI runs every op)",
                    ops.join(", ")
                )?;
            }
        }
        match &load {
            Ok(m) => {
                writeln!(out, "weights: {}", files::describe_weights(m))?;
                writeln!(out, "loads: yes (interface checked, optimised)")?;
            }
            Err(e) => writeln!(out, "loads: no: {e}")?,
        }
    }
    Ok(if load.is_ok() { 0 } else { 2 })
}

mod evaluate {
    //! `countscope evaluate`: the manifest's recordings replayed (in parallel, or one for a batch job) or
    //! read back from outcome files, then pooled by the core.

    use super::{replay_recording, BadLines, Fatal, ReplayOptions};
    use crate::files;
    use countscope::evaluate::{EvaluateOptions, Evaluation, Manifest, RecordingOutcome};
    use countscope::CountModel;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// What every form of the command shares.
    pub struct Run {
        pub manifest: PathBuf,
        pub options: ReplayOptions,
        pub evaluate: EvaluateOptions,
        pub jobs: Option<usize>,
    }

    fn read_manifest(path: &Path) -> Result<Manifest, Fatal> {
        let bytes = files::read(path)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Fatal::Message(format!("{}: not UTF-8 text ({e})", path.display())))?;
        Manifest::parse(text).map_err(|e| Fatal::Message(format!("{}: {e}", path.display())))
    }

    /// Replay one entry of the manifest into its outcome.
    fn replay_entry(
        model: &CountModel,
        run: &Run,
        entry: &countscope::evaluate::Entry,
        progress: bool,
    ) -> Result<RecordingOutcome, Fatal> {
        let dir = run.manifest.parent().unwrap_or(Path::new(""));
        let path = dir.join(&entry.path);
        let mut options = run.options.clone();
        (options.layout, options.hop) = entry.reading(options.layout, options.hop);
        let mut model = model.clone();
        let outcome = replay_recording(
            &mut model,
            &path,
            &options,
            BadLines::ListedWithFile,
            progress,
        )
        .map_err(|e| {
            Fatal::Message(format!(
                "{} line {}: {}",
                run.manifest.display(),
                entry.line,
                e.message()
            ))
        })?;
        Ok(RecordingOutcome::new(entry.clone(), &model, &outcome))
    }

    /// `--only N --outcome FILE`: one recording's outcome, for a batch runner's job.
    pub fn one(model: &CountModel, run: &Run, n: usize, file: &Path) -> Result<u8, Fatal> {
        let manifest = read_manifest(&run.manifest)?;
        let count = manifest.recordings.len();
        let entry = n
            .checked_sub(1)
            .and_then(|i| manifest.recordings.get(i))
            .ok_or_else(|| {
                Fatal::Message(format!(
                    "--only {n}: the manifest lists recordings 1 to {count}"
                ))
            })?;
        let outcome = replay_entry(model, run, entry, true)?;
        let json = serde_json::to_vec(&outcome)?;
        std::fs::write(file, json)
            .map_err(|e| Fatal::Message(format!("{}: {e}", file.display())))?;
        eprintln!(
            "countscope: outcome of {} ({} windows) written to {}",
            entry.path,
            outcome.windows.len(),
            file.display()
        );
        Ok(0)
    }

    /// The whole evaluation: replayed here, or pooled from `merge`'s outcome files.
    pub fn all(model: &CountModel, run: Run, merge: &[PathBuf], json: bool) -> Result<u8, Fatal> {
        let manifest = read_manifest(&run.manifest)?;
        let outcomes = if merge.is_empty() {
            replay_all(model, &run, &manifest)?
        } else {
            let mut read = Vec::with_capacity(merge.len());
            for f in merge {
                let bytes = files::read(f)?;
                let o = RecordingOutcome::from_json(&bytes)
                    .map_err(|e| Fatal::Message(format!("{}: {e}", f.display())))?;
                read.push((f.display().to_string(), o));
            }
            Evaluation::order(&manifest, read)?
        };
        let evaluation = Evaluation::build(model, &outcomes, &run.evaluate)?;
        let mut stdout = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut stdout, &evaluation)?;
            writeln!(stdout)?;
        } else {
            write!(stdout, "{}", evaluation.to_text())?;
        }
        Ok(if evaluation.gates_passed { 0 } else { 1 })
    }

    /// Every recording, `jobs` at a time (default one per core), each on its own copy of the model
    /// (the optimised plan is shared); the outcomes come back in the manifest's order.
    fn replay_all(
        model: &CountModel,
        run: &Run,
        manifest: &Manifest,
    ) -> Result<Vec<RecordingOutcome>, Fatal> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let n = manifest.recordings.len();
        let jobs = run
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |p| p.get()))
            .clamp(1, n.max(1));
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<RecordingOutcome, String>>>> =
            Mutex::new((0..n).map(|_| None).collect());
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(entry) = manifest.recordings.get(i) else {
                break;
            };
            let r = replay_entry(model, run, entry, jobs == 1).map_err(|e| e.message().to_string());
            let failed = r.is_err();
            if let Ok(mut all) = results.lock() {
                all[i] = Some(r);
            }
            if failed {
                // The first failure ends the run: no new recording is started.
                next.store(n, Ordering::Relaxed);
                break;
            }
        };
        if jobs == 1 {
            // No thread at all (wasm32-wasip2 has none).
            work();
        } else {
            std::thread::scope(|scope| {
                for _ in 0..jobs {
                    scope.spawn(work);
                }
            });
        }
        let results = results
            .into_inner()
            .map_err(|_| Fatal::Message("a replay thread failed".into()))?;
        let mut out = Vec::with_capacity(n);
        for r in results {
            match r {
                Some(Ok(o)) => out.push(o),
                Some(Err(m)) => return Err(Fatal::Message(m)),
                None => {}
            }
        }
        if out.len() != n {
            return Err(Fatal::Message("a replay thread failed".into()));
        }
        Ok(out)
    }
}

fn replay(args: &ReplayArgs) -> Result<(CountModel, Outcome), Fatal> {
    let mut model = files::load_model(
        &args.model,
        args.temperature.as_deref(),
        args.weights.as_deref(),
    )?;
    let outcome = replay_recording(
        &mut model,
        &args.recording,
        &args.options,
        BadLines::Listed,
        true,
    )?;
    Ok((model, outcome))
}

/// Whether a replay lists its bad lines on standard error.
#[derive(Clone, Copy, PartialEq)]
enum BadLines {
    /// Not at all (the same recording was already replayed and its bad lines said).
    Quiet,
    /// `countscope: skipped line N: reason`.
    Listed,
    /// The same, after the recording's path (several recordings in one run).
    ListedWithFile,
}

/// Replay one recording (a file, or `-` for standard input) against `model`, with a progress line on a
/// terminal when `progress` (not when several replays run at once).
fn replay_recording(
    model: &mut CountModel,
    recording: &Path,
    options: &ReplayOptions,
    tell: BadLines,
    progress: bool,
) -> Result<Outcome, Fatal> {
    if let Some(b) = options.batch {
        model.set_batch_size(b);
    }
    // Standard input can be read only once: with a first pass to make, it is kept in memory.
    let stdin_bytes = if options.normalise.is_some() && recording == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)
            .map_err(|e| Fatal::Message(format!("standard input: {e}")))?;
        Some(buf)
    } else {
        None
    };
    let each_chunk = |f: &mut dyn FnMut(&[u8]) -> Result<(), Fatal>| match &stdin_bytes {
        Some(bytes) => bytes.chunks(256 * 1024).try_for_each(f),
        None => files::for_each_chunk(recording, f),
    };
    if options.normalise.is_some() {
        let mut pass = StatsPass::new(options.layout);
        each_chunk(&mut |chunk| {
            pass.push(chunk);
            Ok(())
        })?;
        pass.normalise(model);
    }
    let mut replay = Replay::new(model, options.layout, options.strict);
    replay.set_hop(options.hop as usize);
    let mut progress = if progress {
        output::Progress::new(files::size_of(recording))
    } else {
        output::Progress::off()
    };
    each_chunk(&mut |chunk| {
        replay.push(chunk)?;
        progress.update(
            replay.bytes_read(),
            replay.predictions().len(),
            replay.diagnostics().skipped_lines,
        );
        Ok(())
    })?;
    let outcome = replay.finish()?;
    progress.done();
    if tell != BadLines::Quiet {
        let file = if tell == BadLines::ListedWithFile {
            format!("{}: ", recording.display())
        } else {
            String::new()
        };
        for e in &outcome.diagnostics.line_errors {
            eprintln!("countscope: {file}skipped {e}");
        }
        let kept = outcome.diagnostics.line_errors.len() as u64;
        if outcome.diagnostics.skipped_lines > kept {
            eprintln!(
                "countscope: … and {} more skipped line(s)",
                outcome.diagnostics.skipped_lines - kept
            );
        }
    }
    if let Some(message) = outcome.no_window_message(&recording.display().to_string()) {
        return Err(Fatal::Message(message));
    }
    Ok(outcome)
}
