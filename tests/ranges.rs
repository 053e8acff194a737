//! A recording split by bytes (`recording::range`): every range replayed on its own, from its
//! `read_from` byte, and the outcomes appended in order, is the replay of the whole file: the same
//! predictions bit for bit with the same line numbers, the same bad lines, layouts, kept windows and input
//! summary. The same file gzip-compressed, split by its decoded text, appends to its own whole replay. The file has bad lines at range edges, a blank line, a line longer than a range, and a last
//! line without its newline; it is the first 240 lines of the 30-minute sample (SYNTHETIC).

use countscope::model::{CountModel, NoExternalData};
use countscope::recording::range::LineRange;
use countscope::recording::Decoder;
use countscope::replay::Outcome;
use countscope::{LayoutPolicy, Replay};
use std::path::PathBuf;

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts")
}

/// The sample's first 240 lines with damage: (file bytes, byte offsets where damaged lines begin).
fn damaged_sample() -> (Vec<u8>, Vec<u64>) {
    let gz = std::fs::read(artifacts().join("recordings/room0-30min.paired.jsonl.gz")).unwrap();
    let mut plain = Vec::new();
    let mut decoder = Decoder::default();
    decoder
        .push(&gz, &mut |bytes| plain.extend_from_slice(bytes))
        .unwrap();
    decoder
        .finish(&mut |bytes| plain.extend_from_slice(bytes))
        .unwrap();
    let mut lines: Vec<Vec<u8>> = plain
        .split(|&b| b == b'\n')
        .take(240)
        .map(<[u8]>::to_vec)
        .collect();
    lines[3] = b"{\"csi\": [1, 2, 3".to_vec();
    lines[40] = Vec::new();
    lines[41] = b"not json".to_vec();
    // Longer than the 64 KiB ranges below: it covers whole ranges, which then own nothing.
    lines[100] = vec![b'x'; 200_000];
    lines[101] = b"{\"csi\": 7}".to_vec();
    let mut file = Vec::new();
    let mut starts = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if [3, 41, 100, 101].contains(&i) {
            starts.push(file.len() as u64);
        }
        file.extend_from_slice(l);
        if i + 1 < lines.len() {
            file.push(b'\n');
        }
    }
    (file, starts)
}

fn model() -> CountModel {
    let onnx = std::fs::read(artifacts().join("count_v1.onnx")).unwrap();
    CountModel::load(&onnx, &NoExternalData, None).unwrap()
}

/// One replay of `bytes` from `range` (all of it when `None`), pushed in chunks of `chunk` bytes.
fn replay(model: &CountModel, file: &[u8], range: Option<LineRange>, chunk: usize) -> Outcome {
    let mut r = Replay::new(model, LayoutPolicy::Labelled, false);
    r.keep_windows();
    let from = range.map_or(0, |g| g.read_from() as usize);
    if let Some(g) = range {
        r.read_range(g).unwrap();
    }
    for c in file[from..].chunks(chunk) {
        r.push(c).unwrap();
        if r.range_done() {
            break;
        }
    }
    r.finish().unwrap()
}

fn assert_same(whole: &Outcome, merged: &Outcome, what: &str) {
    assert_eq!(
        whole.predictions.len(),
        merged.predictions.len(),
        "{what}: windows"
    );
    for (a, b) in whole.predictions.iter().zip(&merged.predictions) {
        assert_eq!(a.line, b.line, "{what}: line numbers");
        let bits = |p: &countscope::FramePrediction| {
            p.count_logits
                .iter()
                .chain([&p.conf_logit])
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(a), bits(b), "{what}: logits of line {}", a.line);
        assert_eq!(a, b, "{what}: prediction of line {}", a.line);
    }
    // Bad lines (counted, the first ones kept), synthetic tags, gzip and framing.
    assert_eq!(whole.diagnostics, merged.diagnostics, "{what}: diagnostics");
    assert_eq!(whole.layout, merged.layout, "{what}: layouts");
    assert_eq!(whole.bytes, merged.bytes, "{what}: bytes");
    assert_eq!(whole.lines, merged.lines, "{what}: lines");
    assert_eq!(whole.input(), merged.input(), "{what}: input summary");
    let (ws, ms) = (
        whole.windows.as_ref().unwrap(),
        merged.windows.as_ref().unwrap(),
    );
    assert_eq!(ws.len(), ms.len(), "{what}: kept windows");
    for i in (0..ws.len()).step_by(7) {
        assert_eq!(ws.window(i), ms.window(i), "{what}: kept window {i}");
    }
}

