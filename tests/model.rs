//! Model loading against the committed fixtures (onnxruntime references) and RuView's published files.

mod common;
use common::*;
use countscope::model::{
    CountModel, LoadOptions, ModelError, ModelFormat, NoExternalData, SafeTensors, Source, Weights,
};
use std::collections::HashMap;

fn load(name: &str, external: &HashMap<String, Vec<u8>>) -> Result<CountModel, ModelError> {
    CountModel::load(&read(name), external, None)
}

fn assert_matches_reference(model: &CountModel, name: &str) {
    let r = reference();
    let want = &r.models[name];
    let windows: Vec<f32> = r.windows.concat();
    for batch in [1, 4, 64] {
        let mut m = model.clone();
        m.set_batch_size(batch);
        let got = m.infer(&windows).unwrap();
        assert_eq!(got.count.len(), r.windows.len());
        for (w, (row, want_row)) in got.count.iter().zip(&want.count_logits).enumerate() {
            for (a, b) in row.iter().zip(want_row) {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "{name} batch {batch} window {w}: count logit {a} vs onnxruntime {b}"
                );
            }
            let (a, b) = (got.conf[w], want.conf_logits[w]);
            assert!(
                (a - b).abs() <= 1e-4,
                "{name} batch {batch} window {w}: conf logit {a} vs onnxruntime {b}"
            );
        }
    }
}

#[test]
fn self_contained_export_matches_onnxruntime() {
    let m = load("countnet_inline.onnx", &HashMap::new()).unwrap();
    assert_eq!(m.info().parameters, 97_737);
    assert!(m.info().external_files.is_empty());
    assert_matches_reference(&m, "countnet_inline.onnx");
}

#[test]
fn external_data_export_matches_onnxruntime() {
    let data = HashMap::from([(
        "countnet_external.onnx.data".to_string(),
        read("countnet_external.onnx.data"),
    )]);
    let m = load("countnet_external.onnx", &data).unwrap();
    assert_eq!(
        m.info().external_files,
        vec![("countnet_external.onnx.data".to_string(), 8)]
    );
    assert_matches_reference(&m, "countnet_external.onnx");
}

#[test]
fn missing_external_data_names_the_file() {
    let err = load("countnet_external.onnx", &HashMap::new()).unwrap_err();
    assert!(
        matches!(err, ModelError::MissingExternal { ref file, tensors: 8, .. } if file == "countnet_external.onnx.data"),
        "{err}"
    );
    assert!(err.to_string().contains("`countnet_external.onnx.data`"));
}

#[test]
fn truncated_external_data_is_refused_with_the_tensor_named() {
    let mut data = read("countnet_external.onnx.data");
    data.truncate(1000);
    let data = HashMap::from([("countnet_external.onnx.data".to_string(), data)]);
    let err = load("countnet_external.onnx", &data)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the file has 1000"), "{err}");
}

#[test]
fn calibration_travels_in_metadata() {
    let m = load("countnet_calibrated.onnx", &HashMap::new()).unwrap();
    let c = m.calibration();
    assert_eq!(c.temperature, 1.75);
    assert_eq!(c.temperature_source, Source::ModelMetadata);
    assert!(c.normalisation.is_some());
    assert_matches_reference(&m, "countnet_calibrated.onnx");
    // An explicit temperature wins over the model's own and says so.
    let m = CountModel::load(
        &read("countnet_calibrated.onnx"),
        &NoExternalData,
        Some((0.5, Source::Explicit)),
    )
    .unwrap();
    assert_eq!(
        (
            m.calibration().temperature,
            &m.calibration().temperature_source
        ),
        (0.5, &Source::Explicit)
    );
}

