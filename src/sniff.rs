//! What a file is, from its first bytes: how the page sorts a drop of several files (a recording, a model,
//! its companions) without asking which is which.
//!
//! Content decides, never the extension, with one exception: raw external weight data (`*.onnx.data`) is
//! bare floats with no signature, so a file is that when its name says so (`*.data`, `*.bin`), which is
//! also how the model refers to it.

/// How many leading bytes [`FileKind::sniff`] looks at.
pub const SNIFF_BYTES: usize = 64;

/// The kinds of file the page accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A recording: JSON lines, or gzip (told apart again when read).
    Recording,
    /// An ONNX model (protobuf whose first field is `ir_version`).
    Onnx,
    /// A safetensors file: an ONNX model's weights, or a CountNet model on its own.
    Safetensors,
    /// External weight data an ONNX model names (`*.onnx.data`).
    Data,
    /// A `.temperature` sidecar: one number as text.
    Temperature,
    /// None of these.
    Unknown,
}

impl FileKind {
    /// The kind of a file from its first [`SNIFF_BYTES`] bytes (fewer for a smaller file), its name and
    /// its size.
    pub fn sniff(head: &[u8], name: &str, size: u64) -> FileKind {
        let head = &head[..head.len().min(SNIFF_BYTES)];
        let lower = name.to_ascii_lowercase();
        let text = String::from_utf8_lossy(head);
        let text = text.trim_start_matches('\u{feff}').trim_start();
        let number = text.trim_end();
        if lower.ends_with(".data") || lower.ends_with(".bin") {
            FileKind::Data
        } else if head.len() > 8 && head[8] == b'{' && head[4..8] == [0; 4] {
            // An 8-byte little-endian header length (its high bytes zero), then the JSON header.
            FileKind::Safetensors
        } else if head.starts_with(&[0x1f, 0x8b]) || text.starts_with('{') {
            FileKind::Recording
        } else if head.len() > 2 && head[0] == 0x08 && head[1] < 0x20 {
            FileKind::Onnx
        } else if size < 64
            && !number.is_empty()
            && number
                .chars()
                .all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
        {
            FileKind::Temperature
        } else {
            FileKind::Unknown
        }
    }

    /// The kind's name, as the page's JavaScript sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Recording => "recording",
            FileKind::Onnx => "model",
            FileKind::Safetensors => "safetensors",
            FileKind::Data => "data",
            FileKind::Temperature => "temperature",
            FileKind::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_told_apart_by_content() {
        let sniff = |head: &[u8], name| FileKind::sniff(head, name, head.len() as u64);
        assert_eq!(sniff(b"{\"csi\":[1,2]}\n", "x.txt"), FileKind::Recording);
        assert_eq!(
            sniff(b"\xef\xbb\xbf  {\"csi\":1}", "x"),
            FileKind::Recording
        );
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0], "rec.gz"), FileKind::Recording);
        assert_eq!(sniff(&[0x08, 0x08, 0x12, 0x07], "m.onnx"), FileKind::Onnx);
        let mut st = vec![0x10, 0, 0, 0, 0, 0, 0, 0];
        st.extend_from_slice(b"{\"a\":{}}");
        assert_eq!(sniff(&st, "w.safetensors"), FileKind::Safetensors);
        assert_eq!(sniff(&[1, 2, 3, 4], "count_v2.onnx.data"), FileKind::Data);
        assert_eq!(
            sniff(b"1.25\n", "count_v1.temperature"),
            FileKind::Temperature
        );
        assert_eq!(sniff(b"\x89PNG\r\n", "photo.png"), FileKind::Unknown);
        assert_eq!(sniff(b"", "empty"), FileKind::Unknown);
        assert_eq!(FileKind::sniff(b"1.25", "big", 1 << 20), FileKind::Unknown);
    }
}
