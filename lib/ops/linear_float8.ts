/** quantizeFloat8 and linearFloat8: dynamic e4m3 quantization and the scaled FP8 matmul (torch._scaled_mm). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { commonDevice, empty, type Tensor } from "../tensor.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs } from "./linear_args.ts";

const FLOATS: readonly DType[] = ["f32", "f16", "bf16"];

/** quantizeFloat8's result: e4m3 values shaped as x and f32 scales (see quantizeFloat8). */
export interface Float8Quantized {
  q: Tensor;
  scale: Tensor;
}

/**
 * Absmax float8 quantization of x [..., K] (f32, f16 or bf16): per row of K (rowwise, scale
 * [..., 1]) or per tensor (scale [1, ..., 1]), s = max(amax / 448, 1e-12) in f32 and
 * q = saturate_e4m3(x / s) (f8e4m3fn, x's shape). A zero row gets s = 1e-12 and q = 0; an inf makes
 * its row's (tensor's) s inf (finite values become 0, infs NaN); a NaN makes its row's (tensor's)
 * s and every q NaN. opts.out: tensors to write instead of new ones. See tao_quantize_f8 in include/tao.h.
 */
export function quantizeFloat8(x: Tensor, opts: { rowwise?: boolean; out?: Float8Quantized } = {}): Float8Quantized {
  const op = "quantizeFloat8";
  const rowwise = opts.rowwise ?? true;
  if (x.disposed) throw invalid(op, "x was disposed");
  if (!FLOATS.includes(x.dtype)) throw invalid(op, `x is ${x.dtype}; ${op} takes ${FLOATS.join(", ")}`);
  if (x.ndim === 0 || x.numel === 0) throw invalid(op, `x [${x.shape}] must have at least one row of at least one element`);
  const k = x.shape[x.ndim - 1]!, m = x.numel / k;
  const scaleShape = rowwise ? [...x.shape.slice(0, -1), 1] : x.shape.map(() => 1);
  const run = (q: Tensor, scale: Tensor) =>
    check(native.tao_quantize_f8(x.context.handle(op), x.ptr(op), dtypeCode(x.dtype), q.ptr(op), scale.ptr(op), m, k, rowwise ? 1 : 0), op);
  if (opts.out !== undefined) {
    const { q, scale } = opts.out;
    if (q.disposed || scale.disposed) throw invalid(op, "out was disposed");
    commonDevice(op, [x, q, scale]);
    if (q.dtype !== "f8e4m3fn" || q.shape.join() !== x.shape.join()) throw invalid(op, `out.q must be f8e4m3fn [${x.shape}], not ${q.dtype} [${q.shape}]`);
    if (scale.dtype !== "f32" || scale.numel !== (rowwise ? m : 1)) throw invalid(op, `out.scale must be f32 with ${rowwise ? m : 1} elements, not ${scale.dtype} [${scale.shape}]`);
    run(q, scale);
    return opts.out;
  }
  const q = empty(x.shape, { dtype: "f8e4m3fn", device: x.device });
  let scale: Tensor | null = null;
  try {
    scale = empty(scaleShape, { dtype: "f32", device: x.device });
    run(q, scale);
    return { q, scale };
  } catch (e) {
    q.dispose();
    scale?.dispose();
    throw e;
  }
}

/** Options of linearFloat8. */
export interface LinearFloat8Options extends LinearOptions {
  /** y's dtype (default bf16): bf16, f16 or f32. */
  dtype?: DType;
  /** Let CUDA use the FP8 tensor cores' faster, less precise accumulation (torch's use_fast_accum). */
  fastAccum?: boolean;
}

/**
 * y [..., N] = dtype(xscale · wscale · (xq · wqᵀ) + bias): xq f8e4m3fn [..., K], wq f8e4m3fn [N, K],
 * f32 scales from quantizeFloat8 (xscale: one per row of xq or one; wscale: N or one), bias [N] in
 * y's dtype (opts.dtype, default bf16). Exact products summed in f32, y rounded once. CUDA needs
 * compute capability 8.9+ (TaoError UNSUPPORTED otherwise). See tao_linear_f8_f8 in include/tao.h.
 */
