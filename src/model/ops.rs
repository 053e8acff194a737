//! Which ONNX ops a model may use, per build.
//!
//! The CLI and the WASI components parse models with tract-onnx's full register: every op it knows. The
//! browser build registers only the ops a count model can use ([`PAGE_OPS`]): the ops both PyTorch
//! exporters (TorchScript and dynamo) emit for CountNet-like networks, plus a margin of the common layers
//! such a network may add. tract-onnx's full register links every op's parser and inference rules into
//! the module: about 0.36 MB of the page's 2.4 MB (gzip -9) each time it is downloaded.
//!
//! tract-onnx 0.23.9 makes only the whole register public (`ops::register_all_ops`); the builders of single
//! ops are private. So the builders here are countscope's own, over tract-hir's public ops, and each one
//! wires the same tract ops as tract-onnx's builder for the same node: the tests parse graphs holding every
//! op of the list with both registers and require the same outputs, bit for bit.
//!
//! A model using any other op is refused before parsing ([`unsupported`]), naming the op, its first node
//! and the list, instead of tract's later "unimplemented operator" during analysis.

use tract_onnx::model::{optional_inputs, OnnxOpRegister, ParsingContext};
use tract_onnx::pb::{ModelProto, NodeProto};
use tract_onnx::pb_helpers::OptionExt;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::{self, array, cnn, nn};
use tract_onnx::tract_hir::tract_core::ops::einsum::EinSum;
use tract_onnx::Onnx;

/// The ONNX ops (default domain) the page's build registers, sorted.
pub const PAGE_OPS: &[&str] = &[
    "Add",
    "BatchNormalization",
    "Cast",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "MatMul",
    "Mul",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Squeeze",
    "Sub",
    "Transpose",
    "Unsqueeze",
];

/// One op a model uses that a register lacks: its type, how many nodes use it, and the first one's name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MissingOp {
    /// The node's `op_type` (its domain, when not the default one, as `domain:op`).
    pub op: String,
    /// Nodes of the main graph using it.
    pub nodes: usize,
    /// The first such node's name (or `#index` when it has none).
    pub first_node: String,
}

/// The ops of `proto`'s main graph outside `allowed`, in order of first use. Subgraphs are not walked:
/// the ops that carry them (`If`, `Loop`, `Scan`) are not in [`PAGE_OPS`], so they are named themselves.
pub fn unsupported(proto: &ModelProto, allowed: &[&str]) -> Vec<MissingOp> {
    let mut missing: Vec<MissingOp> = Vec::new();
    let Some(graph) = proto.graph.as_ref() else {
        return missing;
    };
    for (ix, node) in graph.node.iter().enumerate() {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if default_domain && allowed.contains(&node.op_type.as_str()) {
            continue;
        }
        let op = if default_domain {
            node.op_type.clone()
        } else {
            format!("{}:{}", node.domain, node.op_type)
        };
        match missing.iter_mut().find(|m| m.op == op) {
            Some(m) => m.nodes += 1,
            None => missing.push(MissingOp {
                op,
                nodes: 1,
                first_node: if node.name.is_empty() {
                    format!("#{ix}")
                } else {
                    node.name.clone()
                },
            }),
        }
    }
    missing
}

