//! `DirectConv1d`: a 1-D convolution run on countscope's frame-lane kernel (`frames.rs`).
//!
//! Why: tract lowers a convolution to an `Im2col` op, a matrix product and, for the ReLU, a `Max`.
//! Its padded 1-D im2col writes the packed matrix one element at a time through a panel writer:
//! 29 of the model's 200 µs per window under wasmtime, and the three `Max` ops another 40. Here
//! nothing is packed per window but one zero-padded copy of the input: the kernel's vectors run
//! along the frames, so a frame vector at any tap is four consecutive padded values. The weights
//! are broadcast once, when the model is loaded. The bias and the following `max` (ReLU) are fused
//! into the kernel's store, which writes straight into the output.
//!
//! [`direct_convs`] swaps it in, after declutter and before codegen, for the convolutions it
//! covers: f32, one group, one spatial axis, NCH layout, stride 1, any dilation and explicit or
//! computed padding, with constant weights and bias. Everything else keeps tract's lowering.

use super::frames::{self, LANES, ROWS, VECS};
use super::winograd::{self, Winograd};
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::{DataFormat, Reduce, Reducer};
use tract_onnx::tract_core::tract_linalg::BinOp;

/// A convolution over `[batch, c_in, t_in]` giving `[batch, c_out, t_out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectConv1d {
    c_in: usize,
    c_out: usize,
    taps: usize,
    dilation: usize,
    pad_before: usize,
    t_in: usize,
    t_out: usize,
    /// What runs it, with its weights.
    kernel: Kernel,
    /// One per output channel, zero-padded to whole pairs.
    bias: Arc<Vec<f32>>,
    /// `max(y, floor)` fused into the store: the ReLU (floor 0) that follows every convolution of
    /// the count model. A separate tract `Max` over the output cost 40 µs per window under
    /// wasmtime, a fifth of the whole model.
    floor: Option<f32>,
    /// `Some(scale)`: the output is each channel's sum over its frames times `scale`, `[batch,
    /// c_out, 1]`: the `ReduceMean` over time after the count model's last convolution (a sum and
    /// a multiplication by 1/20 once decluttered), which as two tract ops cost 8 µs per window
    /// under wasmtime and wrote the convolution's whole output first.
    sum_frames: Option<f32>,
}

impl DirectConv1d {
    fn k(&self) -> usize {
        self.c_in * self.taps
    }

