//! Count models: ONNX bytes (plus named external data) → a tract plan with its interface checked and its
//! calibration read.
//!
//! The interface is RuView's `CountNet` export: input `[N,56,20]` f32 (N symbolic, as both PyTorch
//! exporters write it), outputs `count_logits [N,8]` and `conf_logits [N,1]`, found by name or else by
//! position. Anything else is refused with what was expected and what was found.

pub mod calibration;
pub mod countnet;
mod external;
pub use countscope_kernel as kernel;
pub mod ops;
pub mod safetensors;

pub use calibration::{parse_temperature, sidecar_names, Calibration, Source, TemperatureSources};
pub use external::{
    check_location, external_files, ExternalData, NoExternalData, WeightSource, Weights,
};
pub use safetensors::{SafeTensors, WeightsError};

use crate::{N_CLASSES, N_FRAMES, N_SUBCARRIERS, WINDOW_LEN};
use serde::Serialize;
use std::sync::Arc;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

/// A model file's name without its extension: `count_v1` for `count_v1.onnx` or `count_v1.safetensors`.
/// RuView's companions share it (`count_v1.safetensors`, `count_v1.temperature`), so every name a shell
/// looks for beside a model is made here.
pub(crate) fn stem(model_file: &str) -> &str {
    match model_file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') => stem,
        _ => model_file,
    }
}

/// The safetensors file that holds an ONNX model's weights as RuView publishes them: `<stem>.safetensors`
/// (`count_v1.safetensors` beside `count_v1.onnx`). The CLI looks for it beside the model, the page beside
/// the model's URL, and the missing-data error names it.
pub fn weights_name(model_file: &str) -> String {
    format!("{}.safetensors", stem(model_file))
}

/// Windows per inference call unless the caller picks another size. Chosen by `countscope bench`
/// (CountNet, 2-core x86_64, 2026-11-28, median of 7): native µs/window 91 at batch 1, 77 at 8 and 16,
/// 95–101 at 32 and 64 (the activations stop fitting in cache); under wasmtime 194–201 at 1, 175–178 at
/// 8–64. 16 is the best of both.
pub const DEFAULT_BATCH: usize = 16;

/// The largest batch a model may fix in its input shape (4,096 windows: 18 MB of input). A model declaring
/// more (an input of `[2147483648, 56, 20]`) is refused when it loads, before anything is allocated for it.
pub const MAX_FIXED_BATCH: usize = 4096;

const EXPECTED: &str =
    "one input f32 [N,56,20] and outputs count_logits f32 [N,8], conf_logits f32 [N,1]";

