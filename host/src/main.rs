//! `countscope-host`: how a server calls countscope's typed component (`countscope:check`, `wit/`), in one
//! file a server author can copy.
//!
//! ```text
//! countscope-host [--component C.wasm] [--memory-mib N] [--timeout-s S] MODEL REC          # = countscope report --json
//! countscope-host [--component C.wasm] [--memory-mib N] [--timeout-s S] MODEL SET.toml     # = countscope evaluate --json
//! ```
//!
//! - The component gets **no preopened directory**, no environment, no network: this host reads the model,
//!   its companions (the files beside it that the model names, its `.safetensors` and `.temperature`), the
//!   manifest and the recordings, and passes bytes. A recording goes in chunks of [`CHUNK`] bytes, so the
//!   component's memory holds one chunk and the replay's state, never the file.
//! - **Memory** is bounded by a `ResourceLimiter` (default 1 GiB of linear memory), **time** by epoch
//!   interruption (default 120 s for the whole run). Going over either ends the call with a trap, which is
//!   reported as [`HostError::MemoryLimit`] / [`HostError::TimeLimit`]; the instance is then discarded (a
//!   server makes a fresh store per request, as this does per run).
//! - Exit codes as the CLI's: 0 every gate met, 1 not, 2 bad input or a bound reached.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "checker",
});

use exports::countscope::check::types::{
    CheckError, GateOptions, LayoutPolicy, ModelError, ReplayOptions,
};

/// Bytes per `push`: big enough that the call overhead vanishes, small next to the memory bound.
pub const CHUNK: usize = 1 << 20;

/// Why a run failed, typed: what the component said, or which bound stopped it.
#[derive(Debug)]
pub enum HostError {
    /// The model was refused (the component's `model-error`).
    Model(ModelError),
    /// A recording, manifest or evaluation was refused (the component's `check-error`).
    Check(CheckError),
    /// The component asked for more linear memory than allowed.
    MemoryLimit {
        /// The bound, in bytes.
        limit: usize,
        /// What it asked for.
        requested: usize,
    },
    /// The run took longer than allowed.
    TimeLimit(Duration),
    /// Any other trap or host failure (a file that cannot be read, a component that does not load).
    Other(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            HostError::Model(e) => write!(f, "model refused: {e:?}"),
            HostError::Check(e) => write!(f, "refused: {e:?}"),
            HostError::MemoryLimit { limit, requested } => write!(
                f,
                "memory limit: the component asked for {requested} bytes of linear memory, over the {limit}-byte bound"
            ),
            HostError::TimeLimit(d) => {
                write!(f, "time limit: the run took longer than {} s", d.as_secs_f64())
            }
            HostError::Other(m) => f.write_str(m),
        }
    }
}

