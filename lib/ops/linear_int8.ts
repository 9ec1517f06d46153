/** linearInt8WeightOnly: y = (x · qᵀ) · scale (+ bias) with q an int8 weight, one scale per output channel. */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs, linearOutput } from "./linear_args.ts";

const DTYPES: readonly DType[] = ["bf16", "f16"];

/**
 * torchao's int8 weight-only linear: x [..., K] (bf16 or f16) times the weight W = q · scale (q i8
 * [N, K], scale [N] in x's dtype: symmetric per output channel, zero point 0), plus bias [N] if
 * given; bias, y [..., N] and opts.out are in x's dtype. W is never materialized: the products
 * x·q are exact in f32 and summed in f32, then scaled, biased and rounded once, so y equals the
 * float64 product with q·scale up to the order of the f32 sums. See tao_linear_int8_weight_only
 * in include/tao.h.
 */
export function linearInt8WeightOnly(x: Tensor, q: Tensor, scale: Tensor, bias: Tensor | null = null, opts: LinearOptions = {}): Tensor {
  const op = "linearInt8WeightOnly";
  if (q.dtype !== "i8" || q.ndim !== 2) throw invalid(op, `q must be i8 [N, K], not ${q.dtype} [${q.shape}]`);
  const [n, k] = q.shape as [number, number];
  const shape = checkLinearArgs(op, { x, weights: { q, scale }, bias, out: opts.out }, n, k, DTYPES);
  if (scale.dtype !== x.dtype || scale.ndim !== 1 || scale.shape[0] !== n) {
    throw invalid(op, `scale must be ${x.dtype} [${n}] (x's dtype), not ${scale.dtype} [${scale.shape}]`);
  }
  return linearOutput(op, x, shape, opts.out, (y) => {
    check(native.tao_linear_int8_weight_only(x.context.handle(op), x.ptr(op), q.ptr(op), scale.ptr(op), bias?.ptr(op) ?? null,
      y.ptr(op), dtypeCode(x.dtype), x.numel / k, n, k), op);
  });
}