    /// The op for `node`, or `None` when it is a convolution this op does not cover.
    fn for_node(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        if conv.q_params.is_some()
            || conv.group != 1
            || spec.rank() != 1
            || spec.data_format != DataFormat::NCHW
            || spec.stride(0) != 1
            || conv.kernel_fmt != KernelFormat::OIHW
            || node.inputs.len() != 3
        {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let (Some(w), Some(b)) = (
            model.outlet_fact(node.inputs[1])?.konst.clone(),
            model.outlet_fact(node.inputs[2])?.konst.clone(),
        ) else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type()
            || x.rank() != 3
            || w.datum_type() != f32::datum_type()
            || b.datum_type() != f32::datum_type()
            || w.rank() != 3
        {
            return Ok(None);
        }
        let (Ok(c_in), Ok(t_in)) = (x.shape[1].to_usize(), x.shape[2].to_usize()) else {
            return Ok(None);
        };
        let (c_out, taps) = (w.shape()[0], w.shape()[2]);
        if w.shape()[1] != c_in || c_in == 0 || taps == 0 || c_out == 0 {
            return Ok(None);
        }
        let bias = b.try_as_plain_ram()?.as_slice::<f32>()?;
        if !(bias.is_empty() || bias.len() == 1 || bias.len() == c_out) {
            return Ok(None);
        }
        let padding = spec.computed_padding(&[t_in]);
        let (pad_before, t_out) = (padding[0].pad_before, padding[0].convoluted);
        let out = model.outlet_fact(OutletId::new(node.id, 0))?;
        if out.datum_type != f32::datum_type()
            || out.rank() != 3
            || out.shape[0] != x.shape[0]
            || out.shape[1] != c_out.to_dim()
            || out.shape[2] != t_out.to_dim()
        {
            return Ok(None);
        }

        let k = c_in * taps;
        let w = w.try_as_plain_ram()?;
        let w = w.as_slice::<f32>()?;
        let planned = match taps {
            winograd::TAPS => Winograd::plan(
                w,
                (c_in, c_out),
                spec.dilation(0),
                pad_before,
                (t_in, t_out),
            ),
            _ => None,
        };
        let kernel = match planned {
            Some(plan) => Kernel::Winograd(Arc::new(plan)),
            None => Kernel::Direct(Arc::new(frames::splat_weights(w, c_out, k))),
        };
        let mut padded_bias = vec![0f32; c_out.div_ceil(ROWS) * ROWS];
        for (o, v) in padded_bias.iter_mut().take(c_out).enumerate() {
            *v = match bias.len() {
                0 => 0.0,
                1 => bias[0],
                _ => bias[o],
            };
        }
        Ok(Some(DirectConv1d {
            c_in,
            c_out,
            taps,
            dilation: spec.dilation(0),
            pad_before,
            t_in,
            t_out,
            kernel,
            bias: Arc::new(padded_bias),
            floor: None,
            sum_frames: None,
        }))
    }

    /// The windows' inputs, each channel's row zero-padded so that output frame t of tap k reads
    /// padded frame t + k × dilation, for every frame of whole vectors: `[batch][c_in][stride]`.
    fn pad_inputs(&self, xs: &[f32], batch: usize) -> Vec<f32> {
        let stride = self.stride();
        let mut padded = vec![0f32; batch * self.c_in * stride];
        // Input frame i lands at padded frame i + pad_before; frames past the stride are read by no
        // output frame.
        let (from, to) = (
            self.pad_before.min(stride),
            (self.pad_before + self.t_in).min(stride),
        );
        for (row, dst) in xs
            .chunks_exact(self.t_in)
            .zip(padded.chunks_exact_mut(stride))
        {
            dst[from..to].copy_from_slice(&row[..to - from]);
        }
        padded
    }

    /// Frames per output channel: 1 when they are summed.
    fn frames_out(&self) -> usize {
        if self.sum_frames.is_some() {
            1
        } else {
            self.t_out
        }
    }

    /// Floats per channel row of the padded input: every frame of ⌈t_out / 4⌉ vectors, plus the
    /// reach of the last tap.
    fn stride(&self) -> usize {
        self.t_out.div_ceil(LANES) * LANES + (self.taps - 1) * self.dilation
    }

    /// Every window of a batch: `xs` is `[batch, c_in, t_in]`, `ys` is `[batch, c_out, t_out]`.
    /// Pairs of output channels outside, windows inside, so a pair's broadcast weights (12 KB for
    /// the model's largest convolution) stay in the first-level cache across the batch.
    fn run(&self, xs: &[f32], ys: &mut [f32], batch: usize) {
        let weights = match &self.kernel {
            Kernel::Winograd(w) => {
                return w.run(xs, ys, batch, &self.bias, self.floor, self.sum_frames)
            }
            Kernel::Direct(weights) => weights,
        };
        let padded = self.pad_inputs(xs, batch);
        let shape = frames::Shape {
            c_in: self.c_in,
            taps: self.taps,
            dilation: self.dilation,
            stride: self.stride(),
        };
        let (xn, yn, wn) = (
            self.c_in * shape.stride,
            self.c_out * self.frames_out(),
            self.k() * ROWS * LANES,
        );
        // The second row of an odd c_out's last pair is computed into this and dropped.
        let mut spare = [0f32; LANES * VECS];
        // Summing over the frames: each tile's rows land here, then add into the output.
        let mut rows = [[0f32; LANES * VECS]; ROWS];
        for pair in 0..self.c_out.div_ceil(ROWS) {
            let w = weights[pair * wn..(pair + 1) * wn].as_ptr();
            let bias = [self.bias[pair * ROWS], self.bias[pair * ROWS + 1]];
            for b in 0..batch {
                let x = &padded[b * xn..(b + 1) * xn];
                let y = &mut ys[b * yn..(b + 1) * yn];
                let mut t0 = 0;
                while t0 < self.t_out {
                    let frames = (self.t_out - t0).min(LANES * VECS);
                    let o = pair * ROWS;
                    let out = if self.sum_frames.is_some() {
                        let [r0, r1] = &mut rows;
                        [r0.as_mut_ptr(), r1.as_mut_ptr()]
                    } else {
                        [
                            y[o * self.t_out + t0..].as_mut_ptr(),
                            if o + 1 < self.c_out {
                                y[(o + 1) * self.t_out + t0..].as_mut_ptr()
                            } else {
                                spare.as_mut_ptr()
                            },
                        ]
                    };
                    // SAFETY: `w` is this pair's c_in × taps × 2 × 4 broadcast weights. Every
                    // channel row of `x` holds `stride` floats, and the tile reads from frame
                    // t0 + t × dilation at most ⌈frames / 4⌉ × 4 of them: t0 + ⌈frames / 4⌉ × 4 ≤
                    // ⌈t_out / 4⌉ × 4, so the read ends within the stride. Each `out` row starts
                    // `frames` writable floats: t0 + frames ≤ t_out in its output row, or 20 in
                    // `spare` or `rows`.
                    unsafe {
                        frames::run(
                            shape,
                            frames::Tile {
                                w,
                                x: x[t0..].as_ptr(),
                                bias,
                                floor: self.floor,
                                out,
                                frames,
                            },
                        )
                    };
                    if self.sum_frames.is_some() {
                        for (r, row) in rows.iter().enumerate().take(self.c_out - o) {
                            let sum: f32 = row[..frames].iter().sum();
                            // Tiles of one window add up in frame order: t0 = 0 sets.
                            y[o + r] = if t0 == 0 { sum } else { y[o + r] + sum };
                        }
                    }
                    t0 += frames;
                }
                if let Some(scale) = self.sum_frames {
                    for v in y.iter_mut().skip(pair * ROWS).take(ROWS) {
                        *v *= scale;
                    }
                }
            }
        }
    }
}

/// The two ways `DirectConv1d` runs, each holding its weights in the form it reads them.
#[derive(Debug, Clone, PartialEq)]
enum Kernel {
    /// The frame-lane kernel over the padded input. The weights as [`frames::splat_weights`]
    /// lays them out: per pair of output channels, per k = channel × taps + tap, both channels'
    /// weights broadcast to four lanes.
    Direct(Arc<Vec<f32>>),
    /// The three-tap convolutions with enough channels and frames, as Winograd's F(5, 3)
    /// (`winograd.rs`), whatever the batch: 28 products per pair of channels where the
    /// direct kernel takes 60 for the count model's 20 frames. Its windows lie along the lanes, so
    /// a batch of one leaves three of four empty (that batch is slower than on the direct kernel);
    /// running the direct kernel for it instead would make a window's logits depend on the batch
    /// it fell in, since the two round differently.
    Winograd(Arc<Winograd>),
}

// tract asks ops for `Eq` to compare graphs. With a NaN weight two copies of one op compare
// unequal, which only costs tract a missed merge of identical nodes.
impl Eq for DirectConv1d {}

impl Op for DirectConv1d {
    fn name(&self) -> StaticName {
        "DirectConv1d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "C {}→{} × {} taps (dilation {}, pad before {}), T {}→{}{}, countscope frame-lane kernel{}",
            self.c_in,
            self.c_out,
            self.taps,
            self.dilation,
            self.pad_before,
            self.t_in,
            self.t_out,
            match self.sum_frames {
                Some(scale) => format!(", summed × {scale}"),
                None => String::new(),
            },
            match self.kernel {
                Kernel::Winograd(_) => ", Winograd F(5, 3)",
                Kernel::Direct(_) => "",
            }
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DirectConv1d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let shape = x.shape();
        ensure!(
            shape.len() == 3 && shape[1] == self.c_in && shape[2] == self.t_in,
            "DirectConv1d expects [batch, {}, {}], got {:?}",
            self.c_in,
            self.t_in,
            shape
        );
        let batch = shape[0];
        let xs = x.try_as_plain_ram()?.as_slice::<f32>()?;
        // SAFETY: `run` writes every element: every frame (or the sum) of every output channel of
        // every window.
        let mut y =
            unsafe { Tensor::uninitialized::<f32>(&[batch, self.c_out, self.frames_out()])? };
        {
            let mut view = y.try_as_plain_ram_mut()?;
            self.run(xs, view.as_slice_mut::<f32>()?, batch);
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for DirectConv1d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        Ok(tvec!(f32::fact([
            n,
            self.c_out.to_dim(),
            self.frames_out().to_dim()
        ])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let per_window = self.c_out * self.t_out * self.k();
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            inputs[0].shape[0].clone() * per_window
        )))
    }