/// Everything that can be wrong with a model, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// The page's build registers only the ops a count model uses; this model uses others.
    #[error("the model uses ONNX op(s) the page does not include: {found}. The page registers only the ops a count model uses: {supported}. The CLI (`countscope report`) runs every op tract-onnx knows")]
    UnsupportedOp {
        /// Each op outside the list, with its node count and first node.
        found: String,
        /// The ops the page registers.
        supported: String,
    },
    /// An external data file the model names was not supplied.
    #[error("the model keeps {tensors} weight tensor(s) in the external data file `{file}`, which was not supplied: put it next to the model file (CLI) or drop it together with the model (page). Or supply the same weights as a safetensors file, as RuView publishes them (`count_v1.safetensors` beside `count_v1.onnx`; its release never held `count_v2.onnx.data`): `--weights {weights}` or `{weights}` beside the model (CLI), or dropped together with the model (page)")]
    MissingExternal {
        /// The file named by the model's `location`.
        file: String,
        /// How many initializers live in it.
        tensors: usize,
        /// The safetensors file that would supply them (`<model stem>.safetensors`).
        weights: String,
    },
    /// A safetensors weight file is malformed.
    #[error("weights `{file}`: {why}")]
    Weights {
        /// The file.
        file: String,
        /// What is wrong, naming the tensor or byte range.
        why: String,
    },
    /// A safetensors file that is not CountNet's.
    #[error(
        "`{file}` is not a CountNet safetensors file: {found}. CountNet expects exactly {expected}"
    )]
    NotCountNet {
        /// The file.
        file: String,
        /// CountNet's tensors and shapes.
        expected: String,
        /// What does not fit.
        found: String,
    },
    /// An initializer missing from the model is in neither its data file nor the safetensors given.
    #[error("initializer `{tensor}` is in neither `{data_file}` (not supplied) nor `{weights_file}` (no tensor whose name normalises to `{key}`)")]
    MissingWeight {
        /// The initializer.
        tensor: String,
        /// The external file that was not supplied.
        data_file: String,
        /// The safetensors file searched.
        weights_file: String,
        /// The normalised name looked for.
        key: String,
    },
    /// A safetensors tensor does not agree with the initializer it would fill.
    #[error(
        "initializer `{tensor}` cannot be filled from `{file}`: expected {expected}; found {found}"
    )]
    WeightMismatch {
        /// The initializer.
        tensor: String,
        /// The safetensors file.
        file: String,
        /// What the model declares.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// The external data file exists but could not be read or is refused.
    #[error("cannot read external data file `{file}`: {why}")]
    ExternalUnreadable {
        /// The file named by the model's `location`.
        file: String,
        /// Why.
        why: String,
    },
    /// A `location` that could leave the model's folder.
    #[error("refusing external data location {location:?}: {why}")]
    UnsafeLocation {
        /// The location as written in the model.
        location: String,
        /// Why it is refused.
        why: String,
    },
    /// An initializer's offset/length do not fit its external file.
    #[error("external data `{file}` does not hold tensor `{tensor}`: {why}")]
    ExternalRange {
        /// The file.
        file: String,
        /// The initializer.
        tensor: String,
        /// What does not fit.
        why: String,
    },
    /// The model is not a count model with RuView's interface.
    #[error("wrong model interface: expected {expected}; found {found}")]
    Interface {
        /// What countscope needs.
        expected: String,
        /// What the model declares.
        found: String,
    },
    /// Calibration metadata or sidecar is malformed.
    #[error("bad calibration: {0}")]
    Calibration(String),
    /// Input that is not a whole number of windows.
    #[error("{values} values are not whole windows of {WINDOW_LEN} (56 subcarriers × 20 frames)")]
    PartialWindow {
        /// How many values were given.
        values: usize,
    },
    /// tract could not analyse, optimise or run the model.
    #[error("tract could not {stage} the model: {message}")]
    Tract {
        /// Which step failed.
        stage: &'static str,
        /// tract's error chain.
        message: String,
    },
}

fn tract_err(stage: &'static str) -> impl FnOnce(TractError) -> ModelError {
    move |e| ModelError::Tract {
        stage,
        message: format!("{e:#}"),
    }
}

/// A tensor of the model's interface, as declared.
#[derive(Clone, Debug, Serialize)]
pub struct TensorSummary {
    /// Name in the graph.
    pub name: String,
    /// Element type, e.g. `F32`.
    pub datum: String,
    /// Dimensions, symbolic ones by name (e.g. `["batch", "56", "20"]`).
    pub shape: Vec<String>,
}

impl std::fmt::Display for TensorSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} {} [{}]",
            self.name,
            self.datum.to_lowercase(),
            self.shape.join(",")
        )
    }
}

/// Which kind of file a model was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFormat {
    /// An ONNX protobuf (possibly with external data or a safetensors file filling it).
    Onnx,
    /// A safetensors file with CountNet's tensors, built into CountNet's graph by countscope.
    Safetensors,
}

/// One tensor of a safetensors file, for `inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct WeightTensor {
    /// Its name.
    pub name: String,
    /// Its dtype as the format spells it.
    pub dtype: safetensors::Dtype,
    /// Its dimensions.
    pub shape: Vec<usize>,
}

/// What a safetensors file holds, for `inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct SafetensorsInfo {
    /// Every tensor, in header order.
    pub tensors: Vec<WeightTensor>,
    /// Whether its names and shapes are CountNet's (then it loads as CountNet).
    pub countnet: bool,
    /// Why not, when it is not.
    pub not_countnet: Option<String>,
}

