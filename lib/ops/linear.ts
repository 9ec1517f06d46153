/** linear: PyTorch's F.linear over tao_linear. */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { commonDevice, produce, Tensor } from "../tensor.ts";
import type { AffineQuantizedTensor } from "../dtypes/affine_quantized_tensor.ts";
import { quantizedLinear } from "../dtypes/dispatch.ts";

const DTYPES: readonly DType[] = ["f32", "f16", "bf16"];

export interface LinearOptions {
  /** Write the result here (x's dtype, shape [..., N], x's device) instead of into a new tensor. */
  out?: Tensor;
}

/**
 * y = x · weightᵀ + bias, as torch.nn.functional.linear. x is [..., K] (its leading dims are
 * flattened to M rows), weight is [N, K] (PyTorch's [out, in] layout), bias is [N] or absent;
 * y is [..., N]. All tensors are contiguous row-major, share one dtype (f32, f16 or bf16) and one
 * device. Products accumulate in f32 and each output is rounded once to the dtype (bias added
 * before that rounding). K must be at least 1; M or N of 0 gives an empty result.
 * A quantized weight (AffineQuantizedTensor) runs the first matching entry of the quantized-linear
 * dispatch table (lib/dtypes/dispatch.ts).
 */
export function linear(x: Tensor, weight: Tensor | AffineQuantizedTensor, bias: Tensor | null = null, opts: LinearOptions = {}): Tensor {
  if (!(weight instanceof Tensor)) return quantizedLinear(x, weight, bias, opts);
  const op = "linear";
  const { out } = opts;
  const named = [["x", x], ["weight", weight], ["bias", bias], ["out", out]] as const;
  for (const [name, t] of named) if (t?.disposed) throw invalid(op, `${name} was disposed`);
  commonDevice(op, [x, weight, bias, out]);
  for (const [name, t] of named) {
    if (t == null) continue;
    if (!DTYPES.includes(t.dtype)) throw invalid(op, `${name} is ${t.dtype}; linear takes ${DTYPES.join(", ")}`);
    if (t.dtype !== x.dtype) throw invalid(op, `${name} is ${t.dtype} but x is ${x.dtype}: all tensors need one dtype`);
  }
  if (weight.ndim !== 2) throw invalid(op, `weight must be 2-D [N, K], not [${weight.shape}]`);
  const [n, k] = weight.shape as [number, number];
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== k) throw invalid(op, `x [${x.shape}] must end in K = ${k} (weight [${weight.shape}])`);
  if (k === 0) throw invalid(op, "K must be at least 1");
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== n)) throw invalid(op, `bias must be [${n}], not [${bias.shape}]`);
  const shape = [...x.shape.slice(0, -1), n];
  if (out !== undefined) {
    if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
      throw invalid(op, `out must be [${shape}], not [${out.shape}]`);
    }
    if ([x, weight, bias].some((t) => t?.storage === out.storage)) throw invalid(op, "out must not share storage with an input");
  }

  const run = (y: Tensor) => {
    if (y.numel === 0) return;
    const m = x.numel / k;
    check(native.tao_linear(x.context.handle(op), x.ptr(op), weight.ptr(op), bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(x.dtype), m, n, k), op);
  };
  if (out === undefined) return produce(x.dtype, shape, x.device, op, run);
  run(out);
  return out;
}