    as_op!();
}

/// The only use of `node`'s output, when it has exactly one.
fn only_use(model: &TypedModel, node: usize) -> Option<InletId> {
    match &*model.node(node).outputs[0].successors {
        [succ] => Some(*succ),
        _ => None,
    }
}

/// `op(y, c)` as the only use of `node`'s output `y`, with `c` one f32 that broadcasts onto `y`
/// without changing its shape: that node and `c`. The ReLU after a convolution is `max(y, 0)`, the
/// scale of a mean is `sum × 1/20`.
fn scalar_after(model: &TypedModel, node: usize, op: BinOp) -> TractResult<Option<(usize, f32)>> {
    let Some(succ) = only_use(model, node) else {
        return Ok(None);
    };
    let next = model.node(succ.node);
    let Some(bin) = next.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if bin.0.as_linalg_binop() != Some(op) || next.inputs.len() != 2 {
        return Ok(None);
    }
    let other = model.outlet_fact(next.inputs[1 - succ.slot])?;
    let ours = model.outlet_fact(node.into())?;
    let out = model.outlet_fact(next.id.into())?;
    let Some(uniform) = &other.uniform else {
        return Ok(None);
    };
    if other.datum_type != f32::datum_type()
        || out.shape != ours.shape
        || other.rank() > ours.rank()
        || other.shape.iter().any(|d| !d.is_one())
    {
        return Ok(None);
    }
    Ok(Some((next.id, uniform.cast_to_scalar::<f32>()?)))
}

/// A sum over the frames (axis 2) that is the only use of `last`'s output, and the multiplication
/// by one value that is the sum's only use, where there is one: the nodes to fuse, in order, and
/// that value (1 without it). A `ReduceMean` over time is these two once tract has decluttered it.
fn sum_after(model: &TypedModel, last: usize) -> TractResult<Option<(Vec<usize>, f32)>> {
    let Some(sum) = only_use(model, last).map(|s| model.node(s.node)) else {
        return Ok(None);
    };
    match sum.op_as::<Reduce>() {
        Some(r) if r.reducer == Reducer::Sum && *r.axes == [2] => {}
        _ => return Ok(None),
    }
    Ok(Some(match scalar_after(model, sum.id, BinOp::Mul)? {
        Some((mul, scale)) => (vec![sum.id, mul], scale),
        None => (vec![sum.id], 1.0),
    }))
}

/// Replaces every convolution [`DirectConv1d`] covers in a decluttered model, with the `max`
/// (ReLU) that follows it where there is one; returns how many.
pub fn direct_convs(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        let Some(mut op) = DirectConv1d::for_node(model, node, conv)? else {
            continue;
        };
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, node.inputs[0])?;
        // The nodes the op takes the place of, in order: the convolution, then what is fused.
        let mut fused = vec![node.id];
        if let Some((max, floor)) = scalar_after(model, node.id, BinOp::Max)? {
            op.floor = Some(floor);
            fused.push(max);
        }
        if let Some((sum, scale)) = sum_after(model, fused[fused.len() - 1])? {
            op.sum_frames = Some(scale);
            fused.extend(sum);
        }
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(fused[fused.len() - 1], 0), y)?;
        for id in fused {
            patch.obliterate(id)?;
        }
        patch.apply(model)?;
        replaced += 1;
    }
    Ok(replaced)
}