/// The framework the page's build parses with: only [`PAGE_OPS`] registered.
pub fn page_framework() -> Onnx {
    let mut reg = OnnxOpRegister::default();
    reg.insert("Add", |_, _| Ok((ops::math::Add.into_hir(), vec![])));
    reg.insert("Sub", |_, _| Ok((ops::math::Sub.into_hir(), vec![])));
    reg.insert("Mul", |_, _| Ok((ops::math::Mul.into_hir(), vec![])));
    reg.insert("Div", |_, _| Ok((ops::math::Div.into_hir(), vec![])));
    reg.insert("BatchNormalization", batch_normalization);
    reg.insert("Cast", cast);
    reg.insert("Concat", |_, node| {
        Ok((expand(array::Concat::new(node.get_attr("axis")?)), vec![]))
    });
    reg.insert("Constant", constant);
    reg.insert("Conv", conv);
    reg.insert("Dropout", dropout);
    reg.insert("Flatten", |_, node| {
        let axis: i64 = node.get_attr_opt("axis")?.unwrap_or(1);
        Ok((expand(array::Flatten::new(axis)), vec![]))
    });
    reg.insert("Gather", |_, node| {
        let axis = node.get_attr_opt("axis")?.unwrap_or(0);
        Ok((expand(array::Gather::new(axis)), vec![]))
    });
    reg.insert("Gelu", gelu);
    reg.insert("Gemm", gemm);
    reg.insert("GlobalAveragePool", |_, _| {
        Ok((expand(nn::GlobalAvgPool), vec![]))
    });
    reg.insert("Identity", |_, _| {
        Ok((Box::<ops::identity::Identity>::default(), vec![]))
    });
    reg.insert("MatMul", |_, _| {
        Ok((expand(ops::matmul::MatMulInference::default()), vec![]))
    });
    reg.insert("ReduceMean", reduce_mean);
    reg.insert("Relu", |_, _| {
        Ok((expand(ops::activations::Clip::new(Some(0.0), None)), vec![]))
    });
    reg.insert("Reshape", |_, node| {
        // `allowzero` came with operator set 14; absent, it is 0.
        let allowzero = node.get_attr_opt::<i64>("allowzero")?.unwrap_or(0) != 0;
        Ok((expand(array::Reshape::new(allowzero)), vec![]))
    });
    reg.insert("Shape", |_, node| {
        let start = node.get_attr_opt("start")?.unwrap_or(0);
        let end = node.get_attr_opt("end")?;
        Ok((expand(ShapeSlice { start, end }), vec![]))
    });
    reg.insert("Sigmoid", |_, _| Ok((nn::sigmoid().into_hir(), vec![])));
    reg.insert("Softmax", |ctx, node| {
        let axis = node.get_attr_opt("axis")?;
        if ctx.onnx_operator_set_version < 13 {
            Ok((
                expand(nn::LayerSoftmax::new(axis.unwrap_or(1), true)),
                vec![],
            ))
        } else {
            Ok((expand(nn::Softmax::new(axis.unwrap_or(-1))), vec![]))
        }
    });
    reg.insert("Squeeze", |ctx, node| {
        if ctx.onnx_operator_set_version < 13 {
            let axes = node.get_attr_vec::<i64>("axes")?;
            Ok((expand(array::Squeeze::new(Some(isizes(&axes)))), vec![]))
        } else {
            Ok((expand(AxesInput::Squeeze), vec![]))
        }
    });
    reg.insert("Transpose", |_, node| {
        let perm = node.get_attr_opt_vec("perm")?;
        Ok((
            expand(array::PermuteAxes::new(perm.map(|t| t.into()))),
            vec![],
        ))
    });
    reg.insert("Unsqueeze", |ctx, node| {
        if ctx.onnx_operator_set_version < 13 {
            let axes = node.get_attr_vec::<i64>("axes")?;
            Ok((expand(array::AddDims::new(isizes(&axes))), vec![]))
        } else {
            Ok((expand(AxesInput::Unsqueeze), vec![]))
        }
    });
    Onnx {
        op_register: reg,
        ..Onnx::default()
    }
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn isizes(v: &[i64]) -> Vec<isize> {
    v.iter().map(|&x| x as isize).collect()
}

/// Conv: explicit pads, or `auto_pad`, or none; kernel shape, group, dilations and strides when given.
fn conv(_: &ParsingContext, node: &NodeProto) -> Built {
    let default = match node.get_attr_opt_tvec::<usize>("kernel_shape")? {
        Some(shape) => cnn::PaddingSpec::Explicit(tvec!(0; shape.len()), tvec!(0; shape.len())),
        None => cnn::PaddingSpec::Valid,
    };
    let padding = if let Some(pads) = node.get_attr_opt_tvec::<usize>("pads")? {
        let half = pads.len() / 2;
        cnn::PaddingSpec::Explicit(pads[..half].into(), pads[half..].into())
    } else {
        node.get_attr_opt::<&str>("auto_pad")?
            .and_try(|s| {
                node.check_value(
                    "auto_pad",
                    match s {
                        "NOTSET" => Ok(default.clone()),
                        "VALID" => Ok(cnn::PaddingSpec::Valid),
                        "SAME_UPPER" => Ok(cnn::PaddingSpec::SameUpper),
                        "SAME_LOWER" => Ok(cnn::PaddingSpec::SameLower),
                        other => Err(other),
                    },
                )
            })?
            .unwrap_or(default)
    };
    let mut op = cnn::Conv::default().padding(padding);
    if let Some(kernel_shape) = node.get_attr_opt_tvec("kernel_shape")? {
        op = op.kernel_shape(kernel_shape);
    }
    if let Some(group) = node.get_attr_opt("group")? {
        op = op.group(group);
    }
    if let Some(dilations) = node.get_attr_opt_tvec("dilations")? {
        op = op.dilations(dilations);
    }
    if let Some(strides) = node.get_attr_opt_tvec("strides")? {
        op = op.strides(strides);
    }
    if node.input.len() == 3 {
        op = op.bias_input(2);
    }
    Ok((expand(op), vec![]))
}

fn constant(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let value = if let Some(v) = node.get_attr_opt("value")? {
        ctx.load_tensor(v)?
    } else if let Some(i) = node.get_attr_opt::<i64>("value_int")? {
        tensor0(i)
    } else if let Some(v) = node.get_attr_opt::<f32>("value_float")? {
        tensor0(v)
    } else if let Some(ints) = node.get_attr_opt_slice::<i64>("value_ints")? {
        tensor1(ints)
    } else if let Some(floats) = node.get_attr_opt_slice::<f32>("value_floats")? {
        tensor1(floats)
    } else {
        bail!("Constant node {:?} holds no numeric value", node.name)
    };
    Ok((
        Box::new(ops::konst::Const::new(value.into_arc_tensor())?),
        vec![],
    ))
}

/// Cast: ONNX's int64 is tract's symbolic dimension type (shapes computed in the graph stay symbolic).
fn cast(_: &ParsingContext, node: &NodeProto) -> Built {
    let mut to = node.get_attr::<DatumType>("to")?;
    if to == i64::datum_type() {
        to = TDim::datum_type();
    }
    Ok((Box::new(ops::cast::cast(to)), vec![]))
}

/// ReduceMean: axes as an attribute before operator set 18, as an optional input from it.
fn reduce_mean(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let keep_dims = node.get_attr_opt("keepdims")?.unwrap_or(1i64) == 1;
    if ctx.onnx_operator_set_version >= 18 {
        let noop_with_empty_axes = node.get_attr_opt("noop_with_empty_axes")?.unwrap_or(0i64) == 1;
        Ok((
            expand(ReduceMean18 {
                have_axis_input: node.input.len() == 2,
                keep_dims,
                noop_with_empty_axes,
            }),
            vec![],
        ))
    } else {
        let axes = node.get_attr_opt_vec("axes")?;
        Ok((
            expand(nn::Reduce::new(axes, keep_dims, nn::Reducer::Mean)),
            vec![],
        ))
    }
}

fn gemm(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((
        expand(Gemm {
            alpha: node.get_attr_opt("alpha")?.unwrap_or(1.),
            beta: node.get_attr_opt("beta")?.unwrap_or(1.),
            trans_a: node.get_attr_opt("transA")?.unwrap_or(false),
            trans_b: node.get_attr_opt("transB")?.unwrap_or(false),
        }),
        vec![],
    ))
}

fn gelu(_: &ParsingContext, node: &NodeProto) -> Built {
    let approximate = node
        .get_attr_opt::<String>("approximate")?
        .unwrap_or_default();
    if approximate == "tanh" {
        Ok((
            tract_onnx::tract_hir::tract_core::ops::nn::gelu_approximate::gelu_approximate(false)
                .into_hir(),
            vec![],
        ))
    } else {
        Ok((expand(GeluExact), vec![]))
    }
}

fn batch_normalization(_: &ParsingContext, node: &NodeProto) -> Built {
    let epsilon = node.get_attr_opt("epsilon")?.unwrap_or(1e-5);
    if node.get_attr_opt("spatial")?.unwrap_or(1i64) != 1 {
        bail!("BatchNormalization: attribute 'spatial' is not supported (deprecated by ONNX operator set 9)")
    }
    Ok((expand(BatchNorm { epsilon }), vec![]))
}

fn dropout(_: &ParsingContext, node: &NodeProto) -> Built {
    let mut inputs = optional_inputs(node).skip(1);
    let ratio = inputs.next().flatten();
    let training_mode = inputs.next().flatten();
    if node.output.len() == 2 {
        bail!("Dropout with its mask output is not supported in the page's build")
    }
    Ok((
        expand(Dropout {
            ratio,
            training_mode,
        }),
        vec![],
    ))
}

/// An input's value, which analysis must already know (axes, BatchNormalization's parameters, Dropout's
/// mode and ratio).
fn known(model: &TypedModel, outlet: OutletId, what: &str) -> TractResult<Arc<Tensor>> {
    model
        .outlet_fact(outlet)?
        .konst
        .clone()
        .with_context(|| format!("{what} must be a constant"))
}

/// A tensor's values as `i64` (axes given as an input).
fn i64s(t: &Tensor) -> TractResult<Vec<i64>> {
    Ok(t.cast_to::<i64>()?
        .try_as_plain_ram()?
        .as_slice::<i64>()?
        .to_vec())
}

/// The rules of an op whose one output has its one input's type and shape.
fn like_input<'r>(
    s: &mut Solver<'r>,
    inputs: &'r [TensorProxy],
    outputs: &'r [TensorProxy],
) -> InferenceResult {
    check_output_arity(outputs, 1)?;
    s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
    s.equals(&inputs[0].shape, &outputs[0].shape)
}

