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

use countscope::model::CountModel;
use countscope::series::Series;
use countscope::web::{
    draw_heatmap, InputScan, Model, Plots, ReplayWorker, Replayed, Session, Simulation,
};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

wasm_bindgen_test_configure!(run_in_browser);

const MODEL: &[u8] = include_bytes!("../artifacts/count_v1.onnx");
const SAMPLE: &[u8] =
    include_bytes!("../artifacts/recordings/room100-heldout-10min.paired.jsonl.gz");
const REFERENCE: &str = include_str!("../artifacts/reference.json");

fn replay_in_chunks(model: &Rc<CountModel>, bytes: &[u8], sizes: &[usize]) -> Replayed {
    replay_shard(model, bytes, sizes, 0, 1)
}

fn replay_shard(
    model: &Rc<CountModel>,
    bytes: &[u8],
    sizes: &[usize],
    shard: usize,
    shards: usize,
) -> Replayed {
    let mut session = Session::new(model, None, shard == 0, shard, shards).expect("session");
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
    let model = model.count_model();
    let replayed = replay_in_chunks(model, SAMPLE, &[1, 7, 4093, 65_537, 13]);
    assert_eq!(
        replayed.series().len(),
        747,
        "windows in the held-out sample"
    );

    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let block = reference["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["recording"] == "recordings/room100-heldout-10min.paired.jsonl.gz")
        .expect("reference block for the held-out sample");
    let tolerance = reference["tolerance"].as_f64().unwrap() as f32;
    let s = replayed.series();
    let (lines, logits, conf) = (&s.line, &s.count_logits, &s.conf_logit);
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
    let whole = replay_in_chunks(model, SAMPLE, &[usize::MAX / 2]);
    assert_eq!(whole.series(), replayed.series());

    // The report is the CLI's struct: synthetic marked first, the sample's numbers.
    let report = replayed.report(None, true).unwrap();
    assert_eq!(report.metrics.windows, 747);
    assert_eq!(
        serde_json::to_value(report.findings[0].code).unwrap(),
        "synthetic-recording"
    );
    assert!(report.to_text().contains("ADR-103"));
    assert!(replayed.series().to_csv().lines().count() == 748);
    assert_eq!(replayed.window(0).map(|w| w.len()), Some(1120));
}

/// Hand `other`'s columns to `first` through their JavaScript encoding, as the page's primary worker
/// gets a helper's.
fn merge(
    first: &mut Replayed,
    other: &Replayed,
) -> Result<(), countscope::web::worker::WorkerError> {
    let (columns, _) = other.series().to_js();
    first.merge(&Series::from_js(&columns.into())?)
}

/// The page replays on every core: each worker reads all the bytes and infers its share of the batches,
/// then shard 0 merges the others' columns. The merged replay equals the unsharded one, column for column.
#[wasm_bindgen_test]
fn sharded_replays_merge_into_the_unsharded_replay() {
    let model = Model::new(MODEL, JsValue::UNDEFINED).expect("the sample model loads");
    let model = model.count_model();
    let whole = replay_in_chunks(model, SAMPLE, &[65_536]);
    for shards in [2, 3] {
        let mut first = replay_shard(model, SAMPLE, &[65_536], 0, shards);
        assert!(
            first.series().len() < whole.series().len(),
            "shard 0 of {shards} infers only its share"
        );
        for k in 1..shards {
            let other = replay_shard(model, SAMPLE, &[4093], k, shards);
            merge(&mut first, &other).expect("merge");
        }
        assert_eq!(first.series().len(), 747);
        assert_eq!(first.series(), whole.series(), "every column");
        assert_eq!(first.series().to_csv(), whole.series().to_csv());
        assert_eq!(
            first.report(None, false).unwrap().to_text(),
            whole.report(None, false).unwrap().to_text()
        );
        assert_eq!(
            first.window(700),
            whole.window(700),
            "shard 0 keeps every window"
        );
    }
    // Merging the same shard twice is refused, and a shard that does not exist cannot start.
    let mut first = replay_shard(model, SAMPLE, &[65_536], 0, 2);
    let other = replay_shard(model, SAMPLE, &[65_536], 0, 2);
    let err = merge(&mut first, &other)
        .err()
        .expect("overlapping shards are refused");
    assert!(
        err.to_string().contains("predicted by both shards"),
        "{err}"
    );
    assert!(Session::new(model, None, false, 2, 2).is_err());
    // Columns that are not a replay's are refused with the column named.
    let broken = js_sys::Object::new();
    set(
        &broken,
        "line",
        js_sys::Uint32Array::from(&[1u32][..]).into(),
    );
    let err = Series::from_js(&broken.into()).unwrap_err();
    assert!(err.to_string().contains("`tsStart`"), "{err}");
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
    let model = model.count_model();
    let mut sim = Simulation::new(3, 2, 40.0).unwrap();
    let good = sim.next_chunk(1000);
    let text = String::from_utf8(good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut bad = String::new();
    for (i, l) in lines.iter().enumerate() {
        bad.push_str(if i == 2 { "{\"csi\": [1, 2" } else { l });
        bad.push('\n');
    }
    let replayed = replay_in_chunks(model, bad.as_bytes(), &[333]);
    assert_eq!(replayed.series().len(), lines.len() - 1);
    let report = replayed.report(None, false).unwrap();
    assert_eq!(report.bad_lines[0].line, 3);
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
    let r = replay_in_chunks(model.count_model(), SAMPLE, &[100_000]);
    let (columns, _) = r.series().to_js();
    let plots = Plots::new(columns.into()).unwrap();
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
    let z = Rc::new(scan.normalise(alone.count_model()));
    assert!(
        z.calibration().describe().contains("--normalise recording"),
        "{}",
        z.calibration().describe()
    );
    assert!(
        !alone.calibration_text().contains("--normalise"),
        "the original is unchanged"
    );
    let (raw, zs) = (
        replay_in_chunks(alone.count_model(), rec.as_bytes(), &[7]),
        replay_in_chunks(&z, rec.as_bytes(), &[7]),
    );
    assert_ne!(raw.series().count_logits, zs.series().count_logits);
}

/// A JavaScript object from its fields.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    options(fields)
}

fn get(o: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(o, &key.into()).unwrap()
}

/// Everything a worker posts, kept in order.
struct Inbox {
    got: Rc<std::cell::RefCell<Vec<JsValue>>>,
    post: wasm_bindgen::closure::Closure<dyn FnMut(JsValue, JsValue)>,
}

impl Inbox {
    fn new() -> Inbox {
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let sink = got.clone();
        let post = wasm_bindgen::closure::Closure::<dyn FnMut(JsValue, JsValue)>::new(
            move |message: JsValue, _transfer: JsValue| sink.borrow_mut().push(message),
        );
        Inbox { got, post }
    }

    /// Send `request` with `id` to `worker` and wait for it to be answered: the answer (the last
    /// message with that id, progress before it aside).
    async fn ask(&self, worker: &ReplayWorker, id: u32, request: JsValue) -> JsValue {
        let message = object(&[("id", id.into()), ("request", request)]);
        wasm_bindgen_futures::JsFuture::from(
            worker.handle(message, self.post.as_ref().clone().into()),
        )
        .await
        .unwrap();
        self.answer(id)
    }

    /// A replay's `columns` message, which must come before its answer (`replayed`).
    fn columns(&self, id: u32) -> JsValue {
        let got = self.got.borrow();
        let of = |kind: &str| {
            got.iter()
                .position(|m| get(m, "id").as_f64() == Some(id as f64) && get(m, "type") == kind)
        };
        let (columns, replayed) = (of("columns"), of("replayed"));
        assert!(
            columns.is_some() && columns < replayed,
            "request {id}: columns at {columns:?}, its answer at {replayed:?}"
        );
        got[columns.unwrap()].clone()
    }

    fn answer(&self, id: u32) -> JsValue {
        self.got
            .borrow()
            .iter()
            .rev()
            .find(|m| get(m, "id").as_f64() == Some(id as f64) && get(m, "type") != "progress")
            .cloned()
            .unwrap_or_else(|| panic!("no answer to request {id}"))
    }
}

fn blob(bytes: &[u8]) -> JsValue {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts)
        .unwrap()
        .into()
}

