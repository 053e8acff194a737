//! ONNX external data: initializers whose bytes live in a companion file named by `location`.
//!
//! countscope reads those bytes itself (through [`ExternalData`], supplied by the shell: a folder in the CLI,
//! files dropped together in the browser) and inlines them into the protobuf before tract sees it. tract's
//! own path-based loading canonicalises directories, which fails under WASI and would let a model file
//! choose which files the CLI reads.

use super::safetensors::{normalise_name, SafeTensors};
use super::ModelError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::HashMap;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::{ModelProto, TensorProto};

/// Supplies the bytes of a companion file named by an ONNX `location`, already checked by
/// [`check_location`] to be a plain relative path inside the model's folder.
pub trait ExternalData {
    /// The file's bytes, `Ok(None)` when there is no such file, an error when it exists but cannot be
    /// read or is refused (a link out of the folder: `PermissionDenied`).
    fn read(&self, location: &str) -> std::io::Result<Option<Vec<u8>>>;
}

/// No companion files at all (a self-contained model, or a model dropped alone).
pub struct NoExternalData;

impl ExternalData for NoExternalData {
    fn read(&self, _: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Companion files given as named byte buffers (the browser's dropped files, tests).
impl ExternalData for HashMap<String, Vec<u8>> {
    fn read(&self, location: &str) -> std::io::Result<Option<Vec<u8>>> {
        let base = location.rsplit('/').next().unwrap_or(location);
        Ok(self.get(location).or_else(|| self.get(base)).cloned())
    }
}

/// Refuse any `location` that could leave the model's folder: absolute paths, `..`, drive or UNC prefixes,
/// backslashes, empty components. Returns the location unchanged when it is a plain relative path.
pub fn check_location(location: &str) -> Result<&str, ModelError> {
    let refuse = |why: &str| ModelError::UnsafeLocation {
        location: location.to_string(),
        why: why.to_string(),
    };
    if location.is_empty() {
        return Err(refuse("it is empty"));
    }
    if location.starts_with('/') || location.contains('\\') || location.contains(':') {
        return Err(refuse("it is not a plain relative path"));
    }
    if location.contains('\0') {
        return Err(refuse("it contains a NUL byte"));
    }
    for part in location.split('/') {
        match part {
            ".." => return Err(refuse("it climbs out of the model's folder with '..'")),
            "" => return Err(refuse("it has an empty path component")),
            _ => {}
        }
    }
    Ok(location)
}

fn entry<'a>(t: &'a TensorProto, key: &str) -> Option<&'a str> {
    t.external_data
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

fn is_external(t: &TensorProto) -> bool {
    t.data_location == Some(DataLocation::External as i32)
}

/// Every companion file the model names, with the initializers stored in it, in name order.
pub fn external_files(proto: &ModelProto) -> BTreeMap<String, Vec<String>> {
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in proto
        .graph
        .iter()
        .flat_map(|g| g.initializer.iter())
        .filter(|t| is_external(t))
    {
        let loc = entry(t, "location").unwrap_or("").to_string();
        files.entry(loc).or_default().push(t.name.clone());
    }
    files
}

/// ONNX data types of floating-point weights (float, float16, double, bfloat16): what counts as a weight.
pub(crate) const FLOAT_TYPES: [i32; 4] = [1, 10, 11, 16];

/// A safetensors file supplied to fill an ONNX model's missing external weights, with its file name.
pub struct Weights {
    /// The file's name, for messages and the report (`count_v1.safetensors`).
    pub file: String,
    /// Its parsed contents.
    pub tensors: SafeTensors,
}

/// Which file supplied which initializers: what the CLI prints and the report carries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WeightSource {
    /// The file (the model itself for inline initializers).
    pub file: String,
    /// The initializers it supplied, by their names in the model.
    pub tensors: Vec<String>,
}

/// Replace every external initializer's reference by its bytes, read once per file through `source`. A
/// file that `source` does not have is filled from `weights` when given: every initializer it names is
/// looked up there by [`normalise_name`], and its dtype and shape must agree. Returns which file supplied
/// which initializers, the model's own (`model_name`) first.
#[inline(never)] // a load's step: see `CountModel::load_with`
pub fn inline(
    proto: &mut ModelProto,
    source: &dyn ExternalData,
    weights: Option<&Weights>,
    model_name: &str,
) -> Result<Vec<WeightSource>, ModelError> {
    let needed = external_files(proto);
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut from_weights: Vec<String> = Vec::new();
    for (location, tensors) in &needed {
        check_location(location)?;
        match source.read(location) {
            Ok(Some(bytes)) => {
                files.insert(location.clone(), bytes);
            }
            Ok(None) if weights.is_some() => from_weights.push(location.clone()),
            Ok(None) => {
                return Err(ModelError::MissingExternal {
                    file: location.clone(),
                    tensors: tensors.len(),
                    weights: super::weights_name(model_name),
                });
            }
            Err(why) => {
                return Err(ModelError::ExternalUnreadable {
                    file: location.clone(),
                    why: why.to_string(),
                })
            }
        }
    }
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(Vec::new());
    };
    let mut sources = vec![WeightSource {
        file: model_name.to_string(),
        tensors: graph
            .initializer
            .iter()
            .filter(|t| !is_external(t) && FLOAT_TYPES.contains(&t.data_type))
            .map(|t| t.name.clone())
            .collect(),
    }];
    let mut record = |file: &str, tensor: &str| match sources.iter_mut().find(|s| s.file == file) {
        Some(s) => s.tensors.push(tensor.to_string()),
        None => sources.push(WeightSource {
            file: file.to_string(),
            tensors: vec![tensor.to_string()],
        }),
    };
    for t in graph.initializer.iter_mut().filter(|t| is_external(t)) {
        let location = entry(t, "location").unwrap_or("").to_string();
        if from_weights.contains(&location) {
            // `from_weights` is only non-empty when `weights` is given.
            let Some(w) = weights else { continue };
            fill_from(t, w, &location)?;
            record(&w.file, &t.name);
            continue;
        }
        let data = &files[&location];
        let number = |key: &str| -> Result<Option<usize>, ModelError> {
            entry(t, key)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| ModelError::ExternalRange {
                            file: location.clone(),
                            tensor: t.name.clone(),
                            why: format!("{key} {v:?} is not a byte count"),
                        })
                })
                .transpose()
        };
        let offset = number("offset")?.unwrap_or(0);
        let length = number("length")?.unwrap_or(data.len().saturating_sub(offset));
        let end = offset
            .checked_add(length)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| ModelError::ExternalRange {
                file: location.clone(),
                tensor: t.name.clone(),
                why: format!(
                    "bytes {offset}..{} requested, the file has {}",
                    offset as u128 + length as u128,
                    data.len()
                ),
            })?;
        t.raw_data = data[offset..end].to_vec();
        t.data_location = Some(DataLocation::Default as i32);
        t.external_data.clear();
        record(&location, &t.name);
    }
    // The model's own entry stays first even when empty: later entries are its companions.
    let mut first = true;
    sources.retain(|s| std::mem::take(&mut first) || !s.tensors.is_empty());
    Ok(sources)
}