/// `DirectConv1d` against tract's own lowering of the same convolution, on shapes the count model
/// does not have (channels not a multiple of 8, frames not a multiple of 5, asymmetric and
/// oversized padding, one tap, scalar bias), with and without the ReLU fused; and the
/// convolutions it must leave to tract. Runs in the wasm32-wasip2 unit-test program.
#[cfg(test)]
mod tests {
    use super::super::test_values;
    use super::*;
    use tract_onnx::tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_onnx::tract_core::ops::math::{max, mul};

    #[derive(Clone, Copy)]
    struct Case {
        c_in: usize,
        c_out: usize,
        taps: usize,
        dilation: usize,
        pads: (usize, usize),
        t_in: usize,
        stride: usize,
        group: usize,
        scalar_bias: bool,
        relu: bool,
        /// Then the mean over the frames (a sum over axis 2 times 1 / frames, as tract declutters
        /// ONNX's `ReduceMean`).
        mean: bool,
    }

    const BASE: Case = Case {
        c_in: 56,
        c_out: 64,
        taps: 3,
        dilation: 1,
        pads: (1, 1),
        t_in: 20,
        stride: 1,
        group: 1,
        scalar_bias: false,
        relu: true,
        mean: false,
    };

    /// The count model's middle and last convolutions (the first is `BASE`).
    const MIDDLE: Case = Case {
        c_in: 64,
        c_out: 128,
        dilation: 2,
        pads: (2, 2),
        ..BASE
    };
    const LAST: Case = Case {
        c_in: 128,
        c_out: 128,
        dilation: 4,
        pads: (4, 4),
        ..BASE
    };