/// `alpha · A·B + beta · C`, with A and B optionally transposed: one matrix product (tract's EinSum).
#[derive(Debug, Clone)]
struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

impl Expansion for Gemm {
    fn name(&self) -> StaticName {
        "Gemm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        if inputs.len() < 2 {
            bail!(
                "Wrong input number. Rules expect at least 2, node has {}.",
                inputs.len()
            );
        }
        if inputs.len() == 3 {
            s.equals(&inputs[2].datum_type, &outputs[0].datum_type)?;
        }
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&inputs[1].rank, 2)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[1].datum_type, &outputs[0].datum_type)?;
        let (ca, ra) = if self.trans_a { (0, 1) } else { (1, 0) };
        let (cb, rb) = if self.trans_b { (0, 1) } else { (1, 0) };
        s.equals(&inputs[0].shape[ra], &outputs[0].shape[0])?;
        s.equals(&inputs[0].shape[ca], &inputs[1].shape[rb])?;
        s.equals(&inputs[1].shape[cb], &outputs[0].shape[1])?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let (a, b) = (inputs[0], inputs[1]);
        let axes = AxesMapping::for_numpy_matmul(2, self.trans_a, self.trans_b, false)?;
        let dt = model.outlet_fact(a)?.datum_type;
        let mut wire = model.wire_node(format!("{name}.ab"), EinSum::new(axes, dt), &[a, b])?[0];
        if self.alpha != 1.0 {
            let alpha = tensor0(self.alpha).broadcast_into_rank(model.outlet_fact(wire)?.rank())?;
            let alpha = model.add_const(format!("{name}.alpha_ab.cst"), alpha)?;
            wire =
                model.wire_node(format!("{name}.alpha_ab"), ops::math::mul(), &[alpha, wire])?[0];
        }
        if let Some(&c) = inputs.get(2).filter(|_| self.beta != 0.0) {
            let mut c = c;
            while model.outlet_fact(wire)?.rank() > model.outlet_fact(c)?.rank() {
                c = model.wire_node(
                    format!("{name}.c_add_axis_{}", model.outlet_fact(c)?.rank()),
                    AxisOp::Add(0),
                    &[c],
                )?[0];
            }
            let beta = tensor0(self.beta).broadcast_into_rank(model.outlet_fact(wire)?.rank())?;
            let beta = model.add_const(format!("{name}.beta_c.cst"), beta)?;
            let beta_c =
                model.wire_node(format!("{name}.beta_c"), ops::math::mul(), &[beta, c])?[0];
            wire = model.wire_node(name, ops::math::add(), &[wire, beta_c])?[0];
        }
        Ok(tvec!(wire))
    }
}