/// The worker protocol end to end, in Rust types on both sides of the JavaScript values: two dispatchers
/// (a primary and a helper, as the page's two workers) load the model, replay a Blob in two shards, merge
/// the helper's columns sent as the page forwards them, and answer report, window and bad requests.
#[wasm_bindgen_test]
async fn the_worker_protocol_replays_merges_and_names_what_is_wrong() {
    let (primary, helper, inbox) = (ReplayWorker::new(), ReplayWorker::new(), Inbox::new());
    let fresh = ReplayWorker::new();
    let replay = |shard: Option<usize>| {
        let mut fields = vec![("source", blob(SAMPLE)), ("shards", 2.into())];
        if let Some(k) = shard {
            fields.push(("shard", k.into()));
        }
        let key = if shard.is_some() { "shard" } else { "replay" };
        object(&[(key, object(&fields))])
    };
    // A replay before any model is refused in words.
    let no_model = inbox.ask(&fresh, 1, replay(None)).await;
    assert_eq!(get(&no_model, "type"), "error");
    assert_eq!(get(&no_model, "message"), "no model loaded");

    let model = object(&[(
        "model",
        object(&[
            ("bytes", js_sys::Uint8Array::from(MODEL).into()),
            ("options", object(&[("name", "count_v1.onnx".into())])),
        ]),
    )]);
    for (worker, id) in [(&primary, 2), (&helper, 3)] {
        let answer = inbox.ask(worker, id, model.clone()).await;
        assert_eq!(get(&answer, "type"), "model");
        assert_eq!(get(&answer, "batch").as_f64(), Some(16.0));
    }
    // The primary waits for the helper's columns, which the page forwards as a merge.
    let message = object(&[("id", 4.into()), ("request", replay(None))]);
    let waiting = wasm_bindgen_futures::JsFuture::from(
        primary.handle(message, inbox.post.as_ref().clone().into()),
    );
    let share = inbox.ask(&helper, 5, replay(Some(1))).await;
    assert_eq!(get(&share, "type"), "shard");
    // The sample is a gzip file on a Blob: split by its decoded text, so the helper's counts come too.
    let merge = object(&[(
        "merge",
        object(&[
            ("replay", 4.into()),
            ("columns", get(&share, "columns")),
            ("tail", get(&share, "tail")),
        ]),
    )]);
    let forwarded = object(&[("request", merge)]);
    wasm_bindgen_futures::JsFuture::from(
        primary.handle(forwarded, inbox.post.as_ref().clone().into()),
    )
    .await
    .unwrap();
    waiting.await.unwrap();
    let replayed = inbox.answer(4);
    assert_eq!(get(&replayed, "type"), "replayed", "{replayed:?}");
    assert_eq!(get(&replayed, "split"), "bytes");
    let direct = replay_in_chunks(
        Model::new(MODEL, JsValue::UNDEFINED).unwrap().count_model(),
        SAMPLE,
        &[65_536],
    );
    // The columns came first (the page draws them while the primary makes the report), with what they
    // say without the report.
    let sent = inbox.columns(4);
    let merged = Series::from_js(&get(&sent, "columns")).unwrap();
    assert_eq!(
        get(&sent, "labelledWindows").as_f64(),
        get(&get(&replayed, "report"), "labelled_windows").as_f64()
    );
    assert_eq!(
        get(&sent, "syntheticWindows").as_f64(),
        get(
            &get(&get(&replayed, "report"), "recording"),
            "synthetic_windows"
        )
        .as_f64()
    );
    assert!(get(&sent, "syntheticWindows").as_f64() > Some(0.0));
    // And window 0, for the first heatmap, as the model was fed it.
    assert_eq!(
        get(&sent, "firstWindow")
            .dyn_into::<js_sys::Float32Array>()
            .unwrap()
            .to_vec(),
        direct.window(0).unwrap()
    );
    assert_eq!(&merged, direct.series(), "two shards merged = one replay");
    assert_eq!(
        get(&get(&replayed, "report"), "windows").as_f64(),
        Some(747.0)
    );
    assert!(get(&replayed, "reportText")
        .as_string()
        .unwrap()
        .contains("ADR-103"));

    let report = inbox
        .ask(
            &primary,
            6,
            object(&[("report", object(&[("targets", "v0.2.0".into())]))]),
        )
        .await;
    assert_eq!(get(&report, "type"), "report");
    // v0.2.0's within ±1 target.
    assert!(get(&report, "reportText")
        .as_string()
        .unwrap()
        .contains("≥ 90.0 %"));
    let window = inbox
        .ask(
            &primary,
            7,
            object(&[("window", object(&[("index", 5.into())]))]),
        )
        .await;
    assert_eq!(
        get(&window, "window")
            .dyn_into::<js_sys::Float32Array>()
            .unwrap()
            .to_vec(),
        direct.window(5).unwrap()
    );
    // What is wrong is named: an unknown request, an unknown layout, unknown targets.
    let unknown = inbox
        .ask(&primary, 8, object(&[("frobnicate", object(&[]))]))
        .await;
    assert_eq!(get(&unknown, "type"), "error");
    assert!(get(&unknown, "message")
        .as_string()
        .unwrap()
        .contains("frobnicate"));
    let layout = object(&[(
        "replay",
        object(&[("source", blob(SAMPLE)), ("layout", "sideways".into())]),
    )]);
    let bad = inbox.ask(&primary, 9, layout).await;
    assert!(
        get(&bad, "message")
            .as_string()
            .unwrap()
            .contains("sideways"),
        "{bad:?}"
    );
    let targets = object(&[("report", object(&[("targets", "v9".into())]))]);
    let bad = inbox.ask(&primary, 10, targets).await;
    assert!(
        get(&bad, "message").as_string().unwrap().contains("v9"),
        "{bad:?}"
    );
}