    /// Winograd's edges: an odd c_out, a dilation whose phases are short and uneven, asymmetric
    /// padding, and frames that fill no whole tile.
    const EDGE: Case = Case {
        c_in: 9,
        c_out: 11,
        dilation: 3,
        pads: (2, 5),
        t_in: 13,
        scalar_bias: true,
        ..BASE
    };

    /// `[N, c_in, t_in]` (N symbolic, as the count model's) → Conv → optionally max(·, 0).
    fn model(c: &Case) -> TypedModel {
        let mut m = TypedModel::default();
        let n = m.symbols.sym("N");
        let x = m
            .add_source(
                "x",
                f32::fact([n.to_dim(), c.c_in.to_dim(), c.t_in.to_dim()]),
            )
            .unwrap();
        let w = Tensor::from_shape(
            &[c.c_out, c.c_in / c.group, c.taps],
            &test_values(1, c.c_out * c.c_in / c.group * c.taps),
        )
        .unwrap();
        let b = if c.scalar_bias {
            tensor0(0.25f32)
        } else {
            Tensor::from_shape(&[c.c_out], &test_values(2, c.c_out)).unwrap()
        };
        let w = m.add_const("w", w).unwrap();
        let b = m.add_const("b", b).unwrap();
        let conv = Conv {
            pool_spec: PoolSpec {
                data_format: DataFormat::NCHW,
                kernel_shape: tvec![c.taps],
                padding: PaddingSpec::Explicit(tvec![c.pads.0], tvec![c.pads.1]),
                dilations: Some(tvec![c.dilation]),
                strides: Some(tvec![c.stride]),
                input_channels: c.c_in,
                output_channels: c.c_out,
            },
            kernel_fmt: KernelFormat::OIHW,
            group: c.group,
            q_params: None,
        };
        let mut y = m.wire_node("conv", conv, &[x, w, b]).unwrap()[0];
        if c.relu {
            let zero = m.add_const("zero", tensor3(&[[[0f32]]])).unwrap();
            y = m.wire_node("relu", max(), &[y, zero]).unwrap()[0];
        }
        if c.mean {
            let frames = m.outlet_fact(y).unwrap().shape[2].to_usize().unwrap();
            y = m
                .wire_node("sum", Reduce::new(tvec![2], Reducer::Sum), &[y])
                .unwrap()[0];
            let scale = m
                .add_const("scale", tensor3(&[[[1.0 / frames as f32]]]))
                .unwrap();
            y = m.wire_node("mean", mul(), &[y, scale]).unwrap()[0];
        }
        m.select_output_outlets(&[y]).unwrap();
        m
    }

