/** W8A8 int8: quantizeRowsInt8 (per-token activation quantization) and linearInt8Int8 (int8 × int8 GEMM + rescale). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs } from "./linear_args.ts";

const X_DTYPES: readonly DType[] = ["f32", "f16", "bf16"];

export interface QuantizeRowsInt8Options {
  /** SmoothQuant's equalization scale s, f32 [K]: x is multiplied by 1/s (per input channel) in the same pass. */
  smooth?: Tensor | null;
}

/**
 * torchao's per-token symmetric int8 activation quantization (`_int8_symm_per_token_reduced_range_quant`):
 * x [..., K] (f32, f16 or bf16) becomes q (i8, x's shape) and scale (f32 [...], one per row) with
 * scale = max(max|v| / 127, 1e-5) and q = clamp(rint(v · (1 / scale)), -127, 127), v = x, or
 * x · (1 / smooth) when `smooth` is given. All steps are f32. An all-zero row gets scale 1e-5 and
 * q = 0; a row holding inf gets scale inf, one holding NaN gets scale NaN, and q = 0 for both (the
 * linear then gives NaN for that row). See tao_quantize_rows_int8 in include/tao.h.
 */
export function quantizeRowsInt8(x: Tensor, opts: QuantizeRowsInt8Options = {}): { q: Tensor; scale: Tensor } {
  const op = "quantizeRowsInt8";
  const smooth = opts.smooth ?? null;
  for (const [name, t] of [["x", x], ["smooth", smooth]] as const) if (t?.disposed) throw invalid(op, `${name} was disposed`);
  commonDevice(op, [x, smooth]);
  if (!X_DTYPES.includes(x.dtype)) throw invalid(op, `x is ${x.dtype}; ${op} takes ${X_DTYPES.join(", ")}`);
  if (x.ndim === 0) throw invalid(op, "x must have at least one dimension [..., K]");
  const k = x.shape[x.ndim - 1]!;
  if (k === 0) throw invalid(op, "K must be at least 1");
  if (smooth && (smooth.dtype !== "f32" || smooth.ndim !== 1 || smooth.shape[0] !== k)) {
    throw invalid(op, `smooth must be f32 [${k}], not ${smooth.dtype} [${smooth.shape}]`);
  }
  const m = x.numel / k;
  const rows = x.shape.slice(0, -1);
  const scale = produce("f32", rows, x.device, op, () => {});
  try {
    const q = produce("i8", x.shape, x.device, op, (q) => {
      if (m > 0) {
        check(native.tao_quantize_rows_int8(x.context.handle(op), x.ptr(op), dtypeCode(x.dtype), smooth?.ptr(op) ?? null, q.ptr(op),
          scale.ptr(op), m, k), op);
      }
    });
    return { q, scale };
  } catch (e) {
    scale.dispose();
    throw e;
  }
}

const Y_DTYPES: readonly DType[] = ["bf16", "f16", "f32"];

export interface LinearInt8Int8Options extends LinearOptions {
  /** Output dtype (bf16, f16 or f32); bias, when given, has it too. Default bf16, or out's dtype. */
  dtype?: DType;
}

/**
 * W8A8 linear (torchao's int8_dynamic_activation_int8_weight): y [..., N] = xscale · wscale ·
 * (xq · wqᵀ) + bias for int8 activations xq [..., K] with f32 row scales xscale [...] (as from
 * quantizeRowsInt8) and an int8 weight wq [N, K] with f32 per-output-channel scales wscale [N].
 * The sums are exact in int32 (K <= 131072); the rescale is f32, rounded once to the output dtype
 * (tao_linear_int8_int8 in include/tao.h gives the exact steps; the CPU and CUDA give the same bits).
 */
export function linearInt8Int8(xq: Tensor, xscale: Tensor, wq: Tensor, wscale: Tensor, bias: Tensor | null = null,
  opts: LinearInt8Int8Options = {}): Tensor {
  const op = "linearInt8Int8";
  for (const [name, t] of [["xq", xq], ["xscale", xscale], ["wq", wq], ["wscale", wscale]] as const) {
    if (t.disposed) throw invalid(op, `${name} was disposed`);
  }
  if (xq.dtype !== "i8" || xq.ndim === 0) throw invalid(op, `xq must be i8 [..., K], not ${xq.dtype} [${xq.shape}]`);
  if (wq.dtype !== "i8" || wq.ndim !== 2) throw invalid(op, `wq must be i8 [N, K], not ${wq.dtype} [${wq.shape}]`);
  const [n, k] = wq.shape as [number, number];
  const dtype = opts.dtype ?? opts.out?.dtype ?? bias?.dtype ?? "bf16";
  if (!Y_DTYPES.includes(dtype)) throw invalid(op, `dtype ${dtype}: ${op} writes ${Y_DTYPES.join(", ")}`);
  for (const [name, t] of [["bias", bias], ["out", opts.out]] as const) {
    if (t && !t.disposed && t.dtype !== dtype) throw invalid(op, `${name} is ${t.dtype} but the output dtype is ${dtype}`);
  }
  // checkLinearArgs checks devices, K, bias [N], out [..., N] and disposal; its dtype rule is x's, so
  // it sees xq as i8 and bias/out are checked above.
  const shape = checkLinearArgs(op, { x: xq, weights: { xscale, wq, wscale }, bias: null, out: undefined }, n, k, ["i8"]);
  if (bias && (bias.disposed || bias.ndim !== 1 || bias.shape[0] !== n)) {
    if (bias.disposed) throw invalid(op, "bias was disposed");
    throw invalid(op, `bias must be [${n}], not [${bias.shape}]`);
  }
  commonDevice(op, [xq, bias, opts.out]);
  const rows = xq.shape.slice(0, -1), m = xq.numel / k;
  const rowShaped = xscale.ndim === rows.length && rows.every((d, i) => d === xscale.shape[i]);
  if (xscale.dtype !== "f32" || !(rowShaped || (xscale.ndim === 1 && xscale.shape[0] === m))) {
    throw invalid(op, `xscale must be f32 [${rows}] (one per row of xq), not ${xscale.dtype} [${xscale.shape}]`);
  }
  if (wscale.dtype !== "f32" || wscale.ndim !== 1 || wscale.shape[0] !== n) {
    throw invalid(op, `wscale must be f32 [${n}], not ${wscale.dtype} [${wscale.shape}]`);
  }
  const out = opts.out;
  if (out !== undefined) {
    if (out.disposed) throw invalid(op, "out was disposed");
    if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) throw invalid(op, `out must be [${shape}], not [${out.shape}]`);
    if ([xq, xscale, wq, wscale, bias].some((t) => t?.storage === out.storage)) throw invalid(op, "out must not share storage with an input");
  }
  const run = (y: Tensor) => {
    if (y.numel > 0) {
      check(native.tao_linear_int8_int8(xq.context.handle(op), xq.ptr(op), xscale.ptr(op), wq.ptr(op), wscale.ptr(op),
        bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(dtype), m, n, k), op);
    }
  };
  if (out !== undefined) {
    run(out);
    return out;
  }
  return produce(dtype, shape, xq.device, op, run);
}
