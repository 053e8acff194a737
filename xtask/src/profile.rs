//! `wasm-pack.toml`: the project's wasm build profile, and building `pkg/` from it.
//!
//! wasm-pack reads its own settings only from `Cargo.toml`'s `[package.metadata.wasm-pack]`; everything
//! else (target, output folder, features, test browsers) wasm-pack takes as flags, which `cargo xtask`
//! passes from here. The one setting both files hold, the `wasm-opt` flags, must agree: [`Profile::load`]
//! refuses to go on when they do not.

use crate::{root, run, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// `[build]` of wasm-pack.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Build {
    /// The crate wasm-pack builds into `out-dir` (a folder of the workspace), whose Cargo.toml holds the
    /// wasm-pack metadata.
    #[serde(rename = "crate")]
    pub krate: String,
    pub target: String,
    pub out_dir: String,
    pub out_name: String,
    pub profile: String,
    #[serde(default)]
    pub features: Vec<String>,
    /// `false` or a list of flags, exactly as in Cargo.toml's wasm-pack metadata.
    pub wasm_opt: toml::Value,
    /// countscope's own wasm-opt pass over each shipped module (binaryen's Node build, pinned in
    /// `xtask/binaryen/`), after wasm-bindgen: its flags, or none for no pass (the `name` section is then
    /// dropped alone).
    #[serde(default)]
    pub binaryen: Vec<String>,
    /// Also build `<out-name>_relaxed_bg.wasm` with `+relaxed-simd` (tract's matrix kernels then use fused
    /// multiply-add); the page loads it where the browser validates relaxed SIMD.
    #[serde(default)]
    pub relaxed_simd: bool,
}

/// `[test]` of wasm-pack.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Test {
    pub browsers: Vec<String>,
    pub chromedriver: String,
    /// Looked up on PATH (`cargo install` puts it in cargo's bin folder); wasm-pack is handed the full
    /// path so it never tries to download one.
    pub geckodriver: String,
    pub profile: String,
    pub tests: Vec<String>,
}

/// The whole profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub build: Build,
    pub test: Test,
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse()
        .map_err(|e| format!("{}: not valid TOML: {e}", path.display()))
}

