//! Browser tests: the wasm-bindgen API in a real headless Chromium (`wasm-pack test --headless --chrome`,
//! run by `cargo xtask test`).
//!
//! They stream the sample recording through [`Session`] in odd-sized chunks and check the logits against
//! onnxruntime's committed reference (`artifacts/reference.json`), load a model with external data from
//! named buffers, check the errors a person sees, and draw into real canvases: the pixels must not be
//! blank, and the cursor must move when the current window does.

#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
// `expect_err` needs the Ok type to be Debug, and wasm-bindgen's exported types (Model, Replayed) are not.
#![allow(clippy::err_expect)]

use countscope::web::{draw_heatmap, InputScan, Model, Plots, Replayed, Session, Simulation};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

wasm_bindgen_test_configure!(run_in_browser);

const MODEL: &[u8] = include_bytes!("../artifacts/count_v1.onnx");
const SAMPLE: &[u8] =
    include_bytes!("../artifacts/recordings/room100-heldout-10min.paired.jsonl.gz");
const REFERENCE: &str = include_str!("../artifacts/reference.json");

fn replay_in_chunks(model: &Model, bytes: &[u8], sizes: &[usize]) -> Replayed {
    replay_shard(model, bytes, sizes, 0, 1)
}

fn replay_shard(
    model: &Model,
    bytes: &[u8],
    sizes: &[usize],
    shard: usize,
    shards: usize,
) -> Replayed {
    let mut session =
        Session::new(model, None, shard == 0, Some(shard), Some(shards)).expect("session");
    let (mut at, mut k) = (0, 0);
    while at < bytes.len() {
        let end = (at + sizes[k % sizes.len()]).min(bytes.len());
        session.push(&bytes[at..end]).expect("push");
        at = end;
        k += 1;
    }
    session.finish().expect("finish")
}

#[wasm_bindgen_test]
fn odd_chunks_give_onnxruntimes_logits() {
    let model = Model::new(MODEL, JsValue::UNDEFINED).expect("the sample model loads");
    let replayed = replay_in_chunks(&model, SAMPLE, &[1, 7, 4093, 65_537, 13]);
    assert_eq!(replayed.len(), 747, "windows in the held-out sample");

    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let block = reference["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["recording"] == "recordings/room100-heldout-10min.paired.jsonl.gz")
        .expect("reference block for the held-out sample");
    let tolerance = reference["tolerance"].as_f64().unwrap() as f32;
    let (lines, logits, conf) = (
        replayed.line(),
        replayed.count_logits(),
        replayed.conf_logit(),
    );
    let mut checked = 0;
    for (k, line) in block["lines"].as_array().unwrap().iter().enumerate() {
        let i = lines
            .iter()
            .position(|&l| l as u64 == line.as_u64().unwrap())
            .expect("referenced line replayed");
        for c in 0..8 {
            let want = block["count_logits"][k][c].as_f64().unwrap() as f32;
            let got = logits[i * 8 + c];
            assert!(
                (got - want).abs() <= tolerance,
                "line {line} class {c}: {got} vs {want}"
            );
        }
        let want = block["conf_logits"][k].as_f64().unwrap() as f32;
        assert!(
            (conf[i] - want).abs() <= tolerance,
            "line {line} confidence"
        );
        checked += 1;
    }
    assert_eq!(checked, 64);

    // Chunking never changes anything: one push gives identical columns.
    let whole = replay_in_chunks(&model, SAMPLE, &[usize::MAX / 2]);
    assert_eq!(whole.count_logits(), replayed.count_logits());
    assert_eq!(whole.confidence(), replayed.confidence());

    // The report is the CLI's struct: synthetic marked first, the sample's numbers.
    let report = replayed.report(None, true).unwrap();
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).unwrap();
    assert_eq!(get(&report, "windows").as_f64(), Some(747.0));
    let findings = js_sys::Array::from(&get(&report, "findings"));
    assert_eq!(
        get(&findings.get(0), "code").as_string().as_deref(),
        Some("synthetic-recording")
    );
    assert!(replayed
        .report_text(None, false)
        .unwrap()
        .contains("ADR-103"));
    // One build for both: the same report and the same text as the two separate calls.
    let both = replayed.report_with_text(None, true).unwrap();
    assert_eq!(
        js_sys::JSON::stringify(&get(&both, "report")).unwrap(),
        js_sys::JSON::stringify(&report).unwrap()
    );
    assert_eq!(
        get(&both, "text").as_string(),
        Some(replayed.report_text(None, true).unwrap())
    );
    assert!(replayed.csv().lines().count() == 748);
    assert_eq!(replayed.window(0).map(|w| w.len()), Some(1120));
}