/// What a model file declares, for `countscope inspect` and the page.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// ONNX, or safetensors built into CountNet.
    pub format: ModelFormat,
    /// For a safetensors file: its tensors and whether it is CountNet.
    pub safetensors: Option<SafetensorsInfo>,
    /// ONNX IR version.
    pub ir_version: i64,
    /// Operator sets imported (`domain`, version); the default domain is written `ai.onnx`.
    pub opsets: Vec<(String, i64)>,
    /// Producer name and version (e.g. `pytorch 2.12.0`).
    pub producer: String,
    /// Inputs as declared by the graph.
    pub inputs: Vec<TensorSummary>,
    /// Outputs as declared by the graph.
    pub outputs: Vec<TensorSummary>,
    /// Number of floating-point weights (97,737 for RuView's CountNet).
    pub parameters: u64,
    /// Companion files the model names, with how many initializers each holds.
    pub external_files: Vec<(String, usize)>,
    /// Every `metadata_props` key present.
    pub metadata_keys: Vec<String>,
    /// The calibration found in the model itself (a sidecar or flag may override it at load).
    pub calibration: Calibration,
    /// The ops of its graph outside [`ops::PAGE_OPS`], which the page refuses (the CLI runs them all).
    pub outside_page: Vec<ops::MissingOp>,
}

/// The raw outputs for a batch of windows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Logits {
    /// `count_logits`, one row of 8 per window.
    pub count: Vec<[f32; N_CLASSES]>,
    /// `conf_logits`, one per window.
    pub conf: Vec<f32>,
}

impl Logits {
    /// Per window, the 8 count logits then the confidence logit: the flat layout handed to other engines
    /// and to JavaScript (`countscope bench --dump`, `Model.infer` in the page).
    pub fn interleaved(&self) -> Vec<f32> {
        self.count
            .iter()
            .zip(&self.conf)
            .flat_map(|(c, &f)| c.iter().copied().chain(std::iter::once(f)))
            .collect()
    }
}

/// How many windows `values` hold, or the error saying they are not whole windows.
fn whole_windows(values: &[f32]) -> Result<usize, ModelError> {
    if values.len().is_multiple_of(WINDOW_LEN) {
        Ok(values.len() / WINDOW_LEN)
    } else {
        Err(ModelError::PartialWindow {
            values: values.len(),
        })
    }
}

/// Time spent in one node of the optimised plan ([`CountModel::profile`]).
#[derive(Debug, Clone, Serialize)]
pub struct OpTime {
    /// The node's name in the plan (tract's, derived from the ONNX node names).
    pub node: String,
    /// The op tract chose for it after optimisation (e.g. `OptMatMul`, `Im2col`).
    pub op: String,
    /// Seconds spent evaluating it, summed over every batch.
    pub seconds: f64,
    /// Times it was evaluated.
    pub calls: u32,
}

/// A loaded, checked, optimised count model ready to run windows.
#[derive(Debug, Clone)]
pub struct CountModel {
    plan: Arc<TypedRunnableModel>,
    info: ModelInfo,
    weights: Vec<WeightSource>,
    calibration: Calibration,
    /// `Some(k)` when the model was exported with a concrete batch of k.
    fixed_batch: Option<usize>,
    count_ix: usize,
    conf_ix: usize,
    batch_size: usize,
    fingerprint: u64,
}

/// FNV-1a, 64 bits: a fingerprint, not a defence against anyone forging one.
#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The graph as loaded, every weight inlined from whichever file held it, encoded and hashed.
#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn fingerprint_of(proto: &ModelProto) -> u64 {
    fnv1a(&prost::Message::encode_to_vec(proto))
}

/// The graph parsed by [`framework`] and its types and shapes inferred.
#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn typed_model(proto: &ModelProto) -> Result<TypedModel, ModelError> {
    framework()
        .model_for_proto_model(proto)
        .map_err(tract_err("parse"))?
        .into_typed()
        .map_err(tract_err("analyse"))
}

/// The checked model optimised into the plan every batch runs.
#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn plan_of(model: TypedModel) -> Result<Arc<TypedRunnableModel>, ModelError> {
    // The wasm builds run the 1-D convolutions with countscope's own kernel (see `kernel`), which
    // replaces them in the decluttered graph. Then only codegen: it declutters again as one of its own
    // passes, and `into_optimized` would first run a whole declutter session more, which on the page's
    // first open is cold code run twice in every worker.
    #[cfg(all(
        feature = "wasm-kernel",
        target_arch = "wasm32",
        target_feature = "simd128"
    ))]
    let model = {
        let mut model = model.into_decluttered().map_err(tract_err("optimise"))?;
        kernel::direct_convs(&mut model).map_err(tract_err("optimise"))?;
        model.optimize().map_err(tract_err("optimise"))?;
        model
    };
    #[cfg(not(all(
        feature = "wasm-kernel",
        target_arch = "wasm32",
        target_feature = "simd128"
    )))]
    let model = model.into_optimized().map_err(tract_err("optimise"))?;
    model.into_runnable().map_err(tract_err("plan"))
}