impl Profile {
    /// Read wasm-pack.toml and check it against Cargo.toml's wasm-pack metadata.
    pub fn load() -> Result<Self> {
        let path = root().join("wasm-pack.toml");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let profile: Profile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let manifest = root().join(&profile.build.krate).join("Cargo.toml");
        let cargo = read_toml(&manifest)?;
        let metadata = cargo
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("wasm-pack"))
            .and_then(|w| w.get("profile"))
            .and_then(|p| p.get(profile.metadata_profile()))
            .and_then(|p| p.get("wasm-opt"));
        if metadata != Some(&profile.build.wasm_opt) {
            let shown = metadata.map_or("(absent)".to_string(), |v| v.to_string());
            return Err(format!(
                "wasm-pack.toml and {} disagree: wasm-pack.toml [build] wasm-opt = {}, but its \
                 [package.metadata.wasm-pack.profile.{}] wasm-opt = {shown} (wasm-pack reads only Cargo.toml): make them equal",
                manifest.display(),
                profile.build.wasm_opt,
                profile.build.profile
            ));
        }
        Ok(profile)
    }

    /// wasm-pack's own profiles (`--dev`, `--profiling`, `--release`); any other is a cargo profile it is
    /// handed with `--profile NAME`.
    fn builtin(&self) -> Option<&str> {
        let p = self.build.profile.as_str();
        ["dev", "profiling", "release"].contains(&p).then_some(p)
    }

    /// The table of `[package.metadata.wasm-pack.profile]` wasm-pack reads for this profile: its own three
    /// by name, and `custom` for any other cargo profile (wasm-pack 0.15's rule).
    fn metadata_profile(&self) -> &str {
        self.builtin().unwrap_or("custom")
    }

    /// wasm-pack's flag for the profile.
    fn profile_flag(&self) -> Vec<String> {
        match self.builtin() {
            Some(p) => vec![format!("--{p}")],
            None => vec!["--profile".into(), self.build.profile.clone()],
        }
    }

    /// A built module shipped: through countscope's wasm-opt pass when the profile has one, else without
    /// its `name` section only.
    fn finish(&self, from: &Path, to: &Path) -> Result {
        if self.build.binaryen.is_empty() {
            return strip_names(from, to);
        }
        let before = std::fs::metadata(from).map_err(|e| format!("{}: {e}", from.display()))?;
        let scratch = root().join("target/wasm-opt");
        std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
        let out = scratch.join("pkg.opt.wasm");
        let flags: Vec<&str> = self.build.binaryen.iter().map(String::as_str).collect();
        let bytes = crate::wasm_opt_module(from, &out, &flags)?;
        std::fs::write(to, &bytes).map_err(|e| format!("{}: {e}", to.display()))?;
        eprintln!(
            "built {} ({:.2} MB; {:.2} MB before wasm-opt)",
            to.display(),
            bytes.len() as f64 / 1e6,
            before.len() as f64 / 1e6
        );
        Ok(())
    }

    fn pkg_dir(&self) -> PathBuf {
        root().join(&self.build.out_dir)
    }

    /// The built module.
    pub fn wasm_path(&self) -> PathBuf {
        self.pkg_dir()
            .join(format!("{}_bg.wasm", self.build.out_name))
    }

    /// The relaxed-SIMD build of the module, when the profile asks for one.
    pub fn relaxed_wasm_path(&self) -> Option<PathBuf> {
        self.build.relaxed_simd.then(|| {
            self.pkg_dir()
                .join(format!("{}_relaxed_bg.wasm", self.build.out_name))
        })
    }

    /// Whether `pkg/` is missing or older than any source it is built from.
    pub fn pkg_is_stale(&self) -> bool {
        let modules = std::iter::once(self.wasm_path()).chain(self.relaxed_wasm_path());
        let built = match modules
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()))
            .collect::<std::io::Result<Vec<_>>>()
        {
            Ok(t) => t.into_iter().min(),
            Err(_) => return true,
        };
        let r = root();
        let inputs = [
            r.join("Cargo.toml"),
            r.join("Cargo.lock"),
            r.join("wasm-pack.toml"),
            r.join(".cargo/config.toml"),
        ];
        // The crates pkg/ is built from: the library, its wasm kernel and the linking crate.
        let sources = ["src", "kernel", self.build.krate.as_str()];
        sources
            .iter()
            .filter_map(|d| newest(&r.join(d)))
            .chain(inputs.iter().filter_map(|p| mtime(p)))
            .max()
            > built
    }

    fn wasm_pack_build(&self, out_dir: &Path) -> Command {
        let b = &self.build;
        let mut cmd = Command::new("wasm-pack");
        cmd.args(["build"])
            .arg(root().join(&b.krate))
            .args(["--target", &b.target, "--out-dir"])
            .arg(out_dir)
            .args(["--out-name", &b.out_name])
            .args(self.profile_flag())
            .arg("--no-pack");
        if !b.features.is_empty() {
            cmd.args(["--features", &b.features.join(",")]);
        }
        cmd
    }

    /// `wasm-pack build` with this profile, then the relaxed-SIMD module when asked for. Both ship without
    /// their `name` section (see [`crate::wasm`]).
    pub fn build_pkg(&self) -> Result {
        run(&mut self.wasm_pack_build(&self.pkg_dir()))?;
        let wasm = self.wasm_path();
        self.finish(&wasm, &wasm)?;
        if let Some(relaxed) = self.relaxed_wasm_path() {
            // Its own target folder, so neither build invalidates the other's cache. The env form of
            // `target.<triple>.rustflags` wins over .cargo/config.toml.
            let out = root().join("target/pkg-relaxed");
            run(self
                .wasm_pack_build(&out)
                .env("CARGO_TARGET_DIR", root().join("target/wasm-relaxed"))
                .env(
                    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
                    "-C target-feature=+simd128,+relaxed-simd",
                ))?;
            // The page loads one JS glue for either module: it must be the same glue. Comments do not
            // run, and wasm-bindgen's differ between the two builds (a closure's `shim_idx` in the comment
            // over its cast intrinsic), so the code lines are compared.
            let glue = |dir: &Path| {
                let p = dir.join(format!("{}.js", self.build.out_name));
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok::<Vec<String>, String>(
                    text.lines()
                        .filter(|l| !l.trim_start().starts_with("//"))
                        .map(str::to_owned)
                        .collect(),
                )
            };
            if glue(&out)? != glue(&self.pkg_dir())? {
                return Err(format!(
                    "the relaxed-SIMD build's JS glue ({}) differs from pkg/'s: the page cannot load both modules through one glue",
                    out.display()
                ));
            }
            self.finish(
                &out.join(format!("{}_bg.wasm", self.build.out_name)),
                &relaxed,
            )?;
        }
        Ok(())
    }

    /// Build `pkg/` unless it is fresh.
    pub fn ensure_pkg(&self) -> Result {
        if self.pkg_is_stale() {
            self.build_pkg()
        } else {
            eprintln!("pkg/ is up to date");
            Ok(())
        }
    }

    /// `wasm-pack test` over the browser tests.
    pub fn browser_tests(&self) -> Result {
        let t = &self.test;
        for (browser, e2e) in t.browsers.iter().zip(t.e2e_browsers()?) {
            let mut cmd = Command::new("wasm-pack");
            cmd.args(["test", "--headless", &format!("--{browser}")]);
            // The runner gives the whole suite 20 s by default. Chromium 156 runs it in ≈ 3 s; Firefox ESR
            // 140 (what Debian serves now) ran the same 9 tests in 70 s. A bound, not a figure: speed is
            // the bench's.
            if std::env::var_os("WASM_BINDGEN_TEST_TIMEOUT").is_none() {
                cmd.env("WASM_BINDGEN_TEST_TIMEOUT", "600");
            }
            if e2e == "firefox" {
                cmd.arg("--geckodriver").arg(t.geckodriver_path()?);
            } else {
                cmd.args(["--chromedriver", &t.chromedriver]);
            }
            // wasm-pack test has a flag for `release` only; any other profile goes to cargo test after `--`.
            let release = t.profile == "release";
            if release {
                cmd.arg("--release");
            }
            cmd.args(["--", "--locked"]);
            if !release {
                cmd.args(["--profile", &t.profile]);
            }
            for test in &t.tests {
                cmd.args(["--test", test]);
            }
            run(&mut cmd)?;
        }
        Ok(())
    }
}