/// Hand `other`'s columns to `first`, as the page's primary worker does with a helper's.
fn merge(first: &mut Replayed, other: &Replayed) -> Result<(), wasm_bindgen::JsError> {
    first.merge_shard(
        other.line(),
        other.ts_start(),
        other.ts_end(),
        other.truth(),
        other.count_logits(),
        other.conf_logit(),
    )
}

/// The page replays on every core: each worker reads all the bytes and infers its share of the batches,
/// then shard 0 merges the others' columns. The merged replay equals the unsharded one, column for column.
#[wasm_bindgen_test]
fn sharded_replays_merge_into_the_unsharded_replay() {
    let model = Model::new(MODEL, JsValue::UNDEFINED).expect("the sample model loads");
    let whole = replay_in_chunks(&model, SAMPLE, &[65_536]);
    for shards in [2, 3] {
        let mut first = replay_shard(&model, SAMPLE, &[65_536], 0, shards);
        assert!(
            first.len() < whole.len(),
            "shard 0 of {shards} infers only its share"
        );
        for k in 1..shards {
            let other = replay_shard(&model, SAMPLE, &[4093], k, shards);
            merge(&mut first, &other).expect("merge");
        }
        assert_eq!(first.len(), 747);
        assert_eq!(first.line(), whole.line());
        assert_eq!(first.count(), whole.count());
        assert_eq!(first.count_logits(), whole.count_logits());
        assert_eq!(first.confidence(), whole.confidence());
        assert_eq!(first.p95_low(), whole.p95_low());
        assert_eq!(first.truth(), whole.truth());
        assert_eq!(first.csv(), whole.csv());
        assert_eq!(
            first.report_text(None, false).unwrap(),
            whole.report_text(None, false).unwrap()
        );
        assert_eq!(
            first.window(700),
            whole.window(700),
            "shard 0 keeps every window"
        );
    }
    // Merging the same shard twice is refused, and a shard that does not exist cannot start.
    let mut first = replay_shard(&model, SAMPLE, &[65_536], 0, 2);
    let other = replay_shard(&model, SAMPLE, &[65_536], 0, 2);
    let err = merge(&mut first, &other)
        .err()
        .expect("overlapping shards are refused");
    assert!(format!("{:?}", JsValue::from(err)).contains("predicted by both shards"));
    assert!(Session::new(&model, None, false, Some(2), Some(2)).is_err());
    assert!(first
        .merge_shard(vec![1], vec![], vec![], vec![], vec![], vec![])
        .is_err());
}

#[wasm_bindgen_test]
fn external_data_comes_from_named_buffers_and_its_absence_is_named() {
    let onnx: &[u8] = include_bytes!("fixtures/countnet_external.onnx");
    let data: &[u8] = include_bytes!("fixtures/countnet_external.onnx.data");
    assert_eq!(
        Model::external_files(onnx).unwrap(),
        vec!["countnet_external.onnx.data".to_string()]
    );

    let missing = Model::new(onnx, JsValue::UNDEFINED).err().expect("refused");
    let text: String = JsValue::from(missing)
        .dyn_into::<js_sys::Error>()
        .unwrap()
        .message()
        .into();
    assert!(text.contains("countnet_external.onnx.data"), "{text}");

    let files = js_sys::Object::new();
    set(
        &files,
        "countnet_external.onnx.data",
        js_sys::Uint8Array::from(data).into(),
    );
    let sidecar = js_sys::Object::new();
    set(&sidecar, "name", "countnet_external.temperature".into());
    set(&sidecar, "text", "1.5\n".into());
    let model = Model::new(
        onnx,
        options(&[("external", files.into()), ("sidecar", sidecar.into())]),
    )
    .expect("loads with its data");
    assert!(
        model.calibration_text().contains("1.5"),
        "{}",
        model.calibration_text()
    );

    let wrong: &[u8] = include_bytes!("fixtures/wrong_channels.onnx");
    let err = Model::new(wrong, JsValue::UNDEFINED)
        .err()
        .expect("refused");
    let text: String = JsValue::from(err)
        .dyn_into::<js_sys::Error>()
        .unwrap()
        .message()
        .into();
    assert!(text.contains("expected") && text.contains("56"), "{text}");
}