    fn run(m: TypedModel, x: &Tensor) -> (Tensor, Vec<String>) {
        let m = m.into_optimized().unwrap();
        let ops = m
            .nodes()
            .iter()
            .map(|n| n.op().name().to_string())
            .collect();
        let out = m
            .into_runnable()
            .unwrap()
            .run(tvec!(x.clone().into()))
            .unwrap();
        (out[0].clone().into_tensor(), ops)
    }

    /// The convolution by its definition, one product at a time in f64: the scalar reference the
    /// frame-lane kernel and tract's lowering are both held to (stride 1, one group). Beside each
    /// output, its scale: `|b| + Σ |w x|` over the products summed (averaged over the frames with
    /// the mean), the size of the numbers whose rounding the output carries.
    fn scalar(c: &Case, x: &[f32], batch: usize) -> (Vec<f32>, Vec<f64>) {
        let w = test_values(1, c.c_out * c.c_in * c.taps);
        let b = if c.scalar_bias {
            vec![0.25f32; c.c_out]
        } else {
            test_values(2, c.c_out)
        };
        let span = (c.taps - 1) * c.dilation + 1;
        let t_out = (c.t_in + c.pads.0 + c.pads.1 + 1).saturating_sub(span);
        let mut y = Vec::with_capacity(batch * c.c_out * t_out);
        let mut scale = Vec::with_capacity(y.capacity());
        for n in 0..batch {
            for o in 0..c.c_out {
                for t in 0..t_out {
                    let (mut sum, mut size) = (b[o] as f64, (b[o] as f64).abs());
                    for i in 0..c.c_in {
                        for k in 0..c.taps {
                            let at = (t + k * c.dilation) as isize - c.pads.0 as isize;
                            if at >= 0 && (at as usize) < c.t_in {
                                let p = w[(o * c.c_in + i) * c.taps + k] as f64
                                    * x[(n * c.c_in + i) * c.t_in + at as usize] as f64;
                                sum += p;
                                size += p.abs();
                            }
                        }
                    }
                    y.push(if c.relu { sum.max(0.0) } else { sum } as f32);
                    scale.push(size);
                }
            }
        }
        if c.mean {
            let mean = |v: &[f64]| v.iter().sum::<f64>() / t_out as f64;
            let y64: Vec<f64> = y.iter().map(|&v| v as f64).collect();
            return (
                y64.chunks(t_out).map(|r| mean(r) as f32).collect(),
                scale.chunks(t_out).map(mean).collect(),
            );
        }
        (y, scale)
    }

    /// The largest difference relative to each output's scale (`scalar`): f32 rounding grows with
    /// the size of what is summed, not with the result. Over these cases Winograd's outputs are
    /// off by at most 7.4e-7 of their scale, the direct kernel's by 1.6e-7; in absolute terms
    /// Winograd's reached 1.25e-5 on an output near 1.
    fn worst(a: &[f32], b: &[f32], scale: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .zip(scale)
            .map(|((a, b), s)| (a - b).abs() as f64 / s.max(f64::MIN_POSITIVE))
            .fold(0f64, f64::max)
    }