/// The held-out sample decompressed and damaged to test byte ranges: its first 380 lines, a bad line,
/// a line of 2.5 MB (longer than a range), another bad line, then the rest (≈ 6.5 MB). Split three ways
/// (≈ 2.2 MB each), the long line starts in the first range and covers all of the second, which owns no
/// line; the third begins inside it, so its first line is the second bad one.
fn plain_with_damage() -> Vec<u8> {
    let mut plain = Vec::new();
    let mut decoder = countscope::recording::Decoder::default();
    decoder
        .push(SAMPLE, &mut |b| plain.extend_from_slice(b))
        .unwrap();
    decoder.finish(&mut |b| plain.extend_from_slice(b)).unwrap();
    let lines: Vec<&[u8]> = plain
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Vec::new();
    for l in &lines[..380] {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out.extend_from_slice(b"{\"csi\": [1, 2\n");
    out.extend(std::iter::repeat_n(b'x', 2_500_000));
    out.extend_from_slice(b"\nnot json\n");
    for l in &lines[380..] {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// A file dropped on three workers is split by bytes: each reads and infers one range, the helpers send
/// their counts and keep their windows, and the primary's merged replay equals one worker's, column for
/// column and report for report, bad lines numbered as in the file; a window comes from whichever worker
/// the primary names, as from the single worker. Plain, then gzip (split by its decoded text: every
/// worker decodes from the first byte and parses only its range).
#[wasm_bindgen_test]
async fn three_workers_split_a_file_by_bytes_as_one_worker_reads_it() {
    let plain = plain_with_damage();
    let inbox = Inbox::new();
    let workers = [
        ReplayWorker::new(),
        ReplayWorker::new(),
        ReplayWorker::new(),
        ReplayWorker::new(),
    ];
    let model = object(&[(
        "model",
        object(&[
            ("bytes", js_sys::Uint8Array::from(MODEL).into()),
            ("options", object(&[("name", "count_v1.onnx".into())])),
        ]),
    )]);
    for (k, w) in workers.iter().enumerate() {
        inbox.ask(w, 100 + k as u32, model.clone()).await;
    }
    for (pass, compressed) in [(0u32, false), (1, true)] {
        let file = if compressed {
            use std::io::Write;
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&plain).unwrap();
            z.finish().unwrap()
        } else {
            plain.clone()
        };
        three_workers_on(&workers, &inbox, &plain, &file, compressed, 1000 * pass).await;
    }
}

/// One pass of the test above over `file` (`plain`, or its gzip), request ids from `id`.
async fn three_workers_on(
    workers: &[ReplayWorker; 4],
    inbox: &Inbox,
    plain: &[u8],
    file: &[u8],
    compressed: bool,
    id: u32,
) {
    let head = &file[..file.len().min(65_536)];
    let tail = &file[file.len() - 4..];
    let ranges = countscope::recording::range::LineRange::plan(head, tail, file.len() as u64, 3)
        .expect("a file of window lines splits");
    assert!(
        ranges.iter().all(|r| r.compressed == compressed),
        "{ranges:?}"
    );
    let long_at = plain.windows(3).position(|w| w == b"xxx").unwrap() as u64;
    assert!(
        ranges[0].start < long_at && long_at < ranges[0].end && ranges[1].end < long_at + 2_500_000,
        "the long line covers the middle range: {ranges:?}, at {long_at}"
    );
    let source = blob(file);
    // One worker, all of it.
    let single = inbox
        .ask(
            &workers[3],
            id + 200,
            object(&[("replay", object(&[("source", source.clone())]))]),
        )
        .await;
    assert_eq!(get(&single, "type"), "replayed", "{single:?}");
    // Three: the primary waits; the helpers' answers are forwarded as the page forwards them.
    let request = |key: &str, shard: usize| {
        object(&[(
            key,
            object(&[
                ("source", source.clone()),
                ("shards", 3.into()),
                ("shard", shard.into()),
            ]),
        )])
    };
    let waiting = wasm_bindgen_futures::JsFuture::from(workers[0].handle(
        object(&[("id", (id + 300).into()), ("request", request("replay", 0))]),
        inbox.post.as_ref().clone().into(),
    ));
    // The helpers answer out of order: the primary puts the ranges in file order.
    for k in [2usize, 1] {
        let share = inbox
            .ask(&workers[k], id + 300 + k as u32, request("shard", k))
            .await;
        assert_eq!(get(&share, "type"), "shard", "{share:?}");
        assert_eq!(get(&get(&share, "tail"), "shard").as_f64(), Some(k as f64));
        if k == 1 {
            assert_eq!(
                get(&get(&share, "tail"), "lines").as_f64(),
                Some(0.0),
                "the long line's range owns none"
            );
        }
        let merge = object(&[
            ("replay", (id + 300).into()),
            ("columns", get(&share, "columns")),
            ("tail", get(&share, "tail")),
        ]);
        wasm_bindgen_futures::JsFuture::from(workers[0].handle(
            object(&[("request", object(&[("merge", merge)]))]),
            inbox.post.as_ref().clone().into(),
        ))
        .await
        .unwrap();
    }
    waiting.await.unwrap();
    let merged = inbox.answer(id + 300);
    assert_eq!(get(&merged, "type"), "replayed", "{merged:?}");
    assert_eq!(get(&merged, "split"), "bytes");
    let columns = |id: u32| Series::from_js(&get(&inbox.columns(id), "columns")).unwrap();
    assert_eq!(
        columns(id + 300),
        columns(id + 200),
        "three ranges = one worker, column for column"
    );
    let json = |m: &JsValue| {
        js_sys::JSON::stringify(&get(m, "report"))
            .unwrap()
            .as_string()
            .unwrap()
    };
    assert_eq!(json(&merged), json(&single), "the same report");
    let bad: Vec<f64> = js_sys::Array::from(&get(&get(&merged, "report"), "bad_lines"))
        .iter()
        .map(|b| get(&b, "line").as_f64().unwrap())
        .collect();
    assert_eq!(
        bad,
        [381.0, 382.0, 383.0],
        "bad lines keep their numbers in the file"
    );
    // Each worker keeps its own range's windows: the primary answers one of its own, and names the helper
    // that holds one of the last range (the middle range owns none), which gives it as the single worker does.
    let window = |i: usize| object(&[("window", object(&[("index", i.into())]))]);
    let floats = |m: &JsValue| {
        get(m, "window")
            .dyn_into::<js_sys::Float32Array>()
            .unwrap()
            .to_vec()
    };
    let own = inbox.ask(&workers[0], id + 400, window(5)).await;
    let single5 = inbox.ask(&workers[3], id + 401, window(5)).await;
    assert_eq!(floats(&own), floats(&single5));
    assert!(get(&own, "heldBy").is_null());
    let primary_windows = 380;
    let elsewhere = inbox.ask(&workers[0], id + 402, window(700)).await;
    assert!(get(&elsewhere, "window").is_null());
    let held_by = get(&elsewhere, "heldBy");
    assert_eq!(get(&held_by, "shard").as_f64(), Some(2.0), "{held_by:?}");
    let there = get(&held_by, "index").as_f64().unwrap() as usize;
    assert_eq!(there, 700 - primary_windows);
    let helper = inbox.ask(&workers[2], id + 403, window(there)).await;
    let single = inbox.ask(&workers[3], id + 404, window(700)).await;
    assert_eq!(floats(&helper), floats(&single));
    // Past the end: nowhere.
    let past = inbox.ask(&workers[0], id + 405, window(1_000_000)).await;
    assert!(get(&past, "window").is_null() && get(&past, "heldBy").is_null());
}

/// Two models in one worker (slots `a` and `b`), compared as `countscope compare` compares them, and drawn
/// side by side: the sample model against its weakened copy on the held-out sample.
#[wasm_bindgen_test]
async fn two_models_replay_side_by_side_and_compare_as_the_cli_does() {
    const WEAK: &[u8] = include_bytes!("fixtures/count_v1_weakened.onnx");
    let (worker, inbox) = (ReplayWorker::new(), Inbox::new());
    let model = |bytes: &[u8], name: &str, slot: &str| {
        object(&[(
            "model",
            object(&[
                ("bytes", js_sys::Uint8Array::from(bytes).into()),
                ("options", object(&[("name", name.into())])),
                ("slot", slot.into()),
            ]),
        )])
    };
    let replay = |slot: &str| {
        object(&[(
            "replay",
            object(&[("source", blob(SAMPLE)), ("slot", slot.into())]),
        )])
    };
    assert_eq!(
        get(
            &inbox
                .ask(&worker, 1, model(MODEL, "count_v1.onnx", "a"))
                .await,
            "type"
        ),
        "model"
    );
    assert_eq!(
        get(
            &inbox.ask(&worker, 2, model(WEAK, "weak.onnx", "b")).await,
            "type"
        ),
        "model"
    );
    let a = inbox.ask(&worker, 3, replay("a")).await;
    // Before B's replay, a comparison says what is missing.
    let early = inbox.ask(&worker, 4, "compare".into()).await;
    assert!(
        get(&early, "message")
            .as_string()
            .unwrap()
            .contains("model B has none"),
        "{early:?}"
    );
    let b = inbox.ask(&worker, 5, replay("b")).await;
    assert_eq!(get(&b, "type"), "replayed", "{b:?}");
    let compared = inbox.ask(&worker, 6, "compare".into()).await;
    assert_eq!(get(&compared, "type"), "compared", "{compared:?}");
    let c = get(&compared, "comparison");
    assert_eq!(get(&c, "better"), "a");

    // The same numbers as the core's own comparison of two direct replays.
    let direct = |bytes: &[u8]| {
        let m = Model::new(bytes, JsValue::UNDEFINED).unwrap();
        replay_in_chunks(m.count_model(), SAMPLE, &[65_536])
            .series()
            .predictions()
    };
    let (pa, pb) = (direct(MODEL), direct(WEAK));
    let core = countscope::report::Comparison::build(
        ["count_v1.onnx", "weak.onnx"],
        &["r"],
        &[&pa],
        &[&pb],
    )
    .unwrap();
    let paired = get(&c, "paired");
    let core_paired = core.paired.as_ref().unwrap();
    assert_eq!(
        get(&paired, "mcnemar_p").as_f64(),
        Some(core_paired.mcnemar_p)
    );
    let acc = get(&paired, "accuracy");
    assert_eq!(
        get(&acc, "a_minus_b").as_f64(),
        Some(core_paired.accuracy.a_minus_b)
    );
    assert_eq!(
        get(&get(&acc, "interval"), "low").as_f64(),
        Some(core_paired.accuracy.interval.low)
    );
    assert!(get(&compared, "text")
        .as_string()
        .unwrap()
        .contains("verdict: A (count_v1.onnx) is better"));

    // The plots: B beside A, the disagreements to jump between, B's prediction in the readout.
    assert_eq!(get(&a, "type"), "replayed", "{a:?}");
    let mut plots = Plots::new(get(&inbox.columns(3), "columns")).unwrap();
    assert!(!plots.is_comparing());
    plots
        .compare_with(get(&inbox.columns(5), "columns"))
        .unwrap();
    assert!(plots.is_comparing());
    let after_first = (1..pa.len()).find(|&i| pa[i].count != pb[i].count);
    assert!(after_first.is_some());
    assert_eq!(plots.next_disagreement(0), after_first);
    let k = after_first.unwrap();
    assert_eq!(plots.prev_disagreement(k + 1), Some(k));
    let difference = canvas(600, 160);
    plots
        .draw_difference(&difference, 0, 0, 20, false, 1.0)
        .unwrap();
    let px = pixels(&difference);
    let distinct: std::collections::HashSet<&[u8]> = px.chunks(4).collect();
    assert!(distinct.len() > 3, "the difference panel is drawn");
    assert!(!plots.frame_b(3).unwrap().is_undefined());
    // Columns of another recording are refused by window.
    let other = replay_in_chunks(
        Model::new(MODEL, JsValue::UNDEFINED).unwrap().count_model(),
        &sample_head(),
        &[4096],
    );
    let (cols, _) = other.series().to_js();
    let refused = plots.compare_with(cols.into());
    assert!(refused.is_err());

    // Loading a model into slot a unloads b: one model again.
    inbox
        .ask(&worker, 7, model(MODEL, "count_v1.onnx", "a"))
        .await;
    inbox.ask(&worker, 8, replay("a")).await;
    let single = inbox.ask(&worker, 9, "compare".into()).await;
    assert_eq!(get(&single, "type"), "error");
}

/// The first 100 lines of the held-out sample, decompressed: a different recording for the pairing check.
fn sample_head() -> Vec<u8> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(SAMPLE), &mut text).unwrap();
    text.lines()
        .take(100)
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}