/// Whether this is the page's build, which parses with [`ops::page_framework`] and refuses models using
/// other ops.
const PAGE_BUILD: bool = cfg!(all(target_arch = "wasm32", target_os = "unknown"));

/// The ONNX framework models are parsed with: in the page's build only the ops of [`ops::PAGE_OPS`],
/// elsewhere every op tract-onnx knows.
#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn framework() -> tract_onnx::Onnx {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    return ops::page_framework();
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    return tract_onnx::onnx();
}

impl ModelError {
    fn unsupported(missing: &[ops::MissingOp]) -> Self {
        let found = missing
            .iter()
            .map(|m| match m.nodes {
                1 => format!("`{}` (node `{}`)", m.op, m.first_node),
                n => format!("`{}` ({n} nodes, the first `{}`)", m.op, m.first_node),
            })
            .collect::<Vec<_>>()
            .join(", ");
        ModelError::UnsupportedOp {
            found,
            supported: ops::PAGE_OPS.join(", "),
        }
    }
}

#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn decode(onnx: &[u8]) -> Result<ModelProto, ModelError> {
    tract_onnx::Onnx::default()
        .proto_model_for_read(&mut &onnx[..])
        .map_err(|e| ModelError::Decode(format!("{e:#}")))
}

fn dims_of(t: &tract_onnx::pb::TypeProto) -> (String, Vec<String>) {
    use tract_onnx::pb::type_proto::Value;
    match &t.value {
        Some(Value::TensorType(tt)) => {
            let datum = tract_onnx::pb::tensor_proto::DataType::try_from(tt.elem_type)
                .map(|d| format!("{d:?}"))
                .unwrap_or_else(|_| format!("type#{}", tt.elem_type));
            let datum = match datum.as_str() {
                "Float" => "F32".to_string(),
                "Double" => "F64".to_string(),
                other => other.to_uppercase(),
            };
            let shape = tt.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                            v.to_string()
                        }
                        Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimParam(p)) => {
                            p.clone()
                        }
                        None => "?".to_string(),
                    })
                    .collect()
            });
            (datum, shape.unwrap_or_else(|| vec!["?".into()]))
        }
        _ => ("not a tensor".into(), vec![]),
    }
}

#[inline(never)] // a load's step: see [`CountModel::load_with`]
fn describe_proto(proto: &ModelProto) -> Result<ModelInfo, ModelError> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| ModelError::Decode("the file has no graph".into()))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let summary = |v: &tract_onnx::pb::ValueInfoProto| {
        let (datum, shape) = v
            .r#type
            .as_ref()
            .map(dims_of)
            .unwrap_or_else(|| ("?".into(), vec![]));
        TensorSummary {
            name: v.name.clone(),
            datum,
            shape,
        }
    };
    let parameters = graph
        .initializer
        .iter()
        .filter(|t| external::FLOAT_TYPES.contains(&t.data_type))
        .map(|t| t.dims.iter().map(|&d| d.max(0) as u64).product::<u64>())
        .sum();
    let props = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()));
    Ok(ModelInfo {
        format: ModelFormat::Onnx,
        safetensors: None,
        ir_version: proto.ir_version,
        opsets: proto
            .opset_import
            .iter()
            .map(|o| {
                (
                    if o.domain.is_empty() {
                        "ai.onnx".to_string()
                    } else {
                        o.domain.clone()
                    },
                    o.version,
                )
            })
            .collect(),
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
        inputs: graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(summary)
            .collect(),
        outputs: graph.output.iter().map(summary).collect(),
        parameters,
        external_files: external_files(proto)
            .into_iter()
            .map(|(f, t)| (f, t.len()))
            .collect(),
        metadata_keys: proto.metadata_props.iter().map(|e| e.key.clone()).collect(),
        calibration: calibration::from_metadata(props)?,
        outside_page: ops::unsupported(proto, ops::PAGE_OPS),
    })
}

