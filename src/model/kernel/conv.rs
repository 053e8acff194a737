//! `DirectConv1d`: a 1-D convolution that packs its own input panels and runs the 8×5 kernel.
//!
//! Why: tract lowers a convolution to an `Im2col` op, a matrix product and, for the ReLU, a `Max`.
//! Its padded 1-D im2col writes the packed matrix one element at a time through a panel writer:
//! 29 of the model's 200 µs per window under wasmtime, and the three `Max` ops another 40. Here the
//! input panel for five output frames is, for every input channel and tap, five consecutive input
//! values: one short copy, zero-filled only where the padding reaches. The weights are packed once,
//! when the model is loaded. The tile loop then calls the kernel of `kernel/wasm.rs` directly with
//! the bias and the following `max` (ReLU) fused, and writes straight into the output.
//!
//! [`direct_convs`] swaps it in, after declutter and before codegen, for the convolutions it
//! covers: f32, one group, one spatial axis, NCH layout, stride 1, any dilation and explicit or
//! computed padding, with constant weights and bias. Everything else keeps tract's lowering.

use super::wasm::kernel;
use super::{MR, NR};
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::tract_linalg::mmm::{FusedKerSpec, OutputStoreKer};
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
    /// Weights in 8-row panels: panel, then k = channel × taps + tap, then 8 output channels
    /// (zero past `c_out`).
    packed: Arc<Vec<f32>>,
    /// One per output channel, zero-padded to whole panels.
    bias: Arc<Vec<f32>>,
    /// `max(y, floor)` fused into the store: the ReLU (floor 0) that follows every convolution of
    /// the count model. A separate tract `Max` over the output cost 40 µs per window under
    /// wasmtime, a fifth of the whole model.
    floor: Option<f32>,
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
        let panels = c_out.div_ceil(MR);
        let weights = w.try_as_plain_ram()?.as_slice::<f32>()?;
        let mut packed = vec![0f32; panels * k * MR];
        for o in 0..c_out {
            let (panel, row) = (o / MR, o % MR);
            for (kk, wv) in weights[o * k..(o + 1) * k].iter().enumerate() {
                packed[(panel * k + kk) * MR + row] = *wv;
            }
        }
        let mut padded_bias = vec![0f32; panels * MR];
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
            packed: Arc::new(packed),
            bias: Arc::new(padded_bias),
            floor: None,
        }))
    }

    /// Packs one window's input as the kernel's B panels: for every 5 output frames, k rows of 5.
    fn pack_input(&self, x: &[f32], panels: &mut [f32]) {
        let k = self.k();
        for (p, panel) in panels.chunks_exact_mut(k * NR).enumerate() {
            let t0 = p * NR;
            for c in 0..self.c_in {
                let row = &x[c * self.t_in..(c + 1) * self.t_in];
                for tap in 0..self.taps {
                    let dst = &mut panel[(c * self.taps + tap) * NR..][..NR];
                    // Input frame of output frame t0 + j: t0 + j + tap × dilation − pad_before.
                    let start = (t0 + tap * self.dilation) as isize - self.pad_before as isize;
                    let whole =
                        start >= 0 && start as usize + NR <= self.t_in && t0 + NR <= self.t_out;
                    if whole {
                        dst.copy_from_slice(&row[start as usize..start as usize + NR]);
                    } else {
                        for (j, d) in dst.iter_mut().enumerate() {
                            let t = start + j as isize;
                            *d = if t0 + j < self.t_out && t >= 0 && (t as usize) < self.t_in {
                                row[t as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
        }
    }

    /// One window: `x` is `[c_in, t_in]`, `y` is `[c_out, t_out]`.
    fn window(&self, x: &[f32], y: &mut [f32], panels: &mut [f32]) {
        self.pack_input(x, panels);
        let k = self.k();
        let mut edge = [0f32; MR * NR];
        for mp in 0..self.c_out.div_ceil(MR) {
            let rows = MR.min(self.c_out - mp * MR);
            for np in 0..self.t_out.div_ceil(NR) {
                let cols = NR.min(self.t_out - np * NR);
                let whole = rows == MR && cols == NR;
                // A whole tile goes straight into `y`; a partial one into `edge`, then its part.
                let (ptr, row_stride) = if whole {
                    (y[mp * MR * self.t_out + np * NR..].as_mut_ptr(), self.t_out)
                } else {
                    (edge.as_mut_ptr(), NR)
                };
                let store = OutputStoreKer {
                    ptr: ptr as *mut u8,
                    row_byte_stride: (4 * row_stride) as isize,
                    col_byte_stride: 4,
                    item_size: 4,
                };
                let mut spec = [FusedKerSpec::Done; 5];
                spec[0] = FusedKerSpec::AddMatMul {
                    k,
                    pa: self.packed[mp * k * MR..].as_ptr() as *const u8,
                    pb: panels[np * k * NR..].as_ptr() as *const u8,
                    packing: 0,
                };
                spec[1] = FusedKerSpec::PerRowAdd(self.bias[mp * MR..].as_ptr());
                let store_at = match self.floor {
                    Some(floor) => {
                        spec[2] = FusedKerSpec::ScalarMax(floor);
                        3
                    }
                    None => 2,
                };
                spec[store_at] = FusedKerSpec::Store(store);
                // SAFETY: A holds k × 8 values from this panel on, B k × 5 from this one on, the
                // bias 8 from this row on (all padded to whole panels); a whole tile's 8 rows × 5
                // columns lie inside `y`, any other goes to `edge`, which holds 8 × 5.
                unsafe { kernel(&spec) };
                if !whole {
                    for r in 0..rows {
                        let out = &mut y[(mp * MR + r) * self.t_out + np * NR..][..cols];
                        out.copy_from_slice(&edge[r * NR..r * NR + cols]);
                    }
                }
            }
        }
    }
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
            "C {}→{} × {} taps (dilation {}, pad before {}), T {}→{}, countscope 8×5 kernel",
            self.c_in, self.c_out, self.taps, self.dilation, self.pad_before, self.t_in, self.t_out
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
        // SAFETY: `window` writes every element: whole tiles through the kernel's store, the
        // rows and columns of partial ones from `edge`.
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[batch, self.c_out, self.t_out])? };
        {
            let mut view = y.try_as_plain_ram_mut()?;
            let ys = view.as_slice_mut::<f32>()?;
            let mut panels = vec![0f32; self.t_out.div_ceil(NR) * self.k() * NR];
            let (xn, yn) = (self.c_in * self.t_in, self.c_out * self.t_out);
            for b in 0..batch {
                self.window(
                    &xs[b * xn..(b + 1) * xn],
                    &mut ys[b * yn..(b + 1) * yn],
                    &mut panels,
                );
            }
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
            self.t_out.to_dim()
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

/// The floor of a `max(conv, c)` that is the convolution's only use, with `c` one value (a
/// ReLU is `c = 0`): the node to fuse and `c`.
fn floor_after(model: &TypedModel, conv: &TypedNode) -> TractResult<Option<(usize, f32)>> {
    let [succ] = &*conv.outputs[0].successors else {
        return Ok(None);
    };
    let next = model.node(succ.node);
    let Some(bin) = next.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if bin.0.as_linalg_binop() != Some(BinOp::Max) || next.inputs.len() != 2 {
        return Ok(None);
    }
    let other = model.outlet_fact(next.inputs[1 - succ.slot])?;
    let ours = model.outlet_fact(conv.id.into())?;
    let out = model.outlet_fact(next.id.into())?;
    let Some(uniform) = &other.uniform else {
        return Ok(None);
    };
    // The floor must broadcast onto the convolution's output without changing its shape.
    if other.datum_type != f32::datum_type()
        || out.shape != ours.shape
        || other.rank() > ours.rank()
        || other.shape.iter().any(|d| !d.is_one())
    {
        return Ok(None);
    }
    Ok(Some((next.id, uniform.cast_to_scalar::<f32>()?)))
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
        let mut last = node.id;
        if let Some((max, floor)) = floor_after(model, node)? {
            op.floor = Some(floor);
            last = max;
        }
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, OutletId::new(last, 0), y)?;
        patch.obliterate(node.id)?;
        if last != node.id {
            patch.obliterate(last)?;
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
    use tract_onnx::tract_core::ops::math::max;

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

    /// Returns how many convolutions were replaced, after checking the outputs agree.
    fn check(c: &Case) -> usize {
        let x =
            Tensor::from_shape(&[3, c.c_in, c.t_in], &test_values(3, 3 * c.c_in * c.t_in)).unwrap();
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
        let worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "max |Δ| {worst} for c_in {} c_out {}",
            c.c_in,
            c.c_out
        );
        if replaced > 0 {
            assert!(ops.iter().any(|o| o == "DirectConv1d"), "plan: {ops:?}");
            if c.relu {
                assert!(
                    !ops.iter().any(|o| o == "Max"),
                    "the ReLU was not fused: {ops:?}"
                );
            }
        }
        replaced
    }

    #[test]
    fn matches_tracts_lowering_on_every_shape_it_takes() {
        let cases = [
            BASE,
            Case {
                c_in: 64,
                c_out: 128,
                dilation: 2,
                pads: (2, 2),
                ..BASE
            },
            Case {
                c_in: 128,
                c_out: 128,
                dilation: 4,
                pads: (4, 4),
                ..BASE
            },
            Case {
                c_in: 7,
                c_out: 13,
                dilation: 2,
                pads: (2, 2),
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
        for c in &cases {
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