#[wasm_bindgen_test]
fn bad_lines_are_listed_and_the_good_ones_replayed() {
    let model = Model::new(MODEL, JsValue::UNDEFINED).unwrap();
    let mut sim = Simulation::new(3, 2, 40.0).unwrap();
    let good = sim.next_chunk(1000);
    let text = String::from_utf8(good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut bad = String::new();
    for (i, l) in lines.iter().enumerate() {
        bad.push_str(if i == 2 { "{\"csi\": [1, 2" } else { l });
        bad.push('\n');
    }
    let replayed = replay_in_chunks(&model, bad.as_bytes(), &[333]);
    assert_eq!(replayed.len(), lines.len() - 1);
    let report = replayed.report(None, false).unwrap();
    let bad_lines =
        js_sys::Array::from(&js_sys::Reflect::get(&report, &"bad_lines".into()).unwrap());
    let first = bad_lines.get(0);
    assert_eq!(
        js_sys::Reflect::get(&first, &"line".into())
            .unwrap()
            .as_f64(),
        Some(3.0)
    );
}

fn canvas(w: u32, h: u32) -> HtmlCanvasElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let c: HtmlCanvasElement = document
        .create_element("canvas")
        .unwrap()
        .dyn_into()
        .unwrap();
    c.set_attribute("style", &format!("width:{w}px;height:{h}px;display:block"))
        .unwrap();
    document.body().unwrap().append_child(&c).unwrap();
    c
}

fn pixels(c: &HtmlCanvasElement) -> Vec<u8> {
    let ctx: CanvasRenderingContext2d = c.get_context("2d").unwrap().unwrap().dyn_into().unwrap();
    ctx.get_image_data(0.0, 0.0, c.width() as f64, c.height() as f64)
        .unwrap()
        .data()
        .0
}

/// Columns (x) where the cursor colour (light theme) fills at least `min` pixels.
fn cursor_columns(c: &HtmlCanvasElement, min: usize) -> Vec<u32> {
    let px = pixels(c);
    let (w, h) = (c.width(), c.height());
    let cursor = countscope::plot::Style::default().palette().cursor;
    (0..w)
        .filter(|&x| {
            (0..h)
                .filter(|&y| {
                    let p = &px[((y * w + x) * 4) as usize..][..3];
                    p == [cursor.0, cursor.1, cursor.2]
                })
                .count()
                >= min
        })
        .collect()
}

#[wasm_bindgen_test]
fn plots_draw_real_pixels_and_the_cursor_moves() {
    let model = Model::new(MODEL, JsValue::UNDEFINED).unwrap();
    let r = replay_in_chunks(&model, SAMPLE, &[100_000]);
    let plots = Plots::new(
        r.line(),
        r.ts_start(),
        r.ts_end(),
        r.truth(),
        r.count(),
        r.confidence(),
        r.p95_low(),
        r.p95_high(),
        r.probs(),
        r.count_logits(),
        r.conf_logit(),
    )
    .unwrap();
    assert_eq!(plots.len(), 747);

    let timeline = canvas(600, 160);
    plots
        .draw_timeline(&timeline, 0, 0, 20, false, 2.0)
        .unwrap();
    assert_eq!(
        (timeline.width(), timeline.height()),
        (1200, 320),
        "backing store scaled by the pixel ratio"
    );
    let px = pixels(&timeline);
    let distinct: std::collections::HashSet<&[u8]> = px.chunks(4).collect();
    assert!(
        distinct.len() > 20,
        "a drawn plot has many colours, found {}",
        distinct.len()
    );
    let before = cursor_columns(&timeline, 100);
    assert!(!before.is_empty(), "the cursor is drawn");
    plots
        .draw_timeline(&timeline, 0, 0, 700, false, 2.0)
        .unwrap();
    let after = cursor_columns(&timeline, 100);
    assert!(
        !after.is_empty() && after[0] > before[0] + 600,
        "cursor moved: {before:?} → {after:?}"
    );

    let conf = canvas(600, 120);
    plots
        .draw_confidence(&conf, 0, 747, 20, false, 1.0)
        .unwrap();
    assert!(!cursor_columns(&conf, 50).is_empty());

    for draw in [
        &|c: &HtmlCanvasElement| plots.draw_probabilities(c, 5, true, 1.0),
        &|c: &HtmlCanvasElement| plots.draw_confusion(c, false, 1.0),
        &|c: &HtmlCanvasElement| plots.draw_reliability(c, true, 1.0),
        &|c: &HtmlCanvasElement| draw_heatmap(c, r.window(5), false, 1.0),
    ] as [&dyn Fn(&HtmlCanvasElement) -> Result<(), wasm_bindgen::JsError>; 4]
    {
        let c = canvas(240, 200);
        draw(&c).unwrap();
        let px = pixels(&c);
        let first = &px[..4];
        let other = px.chunks(4).filter(|p| p != &first).count();
        assert!(other > 2000, "{other} pixels differ from the background");
    }
}

