//! RuView's `CountNet` built from its safetensors weights alone, as an ONNX graph.
//!
//! RuView's candle runtime loads `count_v1.safetensors` into code that spells the architecture out; the
//! ONNX file it publishes beside it is missing most of its weights. So countscope spells the same
//! architecture out once, as the ONNX graph PyTorch's dynamo exporter writes for it (opset 18):
//!
//! ```text
//! csi_window [N,56,20]
//!   → Conv(enc.c1, dilation 1, pad 1) → Relu → Conv(enc.c2, dilation 2, pad 2) → Relu
//!   → Conv(enc.c3, dilation 4, pad 4) → Relu → ReduceMean(time, keepdims 0)          [N,H]
//!   ├→ Gemm(count_head.fc1, transB) → Relu → Gemm(count_head.fc2, transB) → count_logits [N,8]
//!   └→ Gemm(conf_head.fc1, transB)  → Relu → Gemm(conf_head.fc2, transB)  → conf_logits  [N,1]
//! ```
//!
//! with the weights filled in by name. The channel widths are read from the tensor shapes; everything else
//! (kernel 3, the dilations, "same" padding) is CountNet's definition. The graph then goes through exactly
//! the ONNX path (interface check, optimisation, the wasm kernels), so its interface and outputs are the
//! ONNX model's.

use super::safetensors::{normalise_name, SafeTensors};
use super::ModelError;
use crate::{N_CLASSES, N_SUBCARRIERS};
use tract_onnx::pb;

/// What a CountNet safetensors file holds, in words for error messages.
pub const EXPECTED: &str = "enc.c1.weight [H1,56,3], enc.c1.bias [H1], enc.c2.weight [H2,H1,3], \
enc.c2.bias [H2], enc.c3.weight [H3,H2,3], enc.c3.bias [H3], count_head.fc1.weight [F,H3], \
count_head.fc1.bias [F], count_head.fc2.weight [8,F], count_head.fc2.bias [8], conf_head.fc1.weight [G,H3], \
conf_head.fc1.bias [G], conf_head.fc2.weight [1,G], conf_head.fc2.bias [1] (RuView's v0.0.2: H1 = 64, \
H2 = H3 = 128, F = 64, G = 32)";

/// The tensors, by their names in RuView's safetensors (module paths).
const NAMES: [&str; 14] = [
    "enc.c1.weight",
    "enc.c1.bias",
    "enc.c2.weight",
    "enc.c2.bias",
    "enc.c3.weight",
    "enc.c3.bias",
    "count_head.fc1.weight",
    "count_head.fc1.bias",
    "count_head.fc2.weight",
    "count_head.fc2.bias",
    "conf_head.fc1.weight",
    "conf_head.fc1.bias",
    "conf_head.fc2.weight",
    "conf_head.fc2.bias",
];

/// The kernel width of every convolution.
const KERNEL: usize = 3;
/// The convolutions' dilations.
const DILATIONS: [usize; 3] = [1, 2, 4];

fn not_countnet(file: &str, found: String) -> ModelError {
    ModelError::NotCountNet {
        file: file.to_string(),
        expected: EXPECTED.to_string(),
        found,
    }
}

