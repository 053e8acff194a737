//! `cargo xtask`: the project's only build logic, in Rust.
//!
//! - `cargo xtask test`: installs what is missing (rustup targets, pinned cargo tools, Debian chromium and
//!   chromium-driver), then runs every
//!   suite: rustfmt, clippy and rustdoc with warnings denied (native and both wasm targets), unit +
//!   integration tests, time-bounded fuzzing, the unit tests again as a wasm32-wasip2
//!   program under wasmtime, the wasm32-wasip2 component under wasmtime compared against the native
//!   binary, the typed component through the Rust host and Node (jco), and the two browser suites.
//! - `cargo xtask serve [--port 8080] [--host 127.0.0.1]`: builds `pkg/` when missing or stale, then serves
//!   the page (`www/`, `pkg/`, `artifacts/` only) on loopback.
//! - `cargo xtask samples`: regenerate the synthetic sample recordings in `artifacts/recordings/`.
//! - `cargo xtask bench [--repeat 7] [--long-repeat 2] [--no-long]`: countscope against onnxruntime,
//!   natively and in headless Chromium, in one run; prints a table, writes `target/bench/`.
//! - `cargo xtask component`: the typed component a server calls (size profile, then wasm-opt -Oz), as
//!   `target/wasi-components/countscope-check.wasm`.

mod bench;
mod profile;
mod serve;
mod wasm;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::OnceLock;
use std::time::Instant;

/// wasm-pack pinned (the browser test runner).
const WASM_PACK_VERSION: &str = "0.15.1";
/// wasmtime-cli pinned: 48.x is the newest whose MSRV the machine's Rust 1.95 satisfies.
const WASMTIME_VERSION: &str = "48.0.8";
/// geckodriver pinned (Firefox's WebDriver server, for both browser suites in Firefox).
const GECKODRIVER_VERSION: &str = "0.37.1";
const WASM_TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "wasm32-wasip2"];
/// Seconds of parser fuzzing per `cargo xtask test` (override with COUNTSCOPE_FUZZ_SECONDS).
const FUZZ_SECONDS: &str = "30";

pub type Result<T = ()> = std::result::Result<T, String>;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the repository")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// When this xtask started: each step prints the time since, so a CI log shows where its minutes went.
static STARTED: OnceLock<Instant> = OnceLock::new();

pub fn step(name: &str) {
    let secs = STARTED.get_or_init(Instant::now).elapsed().as_secs();
    eprintln!("\n==> [{:02}:{:02}] {name}", secs / 60, secs % 60);
}

/// Run a command in the repository root, failing with its description if it fails.
pub fn run(cmd: &mut Command) -> Result {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn ensure_targets() -> Result {
    let installed = output("rustup", &["target", "list", "--installed"])
        .ok_or("rustup is not available: install the wasm targets by hand: rustup target add wasm32-unknown-unknown wasm32-wasip2")?;
    let missing: Vec<&str> = WASM_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        run(Command::new("rustup")
            .arg("target")
            .arg("add")
            .args(&missing))?;
    }
    Ok(())
}

/// Install a cargo tool at an exact version with `--locked` unless `probe --version` already says it.
fn ensure_cargo_tool(binary: &str, krate: &str, version: &str) -> Result {
    match output(binary, &["--version"]) {
        Some(v) if v.contains(version) => Ok(()),
        found => {
            if let Some(v) = found {
                eprintln!("{binary}: found {}, need {version}", v.trim());
            }
            run(Command::new(cargo()).args(["install", krate, "--version", version, "--locked"]))
        }
    }
}

/// The wasm-bindgen version in Cargo.lock: wasm-bindgen-cli must match it exactly. (Cargo.lock holds
/// 0.2.129, not 0.2.130: `cargo install wasm-bindgen-cli --version 0.2.130 --locked` cannot resolve here,
/// its lockfile names webpki-roots 1.0.11, which the registry does not serve.)
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|v| v.trim().strip_prefix("version = \""))
            {
                return Ok(v.trim_end_matches('"').to_string());
            }
        }
    }
    Err("Cargo.lock has no wasm-bindgen entry".into())
}