/// ReduceMean from operator set 18: the axes an optional constant input; none means every axis, or none
/// at all with `noop_with_empty_axes`.
#[derive(Debug, Clone)]
struct ReduceMean18 {
    have_axis_input: bool,
    keep_dims: bool,
    noop_with_empty_axes: bool,
}

impl ReduceMean18 {
    fn axes(&self, axes: Vec<i64>, rank: i64) -> Vec<i64> {
        if axes.is_empty() && !self.noop_with_empty_axes {
            (0..rank).collect()
        } else {
            axes
        }
    }

    fn op(&self, axes: Vec<i64>) -> nn::Reduce {
        nn::Reduce::new(Some(axes), self.keep_dims, nn::Reducer::Mean)
    }
}

impl Expansion for ReduceMean18 {
    fn name(&self) -> StaticName {
        "ReduceMean18".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1 + self.have_axis_input as usize)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        let with_axes = move |s: &mut Solver<'r>, rank: i64, axes: Vec<i64>| {
            let axes = self.axes(axes, rank);
            let removed = axes.len() as i64;
            let op = self.op(axes);
            if self.keep_dims {
                s.equals(&inputs[0].rank, &outputs[0].rank)?;
            } else {
                s.equals(inputs[0].rank.bex() - removed, &outputs[0].rank)?;
            }
            s.given(&inputs[0].shape, move |s, shape| {
                s.equals(&outputs[0].shape, op.output_shape(&shape))
            })
        };
        if self.have_axis_input {
            s.given_2(&inputs[0].rank, &inputs[1].value, move |s, rank, axes| {
                with_axes(s, rank, i64s(&axes)?)
            })
        } else {
            s.given(&inputs[0].rank, move |s, rank| with_axes(s, rank, vec![]))
        }
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let axes = if self.have_axis_input {
            i64s(&*known(model, inputs[1], "ReduceMean's axes")?)?
        } else {
            vec![]
        };
        let rank = model.outlet_fact(inputs[0])?.rank() as i64;
        self.op(self.axes(axes, rank))
            .wire(prefix, model, &inputs[0..1])
    }
}

/// Squeeze and Unsqueeze from operator set 13: the axes a constant input (Squeeze: optional, every axis
/// of size one without it).
#[derive(Debug, Clone, Copy)]
enum AxesInput {
    Squeeze,
    Unsqueeze,
}