/// How to load a model: its companions, and what overrides its own calibration.
pub struct LoadOptions<'a> {
    /// The model file's name, for messages and the report (e.g. `count_v1.onnx`).
    pub name: &'a str,
    /// The companion files an ONNX model names (`*.onnx.data`).
    pub external: &'a dyn ExternalData,
    /// A safetensors file that fills the external initializers whose file `external` does not have.
    pub weights: Option<&'a Weights>,
    /// The temperature's other sources, ranked against the model's own by
    /// [`Calibration::with_temperature`].
    pub temperature: TemperatureSources<'a>,
}

/// A safetensors file as a CountNet graph, with what `inspect` says of it. Only a file that cannot be
/// parsed is an error here; one that parses but is not CountNet still has a description, and its graph is
/// the error saying why.
fn safetensors_model(
    bytes: &[u8],
    name: &str,
) -> Result<(ModelInfo, Result<ModelProto, ModelError>), ModelError> {
    let st = SafeTensors::parse(bytes).map_err(|e| ModelError::Weights {
        file: name.to_string(),
        why: e.to_string(),
    })?;
    let tensors = st
        .tensors()
        .iter()
        .map(|t| WeightTensor {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
        })
        .collect();
    Ok(match countnet::build(&st, name) {
        Ok(proto) => {
            let mut info = describe_proto(&proto)?;
            info.format = ModelFormat::Safetensors;
            info.safetensors = Some(SafetensorsInfo {
                tensors,
                countnet: true,
                not_countnet: None,
            });
            (info, Ok(proto))
        }
        Err(e) => {
            let props = st.metadata().iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let info = ModelInfo {
                format: ModelFormat::Safetensors,
                safetensors: Some(SafetensorsInfo {
                    tensors,
                    countnet: false,
                    not_countnet: Some(e.to_string()),
                }),
                ir_version: 0,
                opsets: vec![],
                producer: String::new(),
                inputs: vec![],
                outputs: vec![],
                parameters: st.parameters(),
                external_files: vec![],
                metadata_keys: st.metadata().iter().map(|(k, _)| k.clone()).collect(),
                calibration: calibration::from_metadata(props)?,
                outside_page: vec![],
            };
            (info, Err(e))
        }
    })
}

impl CountModel {
    /// Describe a model file without loading its weights (works without its external data). A
    /// safetensors file is described by its tensors and whether they are CountNet's.
    pub fn inspect(bytes: &[u8]) -> Result<ModelInfo, ModelError> {
        if safetensors::looks_like(bytes) {
            return Ok(safetensors_model(bytes, "the file")?.0);
        }
        describe_proto(&decode(bytes)?)
    }

    /// Load, check and optimise a model with no name, no safetensors companion and no sidecar (tests,
    /// benches): [`CountModel::load_with`] with `external` and an explicit `temperature`.
    pub fn load(
        bytes: &[u8],
        external: &dyn ExternalData,
        temperature: Option<(f32, Source)>,
    ) -> Result<Self, ModelError> {
        Self::load_with(
            bytes,
            LoadOptions {
                name: "model.onnx",
                external,
                weights: None,
                temperature: TemperatureSources {
                    explicit: temperature,
                    sidecar: None,
                },
            },
        )
    }