/// Debian's chromium and chromium-driver for the headless browser suites: installed with apt when we are
/// root on Debian, otherwise the instruction to do it by hand.
/// The two browser engines both browser suites run in: Debian's Chromium with its driver, and Debian's
/// Firefox ESR (its driver, geckodriver, is a cargo tool: [`GECKODRIVER_VERSION`]). Installed with apt as
/// root on Debian; elsewhere the message says what to install.
fn ensure_browsers() -> Result {
    let have = |p: &str| Path::new(p).exists();
    let mut missing = Vec::new();
    if !(have("/usr/bin/chromium") && have("/usr/bin/chromedriver")) {
        missing.extend(["chromium", "chromium-driver"]);
    }
    if !have("/usr/bin/firefox-esr") {
        missing.push("firefox-esr");
    }
    if !missing.is_empty() {
        let root_user = output("id", &["-u"]).is_some_and(|u| u.trim() == "0");
        let debian = Path::new("/etc/debian_version").exists();
        if !(root_user && debian) {
            return Err(format!(
                "the browser suites need Chromium and its driver at /usr/bin/chromium and /usr/bin/chromedriver, and \
                 Firefox at /usr/bin/firefox-esr: on Debian run `sudo apt-get install -y {}`, elsewhere install \
                 Chromium and ChromeDriver at the same version, and Firefox ESR",
                missing.join(" ")
            ));
        }
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .arg("install")
            .arg("-y")
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    ensure_cargo_tool("geckodriver", "geckodriver", GECKODRIVER_VERSION)
}

/// playwright-core and selenium-webdriver at the versions pinned in tests/e2e/package-lock.json (`npm ci`:
/// exactly the lockfile). They drive Debian's Chromium and Firefox ESR; neither downloads a browser or driver.
pub fn ensure_npm_deps() -> Result {
    if output("npm", &["--version"]).is_none() {
        return Err(
            "the end-to-end test needs Node.js and npm (on Debian: apt-get install -y nodejs npm)"
                .into(),
        );
    }
    npm_ci("tests/e2e", "selenium-webdriver")
}

/// `npm ci` in `dir` unless `package` is installed there and newer than the lockfile.
fn npm_ci(dir: &str, package: &str) -> Result {
    let installed = root()
        .join(dir)
        .join("node_modules")
        .join(package)
        .join("package.json");
    let lock = root().join(dir).join("package-lock.json");
    let fresh = match (std::fs::metadata(&installed), std::fs::metadata(&lock)) {
        (Ok(i), Ok(l)) => i.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix", dir])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

fn wasmtime() -> String {
    std::env::var("WASMTIME").unwrap_or_else(|_| "wasmtime".into())
}

/// What building the page needs: the wasm target, wasm-pack and wasm-bindgen-cli at their pinned versions.
pub fn ensure_wasm_tools() -> Result {
    ensure_targets()?;
    ensure_cargo_tool("wasm-pack", "wasm-pack", WASM_PACK_VERSION)?;
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &locked_wasm_bindgen()?)
}

/// The CLI as a wasm32-wasip2 component, for wasmtime: its path. Built with the size profile
/// (`[profile.wasm]`) that the page's modules and the typed component ship with, so all three share one
/// build of tract for wasm32-wasip2 (see the serde build-dependency in Cargo.toml) and the numbers under
/// wasmtime are those of the shipped code.
pub fn build_wasi_component() -> Result<PathBuf> {
    build_wasi_component_as(&[], "countscope.wasm")
}

/// The component built with `features` (cargo flags), copied to `target/wasi-components/<name>` so the
/// builds with and without the wasm kernel (which share every dependency) can sit side by side.
fn build_wasi_component_as(features: &[&str], name: &str) -> Result<PathBuf> {
    run(Command::new(cargo())
        .args([
            "build",
            "--locked",
            "--profile",
            "wasm",
            "--target",
            "wasm32-wasip2",
            "--bin",
            "countscope",
        ])
        .args(features))?;
    let built = root().join("target/wasm32-wasip2/wasm/countscope.wasm");
    let dir = root().join("target/wasi-components");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let component = dir.join(name);
    let size = std::fs::copy(&built, &component)
        .map_err(|e| format!("{} → {}: {e}", built.display(), component.display()))?;
    eprintln!(
        "component: {} ({:.1} MB)",
        component.display(),
        size as f64 / 1e6
    );
    Ok(component)
}

/// The typed component (`component/`, the `countscope:check` world) as `target/wasi-components/
/// countscope-check.wasm`: built with the size profile (`[profile.wasm]` in Cargo.toml), then wasm-opt
/// `-Oz` over its core module. Both steps' sizes are said.
fn build_check_component() -> Result<PathBuf> {
    run(Command::new(cargo()).args([
        "build",
        "--locked",
        "--profile",
        "wasm",
        "--target",
        "wasm32-wasip2",
        "-p",
        "countscope-component",
    ]))?;
    let built = root().join("target/wasm32-wasip2/wasm/countscope_component.wasm");
    let dir = root().join("target/wasi-components");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let component = dir.join("countscope-check.wasm");
    let (raw, gz) = bench::gzip_len(&built)?;
    eprintln!(
        "typed component as linked: {:.2} MB raw, {:.2} MB gzip -9",
        raw as f64 / 1e6,
        gz as f64 / 1e6
    );
    wasm_opt_component(&built, &component)?;
    let (raw, gz) = bench::gzip_len(&component)?;
    eprintln!(
        "typed component: {} ({:.2} MB raw, {:.2} MB gzip -9)",
        component.display(),
        raw as f64 / 1e6,
        gz as f64 / 1e6
    );
    Ok(component)
}

/// binaryen's Node build, pinned by `xtask/binaryen/package-lock.json`: its `wasm-opt`.
fn wasm_opt() -> Result<PathBuf> {
    npm_ci("xtask/binaryen", "binaryen")?;
    Ok(root().join("xtask/binaryen/node_modules/binaryen/bin/wasm-opt"))
}

/// binaryen's wasm-opt with `flags` over the core module `from`, written to `to` without debug
/// information, names or producers; returns the result. The features it may use are the module's own
/// (its `target_features` section: SIMD, and relaxed SIMD only in the module built with it).
pub fn wasm_opt_module(from: &Path, to: &Path, flags: &[&str]) -> Result<Vec<u8>> {
    let wasm_opt = wasm_opt()?;
    let started = Instant::now();
    run(Command::new("node")
        .arg(&wasm_opt)
        .args(flags)
        .args(["--strip-debug", "--strip-producers"])
        .arg(from)
        .arg("-o")
        .arg(to))?;
    let out = std::fs::read(to).map_err(|e| format!("{}: {e}", to.display()))?;
    eprintln!(
        "wasm-opt {}: {} in {:.0} s",
        flags.join(" "),
        to.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// wasm-opt `-Oz` over each core module of the component `input`, written to `output`. Skipped when
/// `output` is newer than `input` (cargo rewrites `input` only when it relinks): the pass takes minutes
/// on 2 cores.
fn wasm_opt_component(input: &Path, output: &Path) -> Result {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(output).is_some() && modified(output) >= modified(input) {
        eprintln!(
            "{} is newer than {}: wasm-opt skipped",
            output.display(),
            input.display()
        );
        return Ok(());
    }
    let scratch = root().join("target/wasm-opt");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let bytes = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut n = 0;
    let optimised = wasm::map_core_modules(&bytes, |module| {
        n += 1;
        let (from, to) = (
            scratch.join(format!("{n}.wasm")),
            scratch.join(format!("{n}.opt.wasm")),
        );
        std::fs::write(&from, module).map_err(|e| format!("{}: {e}", from.display()))?;
        let out = wasm_opt_module(&from, &to, &["-Oz"])?;
        eprintln!("core module {n}: {} → {} bytes", module.len(), out.len());
        Ok(out)
    })?;
    std::fs::write(output, optimised).map_err(|e| format!("{}: {e}", output.display()))
}

/// The Rust host (`host/`, wasmtime at the CLI's version), release: its path.
fn build_host() -> Result<PathBuf> {
    run(Command::new(cargo()).args(["build", "--locked", "--release", "-p", "countscope-host"]))?;
    Ok(root().join("target/release/countscope-host"))
}

/// The Node host's pinned npm packages (jco-transpile, preview2-shim) in `tests/jco`.
fn ensure_jco_deps() -> Result {
    npm_ci("tests/jco", "@bytecodealliance/jco-transpile")
}

/// Builds the unit tests of the library and of its wasm kernel (countscope-kernel) for wasm32-wasip2 (the
/// components' size profile) and returns the test programs: the core's tests, and the kernel's, which
/// only exist in a wasm build. (A unit-test build compiles its dependencies as bitcode only, where the
/// components' need object code too: cargo builds tract once more for it.)
fn build_wasi_unit_tests() -> Result<Vec<PathBuf>> {
    let out = Command::new(cargo())
        .args([
            "test",
            "--locked",
            "--profile",
            "wasm",
            "-p",
            "countscope",
            "-p",
            "countscope-kernel",
            "--lib",
            "--target",
            "wasm32-wasip2",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo test --no-run (wasm32-wasip2): {e}"))?;
    if !out.status.success() {
        return Err("building the unit tests for wasm32-wasip2 failed (see above)".into());
    }
    let programs = test_programs(&String::from_utf8_lossy(&out.stdout));
    if programs.len() != 2 {
        return Err(format!(
            "cargo test --no-run (wasm32-wasip2) named {} unit-test program(s), not the library's and the kernel's: {programs:?}",
            programs.len()
        ));
    }
    Ok(programs)
}

/// The test programs among cargo's JSON messages. A library's kinds are its crate types, so its test
/// build is told by the profile; `--lib` makes the libraries' the only ones.
fn test_programs(messages: &str) -> Vec<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["profile"]["test"] == true)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect()
}

/// `cargo test` over the workspace without the host, in the test profile: the one native build every
/// native suite shares. The same package selection each time keeps cargo's feature unification, and so
/// every dependency's build, the same (one package alone unifies fewer features and rebuilds tract).
/// The fuzzers run in it too: fewer cases per second than a release build, but with overflow checks
/// and debug assertions on, and no second native build of tract (its CI step took 14.8 min on 2 cores). The host is built
/// once, in release, for its suite (wasmtime is the longest build here).
fn native_tests() -> Command {
    let mut cmd = Command::new(cargo());
    cmd.args([
        "test",
        "--workspace",
        "--locked",
        "--exclude",
        "countscope-host",
    ]);
    cmd
}

/// The native CLI that `native_tests` built (its integration tests run it): the end-to-end suite's
/// reference, so no release build of it is needed.
fn native_cli() -> PathBuf {
    root().join("target/debug/countscope")
}

fn test() -> Result {
    let started = Instant::now();
    step("toolchain: wasm targets, wasmtime-cli, wasm-pack, wasm-bindgen-cli, chromium, firefox-esr, geckodriver");
    ensure_wasm_tools()?;
    ensure_cargo_tool(&wasmtime(), "wasmtime-cli", WASMTIME_VERSION)?;
    ensure_browsers()?;
    let profile = profile::Profile::load()?;

    step("lints: rustfmt, clippy and rustdoc with warnings denied, native and both wasm targets");
    lint()?;

    step("unit and integration tests (native)");
    run(&mut native_tests())?;

    step("fuzzing the recording parser and the safetensors reader (time-bounded, overflow checks on)");
    let secs = std::env::var("COUNTSCOPE_FUZZ_SECONDS").unwrap_or_else(|_| FUZZ_SECONDS.into());
    run(native_tests()
        .args(["--test", "fuzz", "--", "--ignored", "--nocapture"])
        .env("COUNTSCOPE_FUZZ_SECONDS", secs))?;

    step("the wasm32-wasip2 component under wasmtime vs the native binary, and vs itself without the wasm kernel");
    let component = build_wasi_component()?;
    let no_kernel =
        build_wasi_component_as(&["--no-default-features"], "countscope-no-kernel.wasm")?;
    run(native_tests()
        .args(["--test", "wasi", "--", "--ignored"])
        .env("COUNTSCOPE_WASI", &component)
        .env("COUNTSCOPE_WASI_NO_KERNEL", &no_kernel)
        .env("WASMTIME", wasmtime()))?;

    step("the typed component (countscope:check) through the Rust host (wasmtime, bounded) and Node (jco)");
    let check = build_check_component()?;
    let host = build_host()?;
    ensure_jco_deps()?;
    run(native_tests()
        .args(["--test", "host", "--", "--ignored"])
        .env("COUNTSCOPE_CHECK", &check)
        .env("COUNTSCOPE_WASI", &component)
        .env("COUNTSCOPE_HOST", &host)
        .env("WASMTIME", wasmtime()))?;

    step("the core's unit tests compiled to wasm32-wasip2, under wasmtime (with the wasm matrix kernel's)");
    for unit_tests in build_wasi_unit_tests()? {
        run(Command::new(wasmtime()).arg("run").arg(&unit_tests))?;
    }

    step("browser suite 1: the wasm API in headless Chromium and Firefox (wasm-pack test, tests/web.rs)");
    profile.browser_tests()?;

    step("browser suite 2: the served page end to end in Chromium (playwright-core) and Firefox (selenium-webdriver, geckodriver), tests/e2e");
    profile.ensure_pkg()?;
    ensure_npm_deps()?;
    let addr = serve::spawn_background()?;
    eprintln!("serving http://{addr}/ for the end-to-end test");
    // One test body, once per browser of wasm-pack.toml's [test] list, against the same server and pkg/.
    for browser in profile.test.e2e_browsers()? {
        let mut node = Command::new("node");
        node.arg("tests/e2e/e2e.mjs")
            .env("BROWSER", browser)
            .env("BASE_URL", format!("http://{addr}/"))
            .env("COUNTSCOPE", native_cli())
            .env("OUT", root().join("target/e2e"));
        if browser == "firefox" {
            node.env("GECKODRIVER", profile.test.geckodriver_path()?);
        }
        run(&mut node)?;
    }
    eprintln!(
        "\nall suites passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo fmt --check`, then clippy and rustdoc with every warning an error, for the native build and both
/// wasm targets (each target compiles different code: the page shell, the wasm kernel, the WASI exit).
fn lint() -> Result {
    let cargo_has = |sub: &str| output(&cargo(), &[sub, "--version"]).is_some();
    if !(cargo_has("clippy") && cargo_has("fmt")) {
        run(Command::new("rustup").args(["component", "add", "clippy", "rustfmt"]))?;
    }
    run(Command::new(cargo()).args(["fmt", "--all", "--check"]))?;
    let deny = [("RUSTDOCFLAGS", "-D warnings")];
    run(Command::new(cargo()).args([
        "clippy",
        "--locked",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    for target in WASM_TARGETS {
        // The integration tests drive the native binary; the browser suite is wasm32-unknown-unknown's.
        let mut args = vec!["clippy", "--locked", "--target", target, "--lib", "--bins"];
        if target == "wasm32-unknown-unknown" {
            args.extend(["--test", "web"]);
        } else {
            // The typed component is a wasm32-wasip2 library only; the kernel's SIMD code is linted here
            // (simd128 is on for wasm32-wasip2 in .cargo/config.toml).
            args.extend([
                "-p",
                "countscope",
                "-p",
                "countscope-kernel",
                "-p",
                "countscope-component",
            ]);
        }
        args.extend(["--", "-D", "warnings"]);
        run(Command::new(cargo()).args(&args))?;
    }
    for target in [None, Some(WASM_TARGETS[0]), Some(WASM_TARGETS[1])] {
        let mut cmd = Command::new(cargo());
        cmd.args(["doc", "--locked", "--no-deps", "--lib"])
            .envs(deny);
        if let Some(t) = target {
            cmd.args(["--target", t]);
        }
        run(&mut cmd)?;
    }
    Ok(())
}

/// Regenerate the sample recordings in `artifacts/recordings/` from `samples.tsv` with the release binary.
fn samples() -> Result {
    step("building countscope (release)");
    run(Command::new(cargo()).args(["build", "--locked", "--release", "--bin", "countscope"]))?;
    let dir = root().join("artifacts/recordings");
    let list = std::fs::read_to_string(dir.join("samples.tsv"))
        .map_err(|e| format!("artifacts/recordings/samples.tsv: {e}"))?;
    step("simulating the sample recordings (SYNTHETIC)");
    for l in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, args) = l
            .split_once('\t')
            .ok_or_else(|| format!("samples.tsv: {l:?} is not NAME<TAB>ARGUMENTS"))?;
        run(Command::new(root().join("target/release/countscope"))
            .arg("simulate")
            .args(args.split_whitespace())
            .arg("-o")
            .arg(dir.join(name)))?;
    }
    eprintln!("\nnext, to retrain the sample model: python3 artifacts/train/train.py (see artifacts/README.md)");
    Ok(())
}

fn main() -> ExitCode {
    STARTED.get_or_init(Instant::now);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("serve") => serve::serve(&args[1..]),
        Some("samples") => samples(),
        Some("bench") => bench::bench(&args[1..]),
        Some("component") => ensure_targets().and_then(|()| build_check_component().map(|_| ())),
        _ => Err("usage: cargo xtask <test|serve|samples|bench|component>\n  test     install what is missing, then run every test suite\n  serve    build pkg/ if stale and serve the page on http://127.0.0.1:8080 (--port, --host)\n  samples  regenerate the synthetic sample recordings in artifacts/recordings\n  bench    measure countscope against onnxruntime natively and in Chromium (--repeat N, --long-repeat N, --no-long)\n  component  build the typed component (countscope:check) a server calls: target/wasi-components/countscope-check.wasm".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages as `cargo test --lib --no-run --message-format=json` prints them for this crate
    /// (trimmed): a dependency, then the library's test build, whose kinds are its crate types.
    #[test]
    fn finds_the_library_test_program_among_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"memchr"},"profile":{"test":false},"executable":null}
not json: a line cargo did not write
{"reason":"compiler-artifact","target":{"kind":["cdylib","rlib"],"name":"countscope"},"profile":{"test":true},"executable":"/r/target/wasm32-wasip2/wasm/deps/countscope-c4e0.wasm"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            test_programs(messages),
            vec![PathBuf::from(
                "/r/target/wasm32-wasip2/wasm/deps/countscope-c4e0.wasm"
            )]
        );
        assert!(test_programs(r#"{"reason":"build-finished","success":true}"#).is_empty());
    }
}