impl AxesInput {
    fn output_shape(self, shape: &[TDim], axes: Option<&[i64]>) -> TractResult<TVec<TDim>> {
        match (self, axes) {
            (AxesInput::Squeeze, Some(axes)) => {
                array::Squeeze::new(Some(isizes(axes))).output_shape(shape)
            }
            (AxesInput::Squeeze, None) => {
                array::Squeeze::new(Some(Self::ones(shape))).output_shape(shape)
            }
            (AxesInput::Unsqueeze, Some(axes)) => {
                Ok(array::AddDims::new(isizes(axes)).output_shape(shape))
            }
            (AxesInput::Unsqueeze, None) => bail!("Unsqueeze needs its axes input"),
        }
    }

    /// The axes of size one (a Squeeze without axes removes them all).
    fn ones(shape: &[TDim]) -> Vec<isize> {
        shape
            .iter()
            .enumerate()
            .filter(|(_, d)| d.is_one())
            .map(|(i, _)| i as isize)
            .collect()
    }
}

impl Expansion for AxesInput {
    fn name(&self) -> StaticName {
        match self {
            AxesInput::Squeeze => "Squeeze13".into(),
            AxesInput::Unsqueeze => "Unsqueeze13".into(),
        }
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, 1)?;
        match (self, inputs.len()) {
            (AxesInput::Squeeze, 1 | 2) | (AxesInput::Unsqueeze, 2) => {}
            (_, n) => bail!("Wrong input number: {n}"),
        }
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        let this = *self;
        if inputs.len() == 2 {
            s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, axes| {
                let axes = i64s(&axes)?;
                s.equals(&outputs[0].shape, this.output_shape(&shape, Some(&axes))?)
            })
        } else {
            s.given(&inputs[0].shape, move |s, shape| {
                s.equals(&outputs[0].shape, this.output_shape(&shape, None)?)
            })
        }
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let axes = match inputs.get(1) {
            Some(&axes) => isizes(&i64s(&*known(model, axes, "the axes")?)?),
            None => Self::ones(&model.outlet_fact(inputs[0])?.shape.to_tvec()),
        };
        match self {
            AxesInput::Squeeze => {
                array::Squeeze::new(Some(axes)).wire(prefix, model, &inputs[0..1])
            }
            AxesInput::Unsqueeze => array::AddDims::new(axes).wire(prefix, model, &inputs[0..1]),
        }
    }
}

/// Shape, with operator set 15's `start` and `end` (the dims `start..end`, negative from the end,
/// clamped to the rank).
#[derive(Debug, Clone)]
struct ShapeSlice {
    start: i64,
    end: Option<i64>,
}

impl ShapeSlice {
    fn range(&self, rank: usize) -> std::ops::Range<usize> {
        let rank = rank as i64;
        let clamp =
            |axis: i64| (if axis >= 0 { axis } else { axis + rank }).clamp(0, rank) as usize;
        let start = clamp(self.start);
        let end = self.end.map(clamp).unwrap_or(rank as usize);
        start..end.max(start)
    }
}

