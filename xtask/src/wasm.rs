//! Section-level surgery on built wasm: drop custom sections the page does not need, and swap the core
//! modules inside a component (for wasm-opt, which reads core modules only).
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

/// One section of a module or component: its id, and where it starts, where its body starts and where it
/// ends in the bytes.
struct Section {
    id: u8,
    start: usize,
    body: usize,
    end: usize,
}

/// The sections after the 8-byte preamble (module and component preambles have the same length and the
/// same section framing: an id byte, a LEB128 size, the body).
fn sections(bytes: &[u8]) -> impl Iterator<Item = Result<Section>> + '_ {
    let mut at = 8;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        let section = leb_u32(bytes, at + 1)
            .ok_or_else(|| "a section size is not a valid LEB128".to_string())
            .and_then(|(size, body)| {
                body.checked_add(size as usize)
                    .filter(|&e| e <= bytes.len())
                    .map(|end| Section {
                        id: bytes[start],
                        start,
                        body,
                        end,
                    })
                    .ok_or_else(|| "a section runs past the end".to_string())
            });
        // After an error the walk stops: nothing past a broken size can be trusted.
        at = section.as_ref().map_or(bytes.len(), |s| s.end);
        Some(section)
    })
}

/// The module without the custom sections named in `drop` (every other byte kept, in order), and how many
/// bytes went.
pub fn without_custom_sections(module: &[u8], drop: &[&str]) -> Result<(Vec<u8>, usize)> {
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return Err("not a wasm module (no \\0asm header)".into());
    }
    let mut out = module[..8].to_vec();
    for section in sections(module) {
        let Section {
            id,
            start,
            body,
            end,
        } = section?;
        let dropped = id == 0
            && leb_u32(module, body).is_some_and(|(len, name)| {
                module
                    .get(name..name + len as usize)
                    .is_some_and(|n| drop.iter().any(|d| d.as_bytes() == n))
            });
        if !dropped {
            out.extend_from_slice(&module[start..end]);
        }
    }
    let gone = module.len() - out.len();
    Ok((out, gone))
}

fn leb_bytes(mut value: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    loop {
        let b = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// The component with each of its top-level core modules (section id 1) replaced by `f(module)`, every
/// other section kept byte for byte. wasm-opt understands core modules, not components, so this is how a
/// component gets optimised: the component's own sections (types, imports, canonical functions,
/// instances) only name the modules by index, so swapping a module's bytes for an equivalent module with
/// the same imports and exports keeps the component valid. Nested components (section id 4) are kept
/// as they are; `wasm-component-ld` emits none for a Rust component.
pub fn map_core_modules(
    component: &[u8],
    mut f: impl FnMut(&[u8]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    // A component's preamble: magic, version 0x0d, layer 1.
    if component.len() < 8 || component[..8] != *b"\0asm\x0d\0\x01\0" {
        return Err("not a wasm component (no \\0asm component preamble)".into());
    }
    let mut out = component[..8].to_vec();
    for section in sections(component) {
        let Section {
            id,
            start,
            body,
            end,
        } = section?;
        if id == 1 {
            let module = f(&component[body..end])?;
            let len = u32::try_from(module.len()).map_err(|_| "a core module over 4 GiB")?;
            out.push(1);
            out.extend(leb_bytes(len));
            out.extend(module);
        } else {
            out.extend_from_slice(&component[start..end]);
        }
    }
    Ok(out)
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

    #[test]
    fn swaps_core_modules_and_keeps_every_other_section() {
        let preamble = b"\0asm\x0d\0\x01\0".to_vec();
        let module = |n: usize| [b"\0asm\x01\0\0\0".to_vec(), vec![0x42; n]].concat();
        let section =
            |id: u8, body: &[u8]| [vec![id], leb_bytes(body.len() as u32), body.to_vec()].concat();
        let other = section(7, &[1, 2, 3]);
        let component = [
            preamble.clone(),
            section(1, &module(200)),
            other.clone(),
            section(1, &module(3)),
        ]
        .concat();
        let mut seen = vec![];
        let out = map_core_modules(&component, |m| {
            seen.push(m.len());
            Ok(m[..9].to_vec())
        })
        .unwrap();
        assert_eq!(seen, [208, 11]);
        let nine = section(1, &module(1));
        assert_eq!(out, [preamble, nine.clone(), other, nine].concat());
        // A size of 208 takes two LEB128 bytes, 9 takes one: the lengths were re-encoded.
        assert_eq!(leb_bytes(208), [0xd0, 0x01]);
        assert!(map_core_modules(&module(3), |m| Ok(m.to_vec())).is_err());
        let mut truncated = component.clone();
        truncated.truncate(component.len() - 1);
        assert!(map_core_modules(&truncated, |m| Ok(m.to_vec())).is_err());
    }
}