    /// Load, check and optimise a model: an ONNX file (its external initializers from `external`, or else
    /// from `weights`), or a CountNet safetensors file on its own, told apart by content.
    ///
    /// Its steps (decode, describe, fingerprint, parse, optimise) are functions never inlined. Each has one
    /// call site, so LLVM's fat LTO, and then wasm-opt (bounded in wasm-pack.toml), would fold them into one
    /// function of ≈ 75 KB of wasm, which the loops inside make hot: Chromium then recompiles it with its
    /// optimising tier, 0.2–0.6 s of a core during the page's first open, for code that runs once per worker.
    pub fn load_with(bytes: &[u8], options: LoadOptions) -> Result<Self, ModelError> {
        let (mut proto, info) = if safetensors::looks_like(bytes) {
            let (info, proto) = safetensors_model(bytes, options.name)?;
            (proto?, info)
        } else {
            let proto = decode(bytes)?;
            let info = describe_proto(&proto)?;
            (proto, info)
        };
        if PAGE_BUILD && !info.outside_page.is_empty() {
            return Err(ModelError::unsupported(&info.outside_page));
        }
        let calibration = info
            .calibration
            .clone()
            .with_temperature(&options.temperature)?;
        let weights = match info.format {
            ModelFormat::Onnx => {
                external::inline(&mut proto, options.external, options.weights, options.name)?
            }
            ModelFormat::Safetensors => vec![WeightSource {
                file: options.name.to_string(),
                tensors: proto
                    .graph
                    .iter()
                    .flat_map(|g| g.initializer.iter())
                    .filter(|t| t.data_type == tract_onnx::pb::tensor_proto::DataType::Float as i32)
                    .map(|t| t.name.clone())
                    .collect(),
            }],
        };
        let found = || {
            let i: Vec<String> = info.inputs.iter().map(|t| t.to_string()).collect();
            let o: Vec<String> = info.outputs.iter().map(|t| t.to_string()).collect();
            format!(
                "input(s) {} and output(s) {}",
                join_or_none(&i),
                join_or_none(&o)
            )
        };
        let interface = |why: String| ModelError::Interface {
            expected: EXPECTED.into(),
            found: format!("{} ({why})", found()),
        };
        let fingerprint = fingerprint_of(&proto);
        let model = typed_model(&proto)?;

        if model.inputs.len() != 1 {
            return Err(interface(format!("{} inputs", model.inputs.len())));
        }
        let input = model.input_fact(0).map_err(tract_err("analyse"))?;
        let shape: Vec<TDim> = input.shape.iter().cloned().collect();
        if input.datum_type != f32::datum_type()
            || shape.len() != 3
            || shape[1] != TDim::from(N_SUBCARRIERS as i64)
            || shape[2] != TDim::from(N_FRAMES as i64)
        {
            return Err(interface(format!(
                "the input is {:?} {}",
                input.datum_type,
                show_shape(&shape)
            )));
        }
        let fixed_batch = shape[0].to_i64().ok().map(|k| k.max(1) as u64);
        if let Some(k) = fixed_batch.filter(|&k| k > MAX_FIXED_BATCH as u64) {
            return Err(interface(format!(
                "the input fixes a batch of {k} windows, over the {MAX_FIXED_BATCH} countscope runs at once"
            )));
        }
        let fixed_batch = fixed_batch.map(|k| k as usize);

        let outlets = model
            .output_outlets()
            .map_err(tract_err("analyse"))?
            .to_vec();
        let name_of = |o: &OutletId| {
            model
                .outlet_label(*o)
                .unwrap_or(&model.node(o.node).name)
                .to_string()
        };
        let names: Vec<String> = outlets.iter().map(name_of).collect();
        let (count_ix, conf_ix) = match (
            names.iter().position(|n| n == "count_logits"),
            names.iter().position(|n| n == "conf_logits"),
        ) {
            (Some(a), Some(b)) => (a, b),
            _ if outlets.len() == 2 => (0, 1),
            _ => {
                return Err(interface(format!(
                    "{} outputs, none named count_logits/conf_logits",
                    outlets.len()
                )))
            }
        };
        for (ix, width, what) in [
            (count_ix, N_CLASSES, "count_logits"),
            (conf_ix, 1, "conf_logits"),
        ] {
            let f = model.output_fact(ix).map_err(tract_err("analyse"))?;
            let s: Vec<TDim> = f.shape.iter().cloned().collect();
            if f.datum_type != f32::datum_type()
                || s.len() != 2
                || s[1] != TDim::from(width as i64)
                || s[0] != shape[0]
            {
                return Err(interface(format!(
                    "{what} (output {ix}, `{}`) is {:?} {}",
                    names[ix],
                    f.datum_type,
                    show_shape(&s)
                )));
            }
        }
        let plan = plan_of(model)?;
        Ok(Self {
            plan,
            info,
            weights,
            calibration,
            fixed_batch,
            count_ix,
            conf_ix,
            batch_size: fixed_batch.unwrap_or(DEFAULT_BATCH),
            fingerprint,
        })
    }

    /// `fnv1a64:` and 16 hex digits over the model as loaded (its graph with every weight inlined,
    /// whichever files they came from): outcome files made separately are merged only when they name the
    /// same model. The calibration is not part of it.
    pub fn fingerprint(&self) -> String {
        format!("fnv1a64:{:016x}", self.fingerprint)
    }

    /// What the model file declares.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Which file supplied which weights (the model itself, its data files, a safetensors file).
    pub fn weights(&self) -> &[WeightSource] {
        &self.weights
    }