    /// Returns how many convolutions were replaced, after checking the outputs agree with tract's
    /// lowering and with the scalar reference.
    fn check(c: &Case) -> usize {
        // Five windows: where Winograd is planned, three lanes of its second vector are empty.
        check_batch(c, 5)
    }

    /// [`check`] over `batch` windows.
    fn check_batch(c: &Case, batch: usize) -> usize {
        let xs = test_values(3, batch * c.c_in * c.t_in);
        let x = Tensor::from_shape(&[batch, c.c_in, c.t_in], &xs).unwrap();
        let (want, _) = run(model(c), &x);
        let mut ours = model(c).into_decluttered().unwrap();
        let replaced = direct_convs(&mut ours).unwrap();
        let (got, ops) = run(ours, &x);
        assert_eq!(got.shape(), want.shape());
        let (g, w) = (
            got.try_as_plain_ram().unwrap(),
            want.try_as_plain_ram().unwrap(),
        );
        let (g, w) = (g.as_slice::<f32>().unwrap(), w.as_slice::<f32>().unwrap());
        // The reference knows stride 1 and one group only: the shapes `DirectConv1d` takes. The
        // others are left to tract, so the two runs are the same code.
        if c.stride == 1 && c.group == 1 {
            let (reference, scale) = scalar(c, &xs, batch);
            let (off_scalar, off_tract) = (worst(g, &reference, &scale), worst(g, w, &scale));
            assert!(
                off_tract <= 2e-6 && off_scalar <= 2e-6,
                "max |Δ| / scale {off_tract} from tract's lowering, {off_scalar} from the scalar \
                 reference, for c_in {} c_out {} dilation {} batch {batch}",
                c.c_in,
                c.c_out,
                c.dilation
            );
        } else {
            assert_eq!(replaced, 0);
            assert_eq!(g, w);
        }
        if replaced > 0 {
            assert!(ops.iter().any(|o| o == "DirectConv1d"), "plan: {ops:?}");
            if c.relu {
                assert!(
                    !ops.iter().any(|o| o == "Max"),
                    "the ReLU was not fused: {ops:?}"
                );
            }
            if c.mean {
                assert!(
                    !ops.iter().any(|o| o.starts_with("Reduce") || o == "Mul"),
                    "the mean was not fused: {ops:?}"
                );
            }
        }
        replaced
    }

    #[test]
    fn matches_tracts_lowering_on_every_shape_it_takes() {
        let cases = [
            BASE,
            MIDDLE,
            LAST,
            Case {
                c_in: 7,
                c_out: 13,
                dilation: 2,
                pads: (2, 2),
                ..BASE
            },
            EDGE,
            // A long row: nine tiles, the last one short.
            Case {
                c_in: 16,
                c_out: 8,
                pads: (0, 0),
                t_in: 47,
                relu: false,
                ..BASE
            },
            Case {
                c_in: 5,
                c_out: 9,
                taps: 4,
                dilation: 3,
                pads: (0, 5),
                t_in: 11,
                scalar_bias: true,
                relu: false,
                ..BASE
            },
            Case {
                c_in: 3,
                c_out: 8,
                taps: 2,
                pads: (0, 0),
                t_in: 6,
                ..BASE
            },
            Case {
                c_in: 4,
                c_out: 16,
                taps: 5,
                pads: (6, 6),
                t_in: 3,
                ..BASE
            },
            Case {
                c_in: 2,
                c_out: 1,
                taps: 2,
                pads: (1, 0),
                t_in: 1,
                relu: false,
                ..BASE
            },
        ];
        // The same shapes again with the mean over the frames fused (the last convolution's case).
        let means = cases
            .iter()
            .map(|c| Case { mean: true, ..*c })
            .collect::<Vec<_>>();
        for c in cases.iter().chain(&means) {
            assert_eq!(
                check(c),
                1,
                "c_in {} c_out {} taps {}",
                c.c_in,
                c.c_out,
                c.taps
            );
        }
    }

