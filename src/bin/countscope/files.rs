//! Everything the CLI reads from disk: the recording (in chunks), the model, its external data (never
//! outside the model's folder) and its temperature sidecar.

use crate::cli::Fatal;
use countscope::model::{
    check_location, parse_temperature, sidecar_names, weights_name, CountModel, ExternalData,
    LoadOptions, ModelFormat, SafeTensors, Source, TemperatureSources, Weights,
};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Chunk size for reading recordings: large enough to amortise syscalls, small enough to stream.
const CHUNK: usize = 256 * 1024;

pub fn read(path: &Path) -> Result<Vec<u8>, Fatal> {
    std::fs::read(path).map_err(|e| Fatal::Message(format!("{}: {e}", path.display())))
}

pub fn size_of(path: &Path) -> Option<u64> {
    (path != Path::new("-"))
        .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
        .flatten()
}

/// Stream a file (or standard input for `-`) through `f` in chunks.
pub fn for_each_chunk(
    path: &Path,
    mut f: impl FnMut(&[u8]) -> Result<(), Fatal>,
) -> Result<(), Fatal> {
    let mut reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| Fatal::Message(format!("{}: {e}", path.display())))?,
        )
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Fatal::Message(format!("{}: {e}", path.display()))),
        };
        f(&buf[..n])?;
    }
}

/// External data from the model's folder, refusing anything that would lead out of it.
struct ModelFolder {
    dir: PathBuf,
}

impl ExternalData for ModelFolder {
    fn read(&self, location: &str) -> std::io::Result<Option<Vec<u8>>> {
        let refused = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
        let location = check_location(location).map_err(|e| refused(e.to_string()))?;
        let path = self.dir.join(location);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        match (
            std::fs::canonicalize(&self.dir),
            std::fs::canonicalize(&path),
        ) {
            (Ok(dir), Ok(target)) => {
                if !target.starts_with(&dir) {
                    return Err(refused(format!(
                        "it resolves to {}, outside the model's folder",
                        target.display()
                    )));
                }
            }
            // No canonicalize (WASI): refuse any link on the way instead.
            _ => {
                let mut p = self.dir.clone();
                for part in Path::new(location).components() {
                    p.push(part);
                    if std::fs::symlink_metadata(&p)
                        .map(|m| m.file_type().is_symlink())
                        .unwrap_or(false)
                    {
                        return Err(refused(format!(
                            "{} is a symbolic link, which is not followed here",
                            p.display()
                        )));
                    }
                }
            }
        }
        std::fs::read(&path).map(Some)
    }
}

/// An explicit temperature: `--temperature`, a number or a file holding one.
fn explicit_temperature(flag: Option<&str>) -> Result<Option<(f32, Source)>, Fatal> {
    let Some(flag) = flag else { return Ok(None) };
    if let Ok(t) = parse_temperature(flag) {
        return Ok(Some((t, Source::Explicit)));
    }
    let p = Path::new(flag);
    let text = std::fs::read_to_string(p).map_err(|e| {
        Fatal::Message(format!(
            "--temperature {flag}: neither a number nor a readable file ({e})"
        ))
    })?;
    let t =
        parse_temperature(&text).map_err(|e| Fatal::Message(format!("{}: {e}", p.display())))?;
    Ok(Some((t, Source::Sidecar(file_name(p)))))
}

/// The first sidecar beside the model, by the core's names and order: its name and text.
fn sidecar(model: &Path) -> Result<Option<(String, String)>, Fatal> {
    let dir = model.parent().unwrap_or(Path::new(""));
    for name in sidecar_names(&file_name(model)) {
        let p = dir.join(&name);
        if p.is_file() {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| Fatal::Message(format!("{}: {e}", p.display())))?;
            return Ok(Some((name, text)));
        }
    }
    Ok(None)
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The safetensors file that fills an ONNX model's missing external weights: `--weights FILE`, else
/// `<stem>.safetensors` beside the model when a data file the model names is absent (RuView publishes
/// `count_v1.onnx` with `count_v1.safetensors` and without `count_v2.onnx.data`).
fn weights_for(
    path: &Path,
    bytes: &[u8],
    dir: &Path,
    flag: Option<&Path>,
) -> Result<Option<Weights>, Fatal> {
    let chosen = match flag {
        Some(f) => Some(f.to_path_buf()),
        None => {
            let info = CountModel::inspect(bytes).ok();
            let missing = info.is_some_and(|i| {
                i.format == ModelFormat::Onnx
                    && i.external_files.iter().any(|(f, _)| {
                        check_location(f)
                            .is_ok_and(|f| std::fs::symlink_metadata(dir.join(f)).is_err())
                    })
            });
            let beside = path.with_file_name(weights_name(&file_name(path)));
            (missing && beside.is_file()).then_some(beside)
        }
    };
    let Some(file) = chosen else {
        return Ok(None);
    };
    let bytes = read(&file)?;
    let tensors = SafeTensors::parse(&bytes)
        .map_err(|e| Fatal::Message(format!("{}: weights: {e}", file.display())))?;
    Ok(Some(Weights {
        file: file_name(&file),
        tensors,
    }))
}

/// Load a model file (ONNX, or CountNet safetensors) with its external data, weights and temperature.
/// Says on standard error which file supplied which weights when more than the model file did.
pub fn load_model(
    path: &Path,
    temperature_flag: Option<&str>,
    weights_flag: Option<&Path>,
) -> Result<CountModel, Fatal> {
    let bytes = read(path)?;
    let explicit = explicit_temperature(temperature_flag)?;
    let side = sidecar(path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let weights = weights_for(path, &bytes, &dir, weights_flag)?;
    let name = file_name(path);
    let model = CountModel::load_with(
        &bytes,
        LoadOptions {
            name: &name,
            external: &ModelFolder { dir },
            weights: weights.as_ref(),
            temperature: TemperatureSources {
                explicit,
                sidecar: side.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            },
        },
    )
    .map_err(|e| Fatal::Message(format!("{}: {e}", path.display())))?;
    if model.weights().len() > 1 {
        eprintln!("countscope: weights: {}", describe_weights(&model));
    }
    Ok(model)
}

/// `6 tensor(s) from count_v1.onnx; 8 from count_v1.safetensors (enc_c1.weight, …)`.
pub fn describe_weights(model: &CountModel) -> String {
    model
        .weights()
        .iter()
        .map(|s| {
            format!(
                "{} tensor(s) from {} ({})",
                s.tensors.len(),
                s.file,
                s.tensors.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