    /// The calibration applied to every window and confidence.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Replace the input normalisation (for `--normalise recording`: the recording's own statistics).
    pub fn set_normalisation(&mut self, n: calibration::Normalisation, source: Source) {
        self.calibration.normalisation = Some(n);
        self.calibration.normalisation_source = source;
    }

    /// Windows per inference call.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Change the batch size (ignored for models exported with a concrete batch, which run at theirs).
    pub fn set_batch_size(&mut self, n: usize) {
        if self.fixed_batch.is_none() {
            self.batch_size = n.max(1);
        }
    }

    /// One batch of raw windows as the model's input tensor: padded to a fixed batch when the model has one,
    /// normalised in the buffer that then becomes the tensor (moved, not copied: one copy per window).
    fn input_tensor(&self, chunk: &[f32]) -> Result<Tensor, ModelError> {
        let rows = self.fixed_batch.unwrap_or(chunk.len() / WINDOW_LEN);
        let mut buf = Vec::with_capacity(rows * WINDOW_LEN);
        buf.extend_from_slice(chunk);
        buf.resize(rows * WINDOW_LEN, 0.0);
        self.calibration.normalise(&mut buf);
        Ok(
            tract_ndarray::Array3::from_shape_vec((rows, N_SUBCARRIERS, N_FRAMES), buf)
                .map_err(|e| ModelError::Tract {
                    stage: "run",
                    message: e.to_string(),
                })?
                .into_tensor(),
        )
    }

    /// Where inference time goes: the seconds each op of the optimised plan took over `windows` (run in
    /// batches, as [`CountModel::infer`] runs them), in plan order, ops that never ran left out. The core
    /// has no clock, so the caller passes one (seconds, monotonic): the same profile then runs natively
    /// and under wasmtime, and `countscope bench --profile` can show which op a slow target is slow in.
    pub fn profile(
        &self,
        windows: &[f32],
        clock: &dyn Fn() -> f64,
    ) -> Result<Vec<OpTime>, ModelError> {
        whole_windows(windows)?;
        let mut times: Vec<OpTime> = self
            .plan
            .model()
            .nodes()
            .iter()
            .map(|n| OpTime {
                node: n.name.clone(),
                op: n.op().name().to_string(),
                seconds: 0.0,
                calls: 0,
            })
            .collect();
        let mut state = self.plan.spawn().map_err(tract_err("run"))?;
        for chunk in windows.chunks(self.batch_size * WINDOW_LEN) {
            let input = self.input_tensor(chunk)?;
            state
                .run_plan_with_eval(tvec!(input.into()), |ctx, op_state, node, inputs| {
                    let t = clock();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    if let Some(slot) = times.get_mut(node.id) {
                        slot.seconds += clock() - t;
                        slot.calls += 1;
                    }
                    out
                })
                .map_err(tract_err("run"))?;
        }
        Ok(times.into_iter().filter(|t| t.calls > 0).collect())
    }

    /// Run windows (model order, `WINDOW_LEN` values each, raw amplitudes): normalisation is applied here.
    /// Any number of windows; they are run in batches of [`CountModel::batch_size`]. Values that are not
    /// whole windows are refused with [`ModelError::PartialWindow`].
    pub fn infer(&self, windows: &[f32]) -> Result<Logits, ModelError> {
        let n = whole_windows(windows)?;
        let mut out = Logits {
            count: Vec::with_capacity(n),
            conf: Vec::with_capacity(n),
        };
        for chunk in windows.chunks(self.batch_size * WINDOW_LEN) {
            let real = chunk.len() / WINDOW_LEN;
            let input = self.input_tensor(chunk)?;
            let result = self
                .plan
                .run(tvec!(input.into()))
                .map_err(tract_err("run"))?;
            let count = result[self.count_ix]
                .to_plain_array_view::<f32>()
                .map_err(tract_err("run"))?;
            let conf = result[self.conf_ix]
                .to_plain_array_view::<f32>()
                .map_err(tract_err("run"))?;
            let mut count = count.iter();
            for &c in conf.iter().take(real) {
                let mut row = [0.0; N_CLASSES];
                row.iter_mut()
                    .zip(count.by_ref())
                    .for_each(|(r, &v)| *r = v);
                out.count.push(row);
                out.conf.push(c);
            }
        }
        Ok(out)
    }
}

fn show_shape(s: &[TDim]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn join_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