impl Expansion for ShapeSlice {
    fn name(&self) -> StaticName {
        "Shape".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[0].datum_type, TDim::datum_type())?;
        s.given(&inputs[0].shape, move |s, shape| {
            let range = self.range(shape.len());
            s.equals(&outputs[0].value, rctensor1(&shape[range]))
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let shape = model.outlet_fact(inputs[0])?.shape.to_tvec();
        let range = self.range(shape.len());
        Ok(tvec!(model.add_const(prefix, tensor1(&shape[range]))?))
    }
}

/// `x · ½ · (1 + erf(x / √2))`, wired as tract-onnx wires it.
#[derive(Debug, Clone)]
struct GeluExact;

impl Expansion for GeluExact {
    fn name(&self) -> StaticName {
        "GeluExact".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        like_input(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        use tract_onnx::tract_hir::ops::logic::wire_with_rank_broadcast as wire;
        use tract_onnx::tract_hir::tract_core::ops::math::{add, erf, mul};
        let dt = model.outlet_fact(inputs[0])?.datum_type;
        let k = |model: &mut TypedModel, name: &str, v: f32| {
            model.add_const(
                format!("{prefix}.{name}"),
                tensor0(v).cast_to_dt(dt)?.into_owned(),
            )
        };
        let inv_sqrt2 = k(model, "inv_sqrt2", 2.0f32.sqrt().recip())?;
        let scaled = wire(
            format!("{prefix}.scale"),
            model,
            mul(),
            &[inputs[0], inv_sqrt2],
        )?[0];
        let erf_x = model.wire_node(format!("{prefix}.erf"), erf(), &[scaled])?[0];
        let one = k(model, "one", 1.0)?;
        let one_plus = wire(format!("{prefix}.add_one"), model, add(), &[erf_x, one])?[0];
        let half = k(model, "half", 0.5)?;
        let half_x = wire(format!("{prefix}.half_x"), model, mul(), &[inputs[0], half])?[0];
        wire(format!("{prefix}.out"), model, mul(), &[half_x, one_plus])
    }
}

/// BatchNormalization in inference (NCHW, f32): `x · slope + intercept` per channel, from constant
/// parameters, with the slope and intercept computed as tract-onnx computes them.
#[derive(Debug, Clone)]
struct BatchNorm {
    epsilon: f32,
}

impl Expansion for BatchNorm {
    fn name(&self) -> StaticName {
        "BatchNorm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 5)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        for input in &inputs[1..] {
            s.equals(&input.datum_type, &inputs[0].datum_type)?;
            s.equals(&input.shape, &inputs[1].shape)?;
        }
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        s.equals(&inputs[1].shape[0], &inputs[0].shape[1])?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = model.outlet_fact(inputs[0])?.clone();
        if x.datum_type != f32::datum_type() {
            bail!(
                "BatchNormalization over {:?} is not supported in the page's build (f32 only)",
                x.datum_type
            );
        }
        let rank = x.rank();
        if rank < 2 {
            bail!("BatchNormalization needs a channel axis (input of rank {rank})");
        }
        let c = x.shape[1].to_usize()?;
        let mut params = Vec::with_capacity(4);
        for (ix, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let k = known(model, inputs[ix], &format!("BatchNormalization's {what}"))?;
            let v = k.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
            if v.len() != c {
                bail!(
                    "BatchNormalization's {what} has {} values for {c} channels",
                    v.len()
                );
            }
            params.push(v);
        }
        let (scale, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let denominator: Vec<f32> = var.iter().map(|v| (v + self.epsilon).sqrt()).collect();
        let slope: Vec<f32> = (0..c).map(|i| scale[i] / denominator[i]).collect();
        let intercept: Vec<f32> = (0..c)
            .map(|i| beta[i] - (mean[i] * scale[i]) / denominator[i])
            .collect();
        let mut shape = tvec!(1; rank);
        shape[1] = c;
        let slope = tensor1(&slope).into_shape(&shape)?;
        let intercept = tensor1(&intercept).into_shape(&shape)?;
        let slope = model.add_const(format!("{prefix}.slope"), slope)?;
        let intercept = model.add_const(format!("{prefix}.inter"), intercept)?;
        let wire = model.wire_node(
            format!("{prefix}.mul"),
            ops::math::mul(),
            &[slope, inputs[0]],
        )?[0];
        model.wire_node(prefix, ops::math::add(), &[intercept, wire])
    }
}

/// Dropout in inference: the input itself. Training mode with a ratio other than zero would drop values
/// at random, which no replay should do, so it is refused; so is a mode or ratio that is not a constant.
#[derive(Debug, Clone)]
struct Dropout {
    ratio: Option<usize>,
    training_mode: Option<usize>,
}

impl Expansion for Dropout {
    fn name(&self) -> StaticName {
        "Dropout".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(
            inputs,
            1 + self.ratio.is_some() as usize + self.training_mode.is_some() as usize,
        )?;
        like_input(s, inputs, outputs)
    }