export function linearFloat8(
  xq: Tensor, xscale: Tensor, wq: Tensor, wscale: Tensor, bias: Tensor | null = null, opts: LinearFloat8Options = {},
): Tensor {
  const op = "linearFloat8";
  const dtype = opts.dtype ?? "bf16";
  if (!FLOATS.includes(dtype)) throw invalid(op, `dtype must be bf16, f16 or f32, not ${dtype}`);
  for (const [name, t] of [["xq", xq], ["xscale", xscale], ["wq", wq], ["wscale", wscale], ["bias", bias], ["out", opts.out]] as const) {
    if (t?.disposed) throw invalid(op, `${name} was disposed`);
  }
  commonDevice(op, [xq, xscale, wq, wscale, bias, opts.out]);
  if (wq.dtype !== "f8e4m3fn" || wq.ndim !== 2) throw invalid(op, `wq must be f8e4m3fn [N, K], not ${wq.dtype} [${wq.shape}]`);
  if (xq.dtype !== "f8e4m3fn") throw invalid(op, `xq must be f8e4m3fn, not ${xq.dtype}`);
  const [n, k] = wq.shape as [number, number];
  if (xq.ndim === 0 || xq.shape[xq.ndim - 1] !== k) throw invalid(op, `xq [${xq.shape}] must end in K = ${k}`);
  const m = xq.numel / k;
  if (xscale.dtype !== "f32" || (xscale.numel !== m && xscale.numel !== 1)) {
    throw invalid(op, `xscale must be f32 with ${m} (row-wise) or 1 (per tensor) elements, not ${xscale.dtype} [${xscale.shape}]`);
  }
  if (wscale.dtype !== "f32" || (wscale.numel !== n && wscale.numel !== 1)) {
    throw invalid(op, `wscale must be f32 with ${n} (row-wise) or 1 (per tensor) elements, not ${wscale.dtype} [${wscale.shape}]`);
  }
  if (bias && (bias.dtype !== dtype || bias.ndim !== 1 || bias.shape[0] !== n)) {
    throw invalid(op, `bias must be ${dtype} [${n}], not ${bias.dtype} [${bias.shape}]`);
  }
  const shape = [...xq.shape.slice(0, -1), n];
  const out = opts.out;
  if (out !== undefined) {
    if (out.dtype !== dtype || out.shape.join() !== shape.join()) throw invalid(op, `out must be ${dtype} [${shape}], not ${out.dtype} [${out.shape}]`);
    if ([xq, xscale, wq, wscale, bias].some((t) => t?.storage === out.storage)) throw invalid(op, "out must not share storage with an input");
  }
  if (m === 0) throw invalid(op, "xq has no rows");
  // xscale.numel === m === 1 is both: either reading gives the same product.
  const xRow = xscale.numel === m && m !== 1 ? 1 : 0, wRow = wscale.numel === n && n !== 1 ? 1 : 0;
  const fill = (y: Tensor) => {
    check(native.tao_linear_f8_f8(xq.context.handle(op), xq.ptr(op), xscale.ptr(op), xRow, wq.ptr(op), wscale.ptr(op), wRow,
      bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(dtype), m, n, k, opts.fastAccum ? 1 : 0), op);
  };
  if (out !== undefined) {
    fill(out);
    return out;
  }
  const y = empty(shape, { dtype, device: xq.device });
  try {
    fill(y);
  } catch (e) {
    y.dispose();
    throw e;
  }
  return y;
}

/**
 * Dynamic float8 linear: x [..., K] (f32, f16 or bf16) quantized per call with quantizeFloat8
 * (row-wise or per tensor), then linearFloat8 with the pre-quantized weight; y in x's dtype.
 */
export function linearDynamicFloat8(
  x: Tensor, wq: Tensor, wscale: Tensor, bias: Tensor | null, opts: LinearOptions & { rowwise?: boolean; fastAccum?: boolean } = {},
): Tensor {
  const op = "linearDynamicFloat8";
  const n = wq.shape[0]!, k = wq.shape[1]!;
  checkLinearArgs(op, { x, weights: { wq, wscale }, bias, out: opts.out }, n, k, FLOATS);
  const { q, scale } = quantizeFloat8(x, { rowwise: opts.rowwise ?? true });
  try {
    return linearFloat8(q, scale, wq, wscale, bias, { out: opts.out, dtype: x.dtype, fastAccum: opts.fastAccum });
  } finally {
    q.dispose();
    scale.dispose();
  }
}
