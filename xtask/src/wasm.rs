//! Section-level surgery on a built wasm module: drop custom sections the page does not need.
//!
//! The `name` section maps function indices to Rust symbol names. It only makes browser stack traces
//! readable, and it is 1.9 MB of the 17 MB module (≈ 0.4 MB gzipped), so `pkg/` ships without it. Rust panics
//! still reach the page as messages; only the frames of a wasm trap lose their names.

use crate::Result;

fn leb_u32(bytes: &[u8], mut at: usize) -> Option<(u32, usize)> {
    let (mut value, mut shift) = (0u32, 0);
    loop {
        let b = *bytes.get(at)?;
        at += 1;
        value |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b < 0x80 {
            return Some((value, at));
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
}

/// The module without the custom sections named in `drop` (every other byte kept, in order), and how many
/// bytes went.
pub fn without_custom_sections(module: &[u8], drop: &[&str]) -> Result<(Vec<u8>, usize)> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err("not a wasm module (no \\0asm header)".into());
    }
    let mut out = module[..8].to_vec();
    let mut at = 8;
    while at < module.len() {
        let start = at;
        let id = module[at];
        let (size, body) = leb_u32(module, at + 1).ok_or("a section size is not a valid LEB128")?;
        let end = body
            .checked_add(size as usize)
            .filter(|&e| e <= module.len())
            .ok_or("a section runs past the end of the module")?;
        let dropped = id == 0
            && leb_u32(module, body).is_some_and(|(len, name)| {
                module
                    .get(name..name + len as usize)
                    .is_some_and(|n| drop.iter().any(|d| d.as_bytes() == n))
            });
        if !dropped {
            out.extend_from_slice(&module[start..end]);
        }
        at = end;
    }
    let gone = module.len() - out.len();
    Ok((out, gone))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(name: &str, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(payload);
        let mut s = vec![0, body.len() as u8];
        s.extend(body);
        s
    }

    #[test]
    fn drops_only_the_named_custom_sections() {
        let header = b"\0asm\x01\0\0\0".to_vec();
        let types = vec![1u8, 4, 1, 0x60, 0, 0]; // one type: () -> ()
        let module: Vec<u8> = [
            header.clone(),
            types.clone(),
            custom("name", &[1, 2, 3, 4, 5]),
            custom("producers", &[9]),
        ]
        .concat();
        let (out, gone) = without_custom_sections(&module, &["name"]).unwrap();
        assert_eq!(out, [header, types, custom("producers", &[9])].concat());
        assert_eq!(gone, custom("name", &[1, 2, 3, 4, 5]).len());
        assert!(without_custom_sections(b"notwasm!", &["name"]).is_err());
        let mut truncated = module.clone();
        truncated.truncate(module.len() - 1);
        assert!(without_custom_sections(&truncated, &["name"]).is_err());
    }
}