    fn wire(
        &self,
        _prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        if let Some(mode) = self.training_mode {
            let training =
                known(model, inputs[mode], "Dropout's training_mode")?.cast_to_scalar::<bool>()?;
            let ratio = match self.ratio {
                Some(r) => known(model, inputs[r], "Dropout's ratio")?.cast_to_scalar::<f32>()?,
                None => 0.5,
            };
            if training && ratio != 0.0 {
                bail!("Dropout in training mode with a non-zero ratio is not supported");
            }
        }
        Ok(tvec!(inputs[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::countnet::{float_tensor, int, ints, node, value_info};
    use tract_onnx::pb;

    /// Seeded values in about [-2, 2), portable (no float maths beyond one scale).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    fn i64_tensor(name: &str, v: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: vec![v.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            int64_data: v.to_vec(),
            ..Default::default()
        }
    }

    fn model(
        opset: i64,
        nodes: Vec<pb::NodeProto>,
        initializer: Vec<pb::TensorProto>,
        input: &[Option<usize>],
        output: &str,
    ) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            graph: Some(pb::GraphProto {
                node: nodes,
                initializer,
                input: vec![value_info("x", input)],
                output: vec![pb::ValueInfoProto {
                    name: output.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The outputs of `proto` on `input` (shape `shape`), parsed with `framework`, optimised as
    /// `CountModel` would be (decluttered, then optimised).
    fn run(framework: &Onnx, proto: &ModelProto, shape: &[usize], input: &[f32]) -> Vec<Vec<u32>> {
        let plan = framework
            .model_for_proto_model(proto)
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_decluttered())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let x = tract_ndarray::ArrayD::from_shape_vec(shape, input.to_vec()).unwrap();
        plan.run(tvec!(Tensor::from(x).into_tvalue()))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .iter()
            .map(|t| {
                let t = t.cast_to::<f32>().unwrap();
                let view = t.to_plain_array_view::<f32>().unwrap();
                view.iter().map(|v| v.to_bits()).collect()
            })
            .collect()
    }

    /// Both registers give the same outputs, bit for bit, for `proto` at two batch sizes.
    fn same(proto: &ModelProto, window: &[usize]) {
        for batch in [1, 3] {
            let shape: Vec<usize> = std::iter::once(batch)
                .chain(window.iter().copied())
                .collect();
            let x = values(shape.iter().product(), batch as u64 + 7);
            let full = run(&tract_onnx::onnx(), proto, &shape, &x);
            let page = run(&page_framework(), proto, &shape, &x);
            assert!(!full.is_empty() && !full[0].is_empty());
            assert_eq!(full, page, "batch {batch}");
        }
    }

    #[test]
    fn the_list_is_what_is_registered_and_every_name_is_tract_onnxs() {
        let page = page_framework();
        let mut names: Vec<&str> = page.op_register.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, PAGE_OPS);
        let full = tract_onnx::onnx();
        for op in PAGE_OPS {
            assert!(full.op_register.0.contains_key(*op), "{op}");
        }
    }

    #[test]
    fn the_sample_model_runs_the_same_with_either_register() {
        let proto = crate::model::decode(include_bytes!("../../artifacts/count_v1.onnx")).unwrap();
        assert!(unsupported(&proto, PAGE_OPS).is_empty());
        same(&proto, &[56, 20]);
    }

    #[test]
    fn convolutions_normalisation_and_activations_are_the_same() {
        // BatchNormalization → Conv (padded, dilated, biased) → Gelu (exact) → Conv (auto_pad, strided,
        // grouped) → Gelu (tanh) → Dropout (inference) → Sigmoid → Sub, Mul, Div, Add with constants.
        let mut init = vec![
            float_tensor("bn_s", &[56], &values(56, 1)),
            float_tensor("bn_b", &[56], &values(56, 2)),
            float_tensor("bn_m", &[56], &values(56, 3)),
            float_tensor(
                "bn_v",
                &[56],
                &values(56, 4)
                    .iter()
                    .map(|v| v.abs() + 0.1)
                    .collect::<Vec<_>>(),
            ),
            float_tensor("w1", &[8, 56, 3], &values(8 * 56 * 3, 5)),
            float_tensor("b1", &[8], &values(8, 6)),
            float_tensor("w2", &[8, 4, 3], &values(8 * 4 * 3, 7)),
            float_tensor("k", &[1], &[0.75]),
            float_tensor("ratio", &[], &[0.3]),
        ];
        init.push(pb::TensorProto {
            name: "training".into(),
            data_type: pb::tensor_proto::DataType::Bool as i32,
            int32_data: vec![0],
            ..Default::default()
        });
        let approximate = pb::AttributeProto {
            name: "approximate".into(),
            r#type: pb::attribute_proto::AttributeType::String as i32,
            s: b"tanh".to_vec(),
            ..Default::default()
        };
        let auto_pad = pb::AttributeProto {
            name: "auto_pad".into(),
            r#type: pb::attribute_proto::AttributeType::String as i32,
            s: b"SAME_UPPER".to_vec(),
            ..Default::default()
        };
        let nodes = vec![
            node(
                "BatchNormalization",
                &["x", "bn_s", "bn_b", "bn_m", "bn_v"],
                "bn",
                vec![],
            ),
            node(
                "Conv",
                &["bn", "w1", "b1"],
                "c1",
                vec![
                    ints("pads", &[2, 2]),
                    ints("dilations", &[2]),
                    ints("kernel_shape", &[3]),
                ],
            ),
            node("Gelu", &["c1"], "g1", vec![]),
            node(
                "Conv",
                &["g1", "w2"],
                "c2",
                vec![auto_pad, ints("strides", &[2]), int("group", 2)],
            ),
            node("Gelu", &["c2"], "g2", vec![approximate]),
            node("Dropout", &["g2", "ratio", "training"], "d", vec![]),
            node("Sigmoid", &["d"], "s", vec![]),
            node("Sub", &["s", "k"], "s1", vec![]),
            node("Mul", &["s1", "k"], "s2", vec![]),
            node("Div", &["s2", "k"], "s3", vec![]),
            node("Add", &["s3", "x2"], "y", vec![]),
            node("Identity", &["s"], "x2", vec![]),
        ];
        same(
            &model(18, nodes, init, &[None, Some(56), Some(20)], "y"),
            &[56, 20],
        );
    }

    #[test]
    fn the_torchscript_flatten_and_heads_are_the_same() {
        // Shape → Gather → Unsqueeze → Concat with a Constant → Reshape (the TorchScript exporter's
        // `x.view(x.size(0), -1)`), Flatten, Transpose, MatMul, Gemm (alpha, beta, transposed),
        // GlobalAveragePool, ReduceMean (attribute and input axes), Squeeze, Cast, Relu, Softmax.
        for opset in [11, 13, 18] {
            let mut init = vec![
                float_tensor("w", &[1120, 16], &values(1120 * 16, 9)),
                float_tensor("g", &[8, 16], &values(8 * 16, 10)),
                float_tensor("gb", &[8], &values(8, 11)),
                i64_tensor("zero", &[0]),
                i64_tensor("axes", &[1]),
            ];
            init.push(pb::TensorProto {
                name: "gidx".into(),
                data_type: pb::tensor_proto::DataType::Int64 as i32,
                int64_data: vec![0],
                ..Default::default()
            });
            let minus_one = pb::AttributeProto {
                name: "value".into(),
                r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                t: Some(i64_tensor("", &[-1])),
                ..Default::default()
            };
            let float = int("to", pb::tensor_proto::DataType::Float as i64);
            let (unsqueeze, squeeze, mean) = if opset >= 13 {
                (
                    node("Unsqueeze", &["n", "zero"], "n1", vec![]),
                    node("Squeeze", &["pool"], "sq", vec![]),
                    if opset >= 18 {
                        node("ReduceMean", &["x", "axes"], "m", vec![int("keepdims", 0)])
                    } else {
                        node(
                            "ReduceMean",
                            &["x"],
                            "m",
                            vec![ints("axes", &[1]), int("keepdims", 0)],
                        )
                    },
                )
            } else {
                (
                    node("Unsqueeze", &["n"], "n1", vec![ints("axes", &[0])]),
                    node("Squeeze", &["pool"], "sq", vec![ints("axes", &[2])]),
                    node(
                        "ReduceMean",
                        &["x"],
                        "m",
                        vec![ints("axes", &[1]), int("keepdims", 0)],
                    ),
                )
            };
            let nodes = vec![
                node("Shape", &["x"], "shape", vec![]),
                node("Gather", &["shape", "gidx"], "n", vec![int("axis", 0)]),
                unsqueeze,
                node("Constant", &[], "m1", vec![minus_one]),
                node("Concat", &["n1", "m1"], "target", vec![int("axis", 0)]),
                node("Reshape", &["x", "target"], "flat", vec![]),
                node("Flatten", &["x"], "flat2", vec![int("axis", 1)]),
                node("Add", &["flat", "flat2"], "f", vec![]),
                node("MatMul", &["f", "w"], "h", vec![]),
                node("Relu", &["h"], "r", vec![]),
                node(
                    "Gemm",
                    &["r", "g", "gb"],
                    "logits",
                    vec![
                        int("transB", 1),
                        float_attr("alpha", 0.5),
                        float_attr("beta", 2.0),
                    ],
                ),
                node("Transpose", &["x"], "xt", vec![ints("perm", &[0, 2, 1])]),
                node("GlobalAveragePool", &["xt"], "pool", vec![]),
                squeeze,
                mean,
                node("Sub", &["sq", "m"], "diff", vec![]),
                node(
                    "ReduceMean",
                    &["diff"],
                    "dm",
                    vec![ints("axes", &[1]), int("keepdims", 1)],
                ),
                node("Cast", &["dm"], "dmf", vec![float]),
                node("Add", &["logits", "dmf"], "z", vec![]),
                node("Softmax", &["z"], "y", vec![int("axis", 1)]),
            ];
            // Squeeze without axes at operator set 13+ would also drop a batch of one: give it none only
            // where every batch has a size-one axis to drop (pool's last), as exporters do.
            same(
                &model(opset, nodes, init, &[None, Some(56), Some(20)], "y"),
                &[56, 20],
            );
        }
    }

    fn float_attr(name: &str, v: f32) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Float as i32,
            f: v,
            ..Default::default()
        }
    }

    #[test]
    fn ops_outside_the_list_are_named_with_their_first_node() {
        let mut proto =
            crate::model::decode(include_bytes!("../../artifacts/count_v1.onnx")).unwrap();
        let graph = proto.graph.as_mut().unwrap();
        graph.node[0].op_type = "Erf".into();
        graph.node[1].op_type = "Erf".into();
        graph.node[2].op_type = "Conv".into();
        graph.node[2].domain = "com.microsoft".into();
        let first = graph.node[0].name.clone();
        let second = graph.node[2].name.clone();
        let missing = unsupported(&proto, PAGE_OPS);
        assert_eq!(
            missing,
            vec![
                MissingOp {
                    op: "Erf".into(),
                    nodes: 2,
                    first_node: first
                },
                MissingOp {
                    op: "com.microsoft:Conv".into(),
                    nodes: 1,
                    first_node: second
                },
            ]
        );
        let text = crate::model::ModelError::unsupported(&missing).to_string();
        assert!(text.contains("`Erf` (2 nodes"), "{text}");
        assert!(text.contains("BatchNormalization, Cast"), "{text}");
    }
}