/// The store's state: WASI with nothing granted, and the memory bound.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Linear memory at most `max` bytes; remembers a refused growth, to tell a memory trap from others.
struct Limits {
    max: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// One run's bounds.
pub struct Bounds {
    /// Linear memory, bytes.
    pub memory: usize,
    /// Wall-clock time for the whole run.
    pub time: Duration,
}

/// A component instance in its own store, with the bounds armed.
pub struct Host {
    store: Store<State>,
    bindings: Checker,
    time: Duration,
}

impl Host {
    /// Compile (or take from wasmtime's cache) and instantiate the component with nothing granted.
    pub fn new(component: &Path, bounds: &Bounds) -> Result<Self, HostError> {
        let other = |e: wasmtime::Error| HostError::Other(format!("{e:#}"));
        let mut config = Config::new();
        config.epoch_interruption(true);
        // The same on-disk cache as `wasmtime run`: the second run starts in milliseconds.
        if let Ok(cache) = wasmtime::Cache::from_file(None) {
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config).map_err(other)?;
        let component = Component::from_file(&engine, component)
            .map_err(|e| HostError::Other(format!("{}: {e:#}", component.display())))?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(other)?;
        let mut store = Store::new(
            &engine,
            State {
                // No preopens, no environment, no arguments, no inherited stdio.
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
                limits: Limits {
                    max: bounds.memory,
                    refused: None,
                },
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        let ticker = engine.clone();
        let time = bounds.time;
        std::thread::spawn(move || {
            std::thread::sleep(time);
            ticker.increment_epoch();
        });
        let bindings = Checker::instantiate(&mut store, &component, &linker)
            .map_err(|e| trap(&store, time, e))?;
        Ok(Host {
            store,
            bindings,
            time,
        })
    }

    fn trap(&self, e: wasmtime::Error) -> HostError {
        trap(&self.store, self.time, e)
    }

    /// Load a model from its file and the companions beside it.
    pub fn load_model(&mut self, path: &Path) -> Result<ResourceAny, HostError> {
        let bytes = read(path)?;
        let name = file_name(path);
        let companions = companions(path, &name);
        let api = self.bindings.countscope_check_check();
        match api
            .model()
            .call_load(&mut self.store, &name, &bytes, &companions, None)
        {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => Err(HostError::Model(e)),
            Err(e) => Err(self.trap(e)),
        }
    }

    /// `countscope report --json` for one recording: the typed report, and its JSON.
    pub fn report(
        &mut self,
        model: ResourceAny,
        recording: &Path,
    ) -> Result<(bool, String), HostError> {
        let Host {
            store,
            bindings,
            time,
        } = self;
        let api = bindings.countscope_check_check();
        let session = api
            .model()
            .call_session(&mut *store, model, options())
            .map_err(|e| trap(store, *time, e))?;
        stream(recording, |chunk| {
            let r = api.session().call_push(&mut *store, session, chunk);
            answer(r, store, *time)
        })?;
        let r = api.session().call_finish(&mut *store, session, &gates());
        let report = answer(r, store, *time)?;
        let json = api
            .call_report_json(&mut *store, &report)
            .map_err(|e| trap(store, *time, e))?;
        Ok((report.gates_passed, json))
    }

    /// `countscope evaluate --json` for a manifest: the typed evaluation, and its JSON.
    pub fn evaluate(
        &mut self,
        model: ResourceAny,
        manifest: &Path,
    ) -> Result<(bool, String), HostError> {
        let text = String::from_utf8(read(manifest)?)
            .map_err(|e| HostError::Other(format!("{}: {e}", manifest.display())))?;
        let Host {
            store,
            bindings,
            time,
        } = self;
        let api = bindings.countscope_check_check();
        let r = api.call_parse_manifest(&mut *store, &text);
        let entries = answer(r, store, *time)?;
        let evaluator = api
            .evaluator()
            .call_constructor(&mut *store, model, options(), &gates())
            .map_err(|e| trap(store, *time, e))?;
        let dir = manifest.parent().unwrap_or(Path::new(""));
        for entry in &entries {
            let r = api.evaluator().call_begin(&mut *store, evaluator, entry);
            answer(r, store, *time)?;
            stream(&dir.join(&entry.path), |chunk| {
                let r = api.evaluator().call_push(&mut *store, evaluator, chunk);
                answer(r, store, *time)
            })?;
            let r = api.evaluator().call_end(&mut *store, evaluator);
            answer(r, store, *time)?;
        }
        let r = api.evaluator().call_finish(&mut *store, evaluator);
        let evaluation = answer(r, store, *time)?;
        let json = api
            .call_evaluation_json(&mut *store, &evaluation)
            .map_err(|e| trap(store, *time, e))?;
        Ok((evaluation.gates_passed, json))
    }
}

/// Push a file through `push`, chunk by chunk (for an endless stream the reading never ends by itself:
/// the time bound ends it, at the next call into the component).
fn stream(
    path: &Path,
    mut push: impl FnMut(&[u8]) -> Result<(), HostError>,
) -> Result<(), HostError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .map_err(|e| HostError::Other(format!("{}: {e}", path.display())))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| HostError::Other(format!("{}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        push(&buf[..n])?;
    }
}

/// A call's answer: the value, the component's typed refusal, or the trap that ended it.
fn answer<T, E: Into<HostError>>(
    r: wasmtime::Result<Result<T, E>>,
    store: &Store<State>,
    time: Duration,
) -> Result<T, HostError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(trap(store, time, e)),
    }
}

impl From<CheckError> for HostError {
    fn from(e: CheckError) -> Self {
        HostError::Check(e)
    }
}

impl From<ModelError> for HostError {
    fn from(e: ModelError) -> Self {
        HostError::Model(e)
    }
}

/// A trap, named by the bound that caused it when one did.
fn trap(store: &Store<State>, time: Duration, e: wasmtime::Error) -> HostError {
    let limits = &store.data().limits;
    if let Some(requested) = limits.refused {
        return HostError::MemoryLimit {
            limit: limits.max,
            requested,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => HostError::TimeLimit(time),
        _ => HostError::Other(format!("the component trapped: {e:#}")),
    }
}

fn options() -> ReplayOptions {
    ReplayOptions {
        layout: LayoutPolicy::Labelled,
        hop: 20,
        strict: false,
        normalise_recording: false,
    }
}

fn gates() -> GateOptions {
    GateOptions {
        targets: "v0.1.0".into(),
        extra_gates: Vec::new(),
        cross_room: false,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, HostError> {
    std::fs::read(path).map_err(|e| HostError::Other(format!("{}: {e}", path.display())))
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The files beside a model that may belong to it: whatever shares its stem (`count_v1.safetensors`,
/// `count_v1.temperature`, `count_v1.onnx.data`) and any `*.onnx.data` / `*.data` / `*.bin` (external data
/// names). The component decides which it uses; the host only reads.
fn companions(model: &Path, name: &str) -> Vec<(String, Vec<u8>)> {
    let stem = name.split('.').next().unwrap_or(name).to_string();
    let dir = model
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let related = n != name
            && (n.starts_with(&format!("{stem}.")) || n.ends_with(".data") || n.ends_with(".bin"));
        if related && e.path().is_file() {
            if let Ok(b) = std::fs::read(e.path()) {
                out.push((n, b));
            }
        }
    }
    out.sort();
    out
}

fn run(args: &[String]) -> Result<u8, HostError> {
    let usage = || {
        HostError::Other(
            "usage: countscope-host [--component C.wasm] [--memory-mib N] [--timeout-s S] MODEL (REC | SET.toml)".into(),
        )
    };
    let mut component: Option<PathBuf> =
        std::env::var_os("COUNTSCOPE_COMPONENT").map(PathBuf::from);
    let mut bounds = Bounds {
        memory: 1 << 30,
        time: Duration::from_secs(120),
    };
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(usage);
        match a.as_str() {
            "--component" => component = Some(PathBuf::from(value()?)),
            "--memory-mib" => {
                bounds.memory = value()?.parse::<usize>().map_err(|_| usage())? << 20;
            }
            "--timeout-s" => {
                bounds.time = Duration::from_secs_f64(value()?.parse().map_err(|_| usage())?);
            }
            _ => rest.push(PathBuf::from(a)),
        }
    }
    let [model, input] = rest.as_slice() else {
        return Err(usage());
    };
    let component = component.ok_or_else(|| {
        HostError::Other("no component: give --component PATH or set COUNTSCOPE_COMPONENT (cargo xtask test builds target/wasi-components/countscope-check.wasm)".into())
    })?;
    let mut checker = Host::new(&component, &bounds)?;
    let model = checker.load_model(model)?;
    let is_manifest = input.extension().is_some_and(|e| e == "toml");
    let (passed, json) = if is_manifest {
        checker.evaluate(model, input)
    } else {
        checker.report(model, input)
    }?;
    println!("{json}");
    Ok(if passed { 0 } else { 1 })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("countscope-host: {e}");
            ExitCode::from(2)
        }
    }
}
