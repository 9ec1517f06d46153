/** linear: PyTorch's F.linear over tao_linear. */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { Tensor } from "../tensor.ts";
import type { AffineQuantizedTensor } from "../dtypes/affine_quantized_tensor.ts";
import { quantizedLinear } from "../dtypes/dispatch.ts";
import { checkLinearArgs, linearOutput } from "./linear_args.ts";

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
  if (weight.ndim !== 2) throw invalid(op, `weight must be 2-D [N, K], not [${weight.shape}]`);
  const [n, k] = weight.shape as [number, number];
  const shape = checkLinearArgs(op, { x, weights: { weight }, bias, out }, n, k, DTYPES);
  if (weight.dtype !== x.dtype) throw invalid(op, `weight is ${weight.dtype} but x is ${x.dtype}: all tensors need one dtype`);
  return linearOutput(op, x, shape, out, (y) => {
    check(native.tao_linear(x.context.handle(op), x.ptr(op), weight.ptr(op), bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(x.dtype), x.numel / k, n, k), op);
  });
}