#[test]
fn ranges_appended_in_order_are_the_whole_replay() {
    let model = model();
    let (file, damaged) = damaged_sample();
    let len = file.len() as u64;
    let gz = gzip(&file);
    let whole = replay(&model, &file, None, 1 << 16);
    let whole_gz = replay(&model, &gz, None, 1 << 16);
    assert_eq!(whole.diagnostics.skipped_lines, 4, "the four damaged lines");
    assert_eq!(
        whole
            .diagnostics
            .line_errors
            .iter()
            .map(|e| e.line)
            .collect::<Vec<_>>(),
        [4, 42, 101, 102]
    );

    // Even cuts (64 KiB), and cuts on the damaged lines' first bytes, one before and one after them.
    let even: Vec<u64> = (1..len / 65_536 + 1).map(|k| k * 65_536).collect();
    let edges: Vec<u64> = damaged.iter().flat_map(|&s| [s - 1, s, s + 1]).collect();
    for (what, cuts) in [
        ("even 64 KiB ranges", even),
        ("cuts at the bad lines", edges),
    ] {
        let mut bounds = vec![0];
        bounds.extend(cuts.into_iter().filter(|&c| c > 0 && c < len));
        bounds.push(len);
        bounds.sort_unstable();
        bounds.dedup();
        // Plain, and gzip split by its decoded text (every range decodes the file from its first byte).
        for (chunk, compressed) in [
            (4093, false),
            (1 << 16, false),
            (4093, true),
            (1 << 16, true),
        ] {
            let (bytes, whole) = if compressed {
                (&gz, &whole_gz)
            } else {
                (&file, &whole)
            };
            let mut merged: Option<Outcome> = None;
            let mut empty = 0;
            for w in bounds.windows(2) {
                let part = replay(
                    &model,
                    bytes,
                    Some(LineRange {
                        start: w[0],
                        // A gzip file's last range runs on: its length is only a hint.
                        end: if compressed && w[1] == len {
                            u64::MAX
                        } else {
                            w[1]
                        },
                        compressed,
                    }),
                    chunk,
                );
                empty += usize::from(part.lines == 0);
                match &mut merged {
                    None => merged = Some(part),
                    Some(m) => m.append(part).unwrap(),
                }
            }
            if what.starts_with("even") {
                assert!(
                    empty >= 2,
                    "the long line covers whole ranges, which own no line"
                );
            }
            assert_same(
                whole,
                &merged.unwrap(),
                &format!("{what}, chunks of {chunk}, gzip {compressed}"),
            );
        }
    }
}

/// A gzip file cut short: the ranges before the break read their lines and stop; the ranges it cuts
/// into, and those after it, meet the break; appended, they say what the whole replay says.
#[test]
fn a_broken_gzip_file_split_by_its_text_breaks_where_the_whole_replay_does() {
    let model = model();
    let (file, _) = damaged_sample();
    let gz = gzip(&file);
    let broken = &gz[..gz.len() * 2 / 3];
    let whole = replay(&model, broken, None, 1 << 16);
    assert!(whole.diagnostics.stream_error.is_some());
    let len = file.len() as u64;
    let cuts: Vec<u64> = (0..6).map(|k| len * k / 6).collect();
    let mut merged: Option<Outcome> = None;
    for (k, &start) in cuts.iter().enumerate() {
        let end = cuts.get(k + 1).copied().unwrap_or(u64::MAX);
        let part = replay(
            &model,
            broken,
            Some(LineRange {
                start,
                end,
                compressed: true,
            }),
            4093,
        );
        match &mut merged {
            None => merged = Some(part),
            Some(m) => m.append(part).unwrap(),
        }
    }
    assert_same(&whole, &merged.unwrap(), "a gzip file cut short");
}

#[test]
fn what_cannot_be_split_by_bytes_is_refused() {
    let model = model();
    let gz = std::fs::read(artifacts().join("recordings/room0-30min.paired.jsonl.gz")).unwrap();
    let mut r = Replay::new(&model, LayoutPolicy::Labelled, false);
    r.read_range(LineRange {
        start: 0,
        end: gz.len() as u64 / 2,
        compressed: false,
    })
    .unwrap();
    let err = r.push(&gz[..4096]).unwrap_err();
    assert!(err.to_string().contains("gzip"), "{err}");
    // A range of decoded text asked of a plain file.
    let (plain, _) = damaged_sample();
    let mut r = Replay::new(&model, LayoutPolicy::Labelled, false);
    r.read_range(LineRange {
        start: 0,
        end: 1000,
        compressed: true,
    })
    .unwrap();
    let err = r.push(&plain[..4096]).unwrap_err();
    assert!(err.to_string().contains("plain file"), "{err}");
}

/// `file` gzip-compressed (one member).
fn gzip(file: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(file).unwrap();
    z.finish().unwrap()
}