/// The ONNX graph of the CountNet whose weights `st` holds. Refuses, listing what CountNet expects, a
/// file with other names, missing or extra tensors, or shapes that do not chain.
pub fn build(st: &SafeTensors, file: &str) -> Result<pb::ModelProto, ModelError> {
    // Find each expected tensor by normalised name.
    let mut found = Vec::with_capacity(NAMES.len());
    for want in NAMES {
        let key = normalise_name(want);
        let hits: Vec<_> = st
            .tensors()
            .iter()
            .filter(|t| normalise_name(&t.name) == key)
            .collect();
        match hits.as_slice() {
            [one] => found.push(*one),
            [] => {
                return Err(not_countnet(
                    file,
                    format!(
                        "no tensor `{want}`; the file has {}",
                        list(st.tensors().iter().map(|t| t.name.as_str()))
                    ),
                ))
            }
            many => {
                return Err(not_countnet(
                    file,
                    format!(
                        "{} all name `{want}`",
                        list(many.iter().map(|t| t.name.as_str()))
                    ),
                ))
            }
        }
    }
    let extra: Vec<&str> = st
        .tensors()
        .iter()
        .filter(|t| !found.iter().any(|f| f.name == t.name))
        .map(|t| t.name.as_str())
        .collect();
    if !extra.is_empty() {
        return Err(not_countnet(
            file,
            format!(
                "tensor(s) CountNet does not have: {}",
                list(extra.iter().copied())
            ),
        ));
    }
    // Shapes must chain: read the widths, then check every tensor against them.
    let dim = |i: usize, d: usize| found[i].shape.get(d).copied().unwrap_or(0);
    let (h1, h2, h3, f, g) = (dim(0, 0), dim(2, 0), dim(4, 0), dim(6, 0), dim(10, 0));
    let want: [Vec<usize>; 14] = [
        vec![h1, N_SUBCARRIERS, KERNEL],
        vec![h1],
        vec![h2, h1, KERNEL],
        vec![h2],
        vec![h3, h2, KERNEL],
        vec![h3],
        vec![f, h3],
        vec![f],
        vec![N_CLASSES, f],
        vec![N_CLASSES],
        vec![g, h3],
        vec![g],
        vec![1, g],
        vec![1],
    ];
    for (t, w) in found.iter().zip(&want) {
        if t.shape != *w || w.contains(&0) {
            return Err(not_countnet(
                file,
                format!(
                    "tensor `{}` has shape {:?}; with the widths its other tensors give it must be {:?}",
                    t.name, t.shape, w
                ),
            ));
        }
    }
    let mut initializer = Vec::with_capacity(NAMES.len() + 1);
    for t in &found {
        let values = st.values(t).map_err(|e| ModelError::Weights {
            file: file.to_string(),
            why: e.to_string(),
        })?;
        initializer.push(float_tensor(&t.name, &t.shape, &values));
    }
    let w = |i: usize| found[i].name.clone();
    initializer.push(pb::TensorProto {
        name: "mean_axes".into(),
        dims: vec![1],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: vec![2],
        ..Default::default()
    });

    let mut nodes = Vec::new();
    let mut x = "csi_window".to_string();
    for (i, d) in DILATIONS.iter().enumerate() {
        let conv = format!("conv{}", i + 1);
        nodes.push(node(
            "Conv",
            &[&x, &w(2 * i), &w(2 * i + 1)],
            &conv,
            vec![
                ints("dilations", &[*d as i64]),
                ints("kernel_shape", &[KERNEL as i64]),
                ints("pads", &[*d as i64, *d as i64]),
                ints("strides", &[1]),
                int("group", 1),
            ],
        ));
        x = format!("relu{}", i + 1);
        nodes.push(node("Relu", &[&conv], &x, vec![]));
    }
    nodes.push(node(
        "ReduceMean",
        &[&x, "mean_axes"],
        "pooled",
        vec![int("keepdims", 0)],
    ));
    for (head, first, out) in [("count", 6, "count_logits"), ("conf", 10, "conf_logits")] {
        let hidden = format!("{head}_fc1");
        let act = format!("{head}_relu");
        nodes.push(node(
            "Gemm",
            &["pooled", &w(first), &w(first + 1)],
            &hidden,
            vec![int("transB", 1)],
        ));
        nodes.push(node("Relu", &[&hidden], &act, vec![]));
        nodes.push(node(
            "Gemm",
            &[&act, &w(first + 2), &w(first + 3)],
            out,
            vec![int("transB", 1)],
        ));
    }
    let graph = pb::GraphProto {
        name: "CountNet".into(),
        node: nodes,
        initializer,
        input: vec![value_info(
            "csi_window",
            &[None, Some(N_SUBCARRIERS), Some(crate::N_FRAMES)],
        )],
        output: vec![
            value_info("count_logits", &[None, Some(N_CLASSES)]),
            value_info("conf_logits", &[None, Some(1)]),
        ],
        ..Default::default()
    };
    Ok(pb::ModelProto {
        ir_version: 10,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 18,
        }],
        producer_name: "countscope".into(),
        producer_version: format!("CountNet built from {file}"),
        graph: Some(graph),
        metadata_props: st
            .metadata()
            .iter()
            .map(|(k, v)| pb::StringStringEntryProto {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        ..Default::default()
    })
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        "no tensors".into()
    } else {
        v.join(", ")
    }
}

/// An f32 initializer (raw little-endian bytes, as exporters write them).
pub(crate) fn float_tensor(name: &str, shape: &[usize], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub(crate) fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: format!("node_{output}"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

pub(crate) fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub(crate) fn int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

/// A float tensor value; `None` dimensions are the symbolic `batch`.
pub(crate) fn value_info(name: &str, dims: &[Option<usize>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(n) => Value::DimValue(*n as i64),
                                None => Value::DimParam("batch".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