/// Fill one external initializer from a safetensors file: the one tensor whose normalised name is the
/// initializer's, of the same shape, as f32.
fn fill_from(t: &mut TensorProto, w: &Weights, location: &str) -> Result<(), ModelError> {
    let key = normalise_name(&t.name);
    let hits: Vec<_> = w
        .tensors
        .tensors()
        .iter()
        .filter(|s| normalise_name(&s.name) == key)
        .collect();
    let mismatch = |expected: String, found: String| ModelError::WeightMismatch {
        tensor: t.name.clone(),
        file: w.file.clone(),
        expected,
        found,
    };
    let st = match hits.as_slice() {
        [one] => *one,
        [] => {
            return Err(ModelError::MissingWeight {
                tensor: t.name.clone(),
                data_file: location.to_string(),
                weights_file: w.file.clone(),
                key,
            })
        }
        many => {
            return Err(mismatch(
                format!("one tensor named like `{}`", t.name),
                many.iter()
                    .map(|s| format!("`{}`", s.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            ))
        }
    };
    if t.data_type != DataType::Float as i32 {
        let onnx = DataType::try_from(t.data_type)
            .map(|d| format!("{d:?}"))
            .unwrap_or_else(|_| format!("type #{}", t.data_type));
        return Err(mismatch(
            format!(
                "an f32 initializer (the model declares {onnx}, which countscope does not fill)"
            ),
            format!("`{}` {}", st.name, st.dtype),
        ));
    }
    let dims: Vec<i64> = st.shape.iter().map(|&d| d as i64).collect();
    if dims != t.dims {
        return Err(mismatch(
            format!("shape {:?} (as the model declares)", t.dims),
            format!("`{}` with shape {:?}", st.name, st.shape),
        ));
    }
    let values = w.tensors.values(st).map_err(|e| ModelError::Weights {
        file: w.file.clone(),
        why: e.to_string(),
    })?;
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.data_location = Some(DataLocation::Default as i32);
    t.external_data.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_that_leave_the_folder_are_refused() {
        for bad in [
            "../x.data",
            "/etc/passwd",
            "a/../../b",
            "C:\\x",
            "c:/x",
            "a//b",
            "",
            "a\\..\\b",
        ] {
            assert!(check_location(bad).is_err(), "{bad}");
        }
        for ok in ["count_v2.onnx.data", "weights/part1.bin", "./w.bin"] {
            assert!(check_location(ok).is_ok(), "{ok}");
        }
    }
}
