//! ONNX external data: initializers whose bytes live in a companion file named by `location`.
//!
//! countscope reads those bytes itself (through [`ExternalData`], supplied by the shell: a folder in the CLI,
//! files dropped together in the browser) and inlines them into the protobuf before tract sees it. tract's
//! own path-based loading canonicalises directories, which fails under WASI and would let a model file
//! choose which files the CLI reads.

use super::ModelError;
use std::collections::BTreeMap;
use std::collections::HashMap;
use tract_onnx::pb::{tensor_proto::DataLocation, ModelProto, TensorProto};

/// Supplies the bytes of a companion file named by an ONNX `location`, already checked by
/// [`check_location`] to be a plain relative path inside the model's folder.
pub trait ExternalData {
    /// The file's bytes, `Ok(None)` when there is no such file, `Err(reason)` when it exists but cannot
    /// be read or is refused.
    fn read(&self, location: &str) -> Result<Option<Vec<u8>>, String>;
}

/// No companion files at all (a self-contained model, or a model dropped alone).
pub struct NoExternalData;

impl ExternalData for NoExternalData {
    fn read(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Companion files given as named byte buffers (the browser's dropped files, tests).
impl ExternalData for HashMap<String, Vec<u8>> {
    fn read(&self, location: &str) -> Result<Option<Vec<u8>>, String> {
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

/// Replace every external initializer's reference by its bytes, read once per file through `source`.
pub fn inline(proto: &mut ModelProto, source: &dyn ExternalData) -> Result<(), ModelError> {
    let needed = external_files(proto);
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for (location, tensors) in &needed {
        check_location(location)?;
        match source.read(location) {
            Ok(Some(bytes)) => {
                files.insert(location.clone(), bytes);
            }
            Ok(None) => {
                return Err(ModelError::MissingExternal {
                    file: location.clone(),
                    tensors: tensors.len(),
                })
            }
            Err(why) => {
                return Err(ModelError::ExternalUnreadable {
                    file: location.clone(),
                    why,
                })
            }
        }
    }
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(());
    };
    for t in graph.initializer.iter_mut().filter(|t| is_external(t)) {
        let location = entry(t, "location").unwrap_or("").to_string();
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
    }
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