#[test]
fn wrong_interface_says_expected_and_found() {
    let err = load("wrong_channels.onnx", &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected one input f32 [N,56,20]"), "{err}");
    assert!(err.contains("csi_window f32 [batch,70,20]"), "{err}");
}

#[test]
fn garbage_is_not_an_onnx_model() {
    for bytes in [&b""[..], b"{\"csi\":[1,2]}", &[0xff; 64]] {
        match CountModel::load(bytes, &NoExternalData, None) {
            Err(
                ModelError::Decode(_) | ModelError::Tract { .. } | ModelError::Interface { .. },
            ) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn ruview_published_model_loads_with_its_data_file_and_names_it_without() {
    let Some(dir) = upstream() else {
        panic!("../shared/upstream/ruview-count-v0.0.2 is missing: these checks need RuView's published files beside the checkout");
    };
    let onnx = std::fs::read(dir.join("count_v1.onnx")).unwrap();
    let err = CountModel::load(&onnx, &NoExternalData, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`count_v2.onnx.data`"), "{err}");
    let data = HashMap::from([(
        "count_v2.onnx.data".to_string(),
        std::fs::read(dir.join("count_v2.onnx.data")).unwrap(),
    )]);
    let m = CountModel::load(&onnx, &data, None).unwrap();
    assert_eq!(m.info().parameters, 97_737);
    assert_ruview_reference(&m);
}

/// Load with a name, companions and optional safetensors weights, no temperature.
fn load_named(
    bytes: &[u8],
    name: &str,
    external: &dyn countscope::model::ExternalData,
    weights: Option<&Weights>,
) -> Result<CountModel, ModelError> {
    CountModel::load_with(
        bytes,
        LoadOptions {
            name,
            external,
            weights,
            temperature: Default::default(),
        },
    )
}

fn ruview_dir() -> std::path::PathBuf {
    upstream().unwrap_or_else(|| panic!("../shared/upstream/ruview-count-v0.0.2 is missing: these checks need RuView's published files beside the checkout"))
}

fn ruview_weights() -> Weights {
    let file = "count_v1.safetensors".to_string();
    let bytes = std::fs::read(ruview_dir().join(&file)).unwrap();
    Weights {
        tensors: SafeTensors::parse(&bytes).unwrap(),
        file,
    }
}

/// The softmax and sigmoid on a zero window that RuView's README gives (onnxruntime on the ONNX + data).
fn assert_ruview_reference(m: &CountModel) {
    let out = m.infer(&[0.0; 1120]).unwrap();
    let max = out.count[0].iter().cloned().fold(f32::MIN, f32::max);
    let exp: Vec<f32> = out.count[0].iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    let probs: Vec<f32> = exp.iter().map(|e| e / sum).collect();
    let want = [
        0.1873, 0.1934, 0.1073, 0.1110, 0.1065, 0.1056, 0.0974, 0.0915,
    ];
    for (p, w) in probs.iter().zip(want) {
        assert!(
            (p - w).abs() < 5e-5,
            "softmax {probs:?} vs RuView's README {want:?}"
        );
    }
    let sig = 1.0 / (1.0 + (-out.conf[0]).exp());
    assert!((sig - 0.48672).abs() < 5e-6, "sigmoid {sig}");
}

#[test]
fn ruview_onnx_without_its_data_file_says_where_the_weights_are() {
    let onnx = std::fs::read(ruview_dir().join("count_v1.onnx")).unwrap();
    let err = load_named(&onnx, "count_v1.onnx", &NoExternalData, None)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`count_v2.onnx.data`"), "{err}");
    assert!(err.contains("`count_v1.safetensors`"), "{err}");
    assert!(err.contains("--weights count_v1.safetensors"), "{err}");
}

#[test]
fn ruview_onnx_filled_from_its_safetensors_gives_ruviews_reference() {
    let onnx = std::fs::read(ruview_dir().join("count_v1.onnx")).unwrap();
    let weights = ruview_weights();
    let m = load_named(&onnx, "count_v1.onnx", &NoExternalData, Some(&weights)).unwrap();
    assert_eq!(m.info().parameters, 97_737);
    assert_ruview_reference(&m);
    let sources = m.weights();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert_eq!(sources[0].file, "count_v1.onnx");
    assert_eq!(sources[0].tensors.len(), 6, "{sources:?}");
    assert_eq!(sources[1].file, "count_v1.safetensors");
    assert_eq!(sources[1].tensors.len(), 8, "{sources:?}");
    assert!(
        sources[1].tensors.contains(&"enc_c2.weight".to_string()),
        "{sources:?}"
    );
    // The data file, when present, still wins: the safetensors fills only what is missing.
    let data = HashMap::from([(
        "count_v2.onnx.data".to_string(),
        std::fs::read(ruview_dir().join("count_v2.onnx.data")).unwrap(),
    )]);
    let m = load_named(&onnx, "count_v1.onnx", &data, Some(&weights)).unwrap();
    assert_eq!(m.weights()[1].file, "count_v2.onnx.data");
}

#[test]
fn ruview_safetensors_alone_loads_as_countnet_with_the_onnx_interface() {
    let bytes = std::fs::read(ruview_dir().join("count_v1.safetensors")).unwrap();
    let m = load_named(&bytes, "count_v1.safetensors", &NoExternalData, None).unwrap();
    assert_ruview_reference(&m);
    let info = m.info();
    assert_eq!(info.format, ModelFormat::Safetensors);
    assert_eq!(info.parameters, 97_737);
    assert_eq!(info.inputs[0].to_string(), "csi_window f32 [batch,56,20]");
    assert_eq!(
        info.outputs
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>(),
        ["count_logits f32 [batch,8]", "conf_logits f32 [batch,1]"]
    );
    assert_eq!(m.weights()[0].tensors.len(), 14);
    // The same logits as the ONNX with its data file, window for window, on varied input.
    let onnx = std::fs::read(ruview_dir().join("count_v1.onnx")).unwrap();
    let data = HashMap::from([(
        "count_v2.onnx.data".to_string(),
        std::fs::read(ruview_dir().join("count_v2.onnx.data")).unwrap(),
    )]);
    let reference = CountModel::load(&onnx, &data, None).unwrap();
    let windows: Vec<f32> = (0..5 * 1120)
        .map(|i| ((i * 37) % 113) as f32 * 0.5)
        .collect();
    let (a, b) = (
        m.infer(&windows).unwrap(),
        reference.infer(&windows).unwrap(),
    );
    for (x, y) in a.count.iter().flatten().zip(b.count.iter().flatten()) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
    for (x, y) in a.conf.iter().zip(&b.conf) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
    let described = CountModel::inspect(&bytes).unwrap();
    assert!(described.safetensors.as_ref().unwrap().countnet);
}

#[test]
fn bad_safetensors_are_refused_naming_the_tensor_or_bytes() {
    let cases = bad_ruview_safetensors();
    for (what, bytes, needle) in cases {
        let err = load_named(&bytes, "count_v1.safetensors", &NoExternalData, None)
            .map(|_| ())
            .expect_err(what)
            .to_string();
        assert!(err.contains(needle), "{what}: {needle:?} not in {err:?}");
        if what == "names" {
            assert!(
                err.contains("CountNet expects exactly enc.c1.weight [H1,56,3]"),
                "{err}"
            );
        }
    }
}

#[test]
fn safetensors_that_disagree_with_the_onnx_are_refused_by_tensor() {
    let onnx = std::fs::read(ruview_dir().join("count_v1.onnx")).unwrap();
    let load = |bytes: Vec<u8>| {
        let weights = Weights {
            file: "w.safetensors".into(),
            tensors: SafeTensors::parse(&bytes).unwrap(),
        };
        load_named(&onnx, "count_v1.onnx", &NoExternalData, Some(&weights))
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let err = load(ruview_safetensors_edited(|h| {
        h.replace("enc.c2.weight", "enc.c2.kernel")
    }));
    assert!(err.contains("initializer `enc_c2.weight` is in neither `count_v2.onnx.data` (not supplied) nor `w.safetensors`"), "{err}");
    let err = load(ruview_safetensors_edited(|h| {
        h.replace("[128,64,3]", "[128,3,64]")
    }));
    assert!(
        err.contains(
            "`enc_c2.weight` cannot be filled from `w.safetensors`: expected shape [128, 64, 3]"
        ),
        "{err}"
    );
}

/// `CountModel::profile` times every op the plan runs, once per batch, with the caller's clock (a counter
/// here, so each evaluation takes exactly one "second"), and its outputs are those of `infer`.
#[test]
fn profile_times_every_op_once_per_batch() {
    let mut model = load("countnet_inline.onnx", &HashMap::new()).unwrap();
    model.set_batch_size(4);
    let windows: Vec<f32> = (0..10 * countscope::WINDOW_LEN)
        .map(|i| (i % 61) as f32)
        .collect();
    let ticks = std::cell::Cell::new(0.0);
    let clock = || {
        ticks.set(ticks.get() + 1.0);
        ticks.get()
    };
    let ops = model.profile(&windows, &clock).unwrap();
    assert!(ops.iter().any(|o| o.op.contains("MatMul")), "{ops:?}");
    assert!(ops.len() >= 5, "{ops:?}");
    for o in &ops {
        assert_eq!(
            o.calls, 3,
            "10 windows in batches of 4 run every op 3 times: {o:?}"
        );
        assert_eq!(o.seconds, 3.0, "{o:?}");
    }
    assert!(model.profile(&windows[1..], &clock).is_err());
}