    /// Every batch size gives every window its own output, as tract's lowering does: 1, 3 and 4
    /// windows, and 17 and 37 (past Winograd's 16-window pass, the last pass with empty lanes).
    /// And a window's output is the same bit for bit in every batch, wherever it lies in it: a
    /// replay split between workers batches its windows differently.
    #[test]
    fn batches_of_any_size_match() {
        for batch in [1, 3, 4, 17, 37] {
            assert_eq!(check_batch(&BASE, batch), 1);
            assert_eq!(check_batch(&Case { mean: true, ..LAST }, batch), 1);
        }
    }

    /// A window's output is the same bit for bit whatever batch it is run in and wherever it
    /// lies in it (alone, at a 16-window pass's edge, in a batch of 3 or 7 with empty lanes).
    #[test]
    fn a_windows_output_does_not_depend_on_its_batch() {
        for c in [BASE, Case { mean: true, ..LAST }] {
            let mut m = model(&c).into_decluttered().unwrap();
            assert_eq!(direct_convs(&mut m).unwrap(), 1);
            let plan = m.into_optimized().unwrap().into_runnable().unwrap();
            let per = c.c_in * c.t_in;
            let xs = test_values(3, 37 * per);
            let out = |from: usize, n: usize| -> Vec<f32> {
                let x =
                    Tensor::from_shape(&[n, c.c_in, c.t_in], &xs[from * per..][..n * per]).unwrap();
                let y = plan.run(tvec!(x.into())).unwrap()[0].clone().into_tensor();
                let y = y.try_as_plain_ram().unwrap();
                y.as_slice::<f32>().unwrap().to_vec()
            };
            let all = out(0, 37);
            let per_out = all.len() / 37;
            for (from, n) in [(0, 1), (5, 3), (15, 1), (16, 1), (20, 7), (33, 4)] {
                assert!(
                    out(from, n) == all[from * per_out..][..n * per_out],
                    "windows {from}..{} alone differ from the same windows in a batch of 37",
                    from + n
                );
            }
        }
    }

    /// Whether `direct_convs` planned the case's convolution as Winograd's F(5, 3).
    fn winograd(c: &Case) -> bool {
        let mut m = model(c).into_decluttered().unwrap();
        assert_eq!(direct_convs(&mut m).unwrap(), 1);
        m.nodes()
            .iter()
            .filter_map(|n| n.op_as::<DirectConv1d>())
            .any(|op| matches!(op.kernel, Kernel::Winograd(_)))
    }

    /// The count model's three layers run as Winograd; so do the edge shapes above; shapes with
    /// few channels or few frames per phase keep the direct kernel (both are held to the same
    /// references by the test above).
    #[test]
    fn plans_winograd_where_it_saves_products() {
        for c in [BASE, MIDDLE, LAST, EDGE] {
            assert!(winograd(&c), "c_in {} dilation {}", c.c_in, c.dilation);
        }
        for c in [
            Case {
                c_in: 7,
                c_out: 13,
                ..BASE
            },
            Case {
                dilation: 4,
                pads: (4, 4),
                t_in: 8,
                ..BASE
            },
            Case {
                taps: 4,
                pads: (2, 1),
                ..BASE
            },
        ] {
            assert!(!winograd(&c), "c_in {} taps {}", c.c_in, c.taps);
        }
    }

    /// Strided and grouped convolutions stay tract's; so does one tap, which tract's declutter
    /// has already made a matrix product (no `Conv` is left to replace).
    #[test]
    fn leaves_strided_grouped_and_one_tap_convolutions_to_tract() {
        assert_eq!(check(&Case { stride: 2, ..BASE }), 0);
        assert_eq!(
            check(&Case {
                taps: 1,
                pads: (0, 0),
                ..BASE
            }),
            0
        );
        assert_eq!(
            check(&Case {
                c_in: 8,
                c_out: 16,
                group: 2,
                ..BASE
            }),
            0
        );
    }
}