impl Test {
    /// The end-to-end suite's names for [`Test::browsers`] (tests/e2e/driver.mjs's `BROWSER`), so one list
    /// says where both browser suites run; the one place a browser name is checked.
    pub fn e2e_browsers(&self) -> Result<Vec<&'static str>> {
        self.browsers
            .iter()
            .map(|b| match b.as_str() {
                "chrome" => Ok("chromium"),
                "firefox" => Ok("firefox"),
                other => Err(format!(
                    "wasm-pack.toml [test] browsers: {other:?} is not one of \"chrome\", \"firefox\""
                )),
            })
            .collect()
    }

    /// geckodriver's full path.
    pub fn geckodriver_path(&self) -> Result<PathBuf> {
        on_path(&self.geckodriver)
    }
}

/// `program`'s full path: itself when it names a path, else the first match on PATH.
fn on_path(program: &str) -> Result<PathBuf> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{program} is not on PATH"))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn newest(dir: &Path) -> Option<SystemTime> {
    let mut best = mtime(dir);
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        let t = if p.is_dir() { newest(&p) } else { mtime(&p) };
        best = best.max(t);
    }
    best
}

/// Copy a built module from `from` to `to` without its `name` section.
fn strip_names(from: &Path, to: &Path) -> Result {
    let built = std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let (stripped, gone) = crate::wasm::without_custom_sections(&built, &["name"])
        .map_err(|e| format!("{}: {e}", from.display()))?;
    std::fs::write(to, &stripped).map_err(|e| format!("{}: {e}", to.display()))?;
    eprintln!(
        "built {} ({:.2} MB; its {:.2} MB name section removed)",
        to.display(),
        stripped.len() as f64 / 1e6,
        gone as f64 / 1e6
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_profile_agrees_with_cargo_toml() {
        let p = Profile::load().unwrap();
        assert_eq!(p.build.target, "web");
        assert_eq!(p.build.out_dir, "pkg");
        assert!(p.test.tests.contains(&"web".to_string()));
        assert!(p.wasm_path().ends_with("pkg/countscope_bg.wasm"));
    }
}