/// RuView's files as its release holds them (read from `../shared/upstream/` at compile time: a missing
/// folder fails the build, loudly). The ONNX filled from the safetensors, and the safetensors alone, give
/// RuView's reference on a zero window; `--normalise recording`'s scan gives a model that says so.
const RUVIEW_ONNX: &[u8] =
    include_bytes!("../../shared/upstream/ruview-count-v0.0.2/count_v1.onnx");
const RUVIEW_SAFETENSORS: &[u8] =
    include_bytes!("../../shared/upstream/ruview-count-v0.0.2/count_v1.safetensors");

fn set(o: &js_sys::Object, key: &str, value: JsValue) {
    js_sys::Reflect::set(o, &key.into(), &value).unwrap();
}

/// The Model constructor's options object.
fn options(fields: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in fields {
        set(&o, k, v.clone());
    }
    o.into()
}

fn message(e: wasm_bindgen::JsError) -> String {
    JsValue::from(e)
        .dyn_into::<js_sys::Error>()
        .unwrap()
        .message()
        .into()
}

#[wasm_bindgen_test]
fn ruview_release_loads_from_onnx_with_safetensors_and_from_safetensors_alone() {
    let want = [
        0.1873f32, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915,
    ];
    let check = |model: &Model| {
        let out = model.infer(&[0.0; 1120]).unwrap();
        let logits: [f32; 8] = out[..8].try_into().unwrap();
        let probs = countscope::replay::softmax(&logits);
        for (p, w) in probs.iter().zip(want) {
            assert!((p - w).abs() < 5e-5, "{probs:?} vs {want:?}");
        }
        let sig = 1.0 / (1.0 + (-out[8]).exp());
        assert!((sig - 0.48672).abs() < 5e-5, "sigmoid {sig}");
    };
    let err = Model::new(RUVIEW_ONNX, options(&[("name", "count_v1.onnx".into())]))
        .err()
        .map(message)
        .expect("refused without its weights");
    assert!(
        err.contains("count_v2.onnx.data") && err.contains("count_v1.safetensors"),
        "{err}"
    );
    let filled = Model::new(
        RUVIEW_ONNX,
        options(&[
            ("name", "count_v1.onnx".into()),
            (
                "weights",
                js_sys::Uint8Array::from(RUVIEW_SAFETENSORS).into(),
            ),
            ("weightsName", "count_v1.safetensors".into()),
        ]),
    )
    .expect("the ONNX loads with the safetensors filling its weights");
    check(&filled);
    let alone = Model::new(
        RUVIEW_SAFETENSORS,
        options(&[("name", "count_v1.safetensors".into())]),
    )
    .expect("the safetensors alone loads as CountNet");
    check(&alone);
    // Sidecars: looked for by the core's names only where the model carries no temperature of its own.
    assert_eq!(
        Model::sidecar_names(RUVIEW_ONNX, "count_v1.onnx").unwrap(),
        ["count_v1.temperature", "count_v1.onnx.temperature"]
    );
    assert!(Model::sidecar_names(MODEL, "count_v1.onnx")
        .unwrap()
        .is_empty());
    assert_eq!(Model::weights_name("count_v1.onnx"), "count_v1.safetensors");
    // A broken safetensors is refused with the tensor named, not a panic.
    let truncated = &RUVIEW_SAFETENSORS[..RUVIEW_SAFETENSORS.len() - 100];
    let err = Model::new(truncated, options(&[("name", "t.safetensors".into())]))
        .err()
        .map(message)
        .expect("refused");
    assert!(err.contains("`conf_head.fc2.weight`"), "{err}");

    // The recording's own statistics: a scan, then a model that reports them and differs from the raw one.
    let line = |v: f32| {
        format!(
            "{{\"csi\":[{}],\"csi_shape\":[20,56]}}\n",
            (0..1120)
                .map(|i| ((i % 56) as f32 * v + (i / 56) as f32).to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let rec = format!("{}{}", line(1.0), line(2.0));
    let mut scan = InputScan::new(None).unwrap();
    scan.push(rec.as_bytes());
    let z = alone.normalised_by(scan);
    assert!(
        z.calibration_text().contains("--normalise recording"),
        "{}",
        z.calibration_text()
    );
    assert!(
        !alone.calibration_text().contains("--normalise"),
        "the original is unchanged"
    );
    let (raw, zs) = (
        replay_in_chunks(&alone, rec.as_bytes(), &[7]),
        replay_in_chunks(&z, rec.as_bytes(), &[7]),
    );
    assert_ne!(raw.count_logits(), zs.count_logits());
}
