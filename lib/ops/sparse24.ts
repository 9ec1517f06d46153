/**
 * 2:4 semi-structured sparsity ops over the tao_sparse24_* / tao_*cusparselt* entries of
 * include/tao.h: the 2:4 mask, masking, Wanda's column statistic, the compressed form (values + meta)
 * and its linear, and cuSPARSELt's packed form and sparse matmuls (CUDA).
 */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs, linearOutput } from "./linear_args.ts";
import type { LinearInt8Int8Options } from "./linear_w8a8.ts";

const WEIGHT_DTYPES: readonly DType[] = ["f32", "f16", "bf16", "i8"];

/** [N, K] of a 2-D weight with K a positive multiple of 4, else a TaoError naming `op`. */
function groupsShape(op: string, w: Tensor, name = "w"): [number, number] {
  if (w.disposed) throw invalid(op, `${name} was disposed`);
  if (w.ndim !== 2 || w.shape[1]! % 4 !== 0 || w.shape[1] === 0 || w.shape[0] === 0) {
    throw invalid(op, `${name} must be [N, K] with N >= 1 and K a positive multiple of 4, not [${w.shape}]`);
  }
  if (!WEIGHT_DTYPES.includes(w.dtype)) throw invalid(op, `${name} is ${w.dtype}; ${op} takes ${WEIGHT_DTYPES.join(", ")}`);
  return w.shape as [number, number];
}

/**
 * The 2:4 mask of w [N, K] (u8 [N, K], 1 = kept): in each group of 4 along K the 2 largest
 * |w|·colScale[k] (colScale f32 [K], default 1), ties to the lower index, NaN kept first.
 */
export function sparse24Mask(w: Tensor, opts: { colScale?: Tensor | null } = {}): Tensor {
  const op = "sparse24Mask";
  const [n, k] = groupsShape(op, w);
  const cs = opts.colScale ?? null;
  if (cs && (cs.disposed || cs.dtype !== "f32" || cs.ndim !== 1 || cs.shape[0] !== k)) {
    throw invalid(op, `colScale must be a live f32 [${k}], not ${cs.dtype} [${cs.shape}]`);
  }
  commonDevice(op, [w, cs]);
  return produce("u8", [n, k], w.device, op, (mask) => {
    check(native.tao_sparse24_mask(w.context.handle(op), w.ptr(op), dtypeCode(w.dtype), cs?.ptr(op) ?? null, mask.ptr(op), n, k), op);
  });
}

/** x[i] = mask[i] ? x[i] : 0, in place (mask u8 of x's shape); returns x. */
export function applyMask(x: Tensor, mask: Tensor): Tensor {
  const op = "applyMask";
  if (x.disposed || mask.disposed) throw invalid(op, `${x.disposed ? "x" : "mask"} was disposed`);
  if (mask.dtype !== "u8" || mask.shape.join() !== x.shape.join()) throw invalid(op, `mask must be u8 [${x.shape}], not ${mask.dtype} [${mask.shape}]`);
  commonDevice(op, [x, mask]);
  if (x.numel > 0) check(native.tao_apply_mask(x.context.handle(op), x.ptr(op), dtypeCode(x.dtype), mask.ptr(op), x.numel), op);
  return x;
}

/** acc[j] += Σ_i x[i, j]² for x [..., K] (f32, f16, bf16) and acc f32 [K], in place (Wanda's ‖X_j‖₂²); returns acc. */
export function columnSqSum(x: Tensor, acc: Tensor): Tensor {
  const op = "columnSqSum";
  if (x.disposed || acc.disposed) throw invalid(op, `${x.disposed ? "x" : "acc"} was disposed`);
  if (!["f32", "f16", "bf16"].includes(x.dtype) || x.ndim === 0) throw invalid(op, `x must be f32, f16 or bf16 [..., K], not ${x.dtype} [${x.shape}]`);
  const k = x.shape.at(-1)!;
  if (acc.dtype !== "f32" || acc.ndim !== 1 || acc.shape[0] !== k) throw invalid(op, `acc must be f32 [${k}], not ${acc.dtype} [${acc.shape}]`);
  commonDevice(op, [x, acc]);
  if (x.numel > 0) check(native.tao_column_sq_sum(x.context.handle(op), x.ptr(op), dtypeCode(x.dtype), acc.ptr(op), x.numel / k, k), op);
  return acc;
}

/** The compressed form of w [N, K]: values [N, K/2] (w's dtype) and meta u8 [N, K/4]; a group's 2 largest |w| are kept. */
export function sparse24Compress(w: Tensor): { values: Tensor; meta: Tensor } {
  const op = "sparse24Compress";
  const [n, k] = groupsShape(op, w);
  const meta = produce("u8", [n, k / 4], w.device, op, () => {});
  try {
    const values = produce(w.dtype, [n, k / 2], w.device, op, (v) => {
      check(native.tao_sparse24_compress(w.context.handle(op), w.ptr(op), dtypeCode(w.dtype), v.ptr(op), meta.ptr(op), n, k), op);
    });
    return { values, meta };
  } catch (e) {
    meta.dispose();
    throw e;
  }
}

/** [N, K] of a compressed form, after checking values [N, K/2] and meta u8 [N, K/4] on one device. */
function compressedShape(op: string, values: Tensor, meta: Tensor): [number, number] {
  if (values.disposed || meta.disposed) throw invalid(op, `${values.disposed ? "values" : "meta"} was disposed`);
  if (values.ndim !== 2 || values.shape[1]! % 2 !== 0 || values.numel === 0 || !WEIGHT_DTYPES.includes(values.dtype)) {
    throw invalid(op, `values must be [N, K/2] (K a multiple of 4) of ${WEIGHT_DTYPES.join(", ")}, not ${values.dtype} [${values.shape}]`);
  }
  const [n, half] = values.shape as [number, number];
  if (meta.dtype !== "u8" || meta.shape.join() !== [n, half / 2].join()) throw invalid(op, `meta must be u8 [${n}, ${half / 2}], not ${meta.dtype} [${meta.shape}]`);
  commonDevice(op, [values, meta]);
  return [n, 2 * half];
}

/** The dense [N, K] weight of a compressed form (zeros where nothing is kept). */
export function sparse24Decompress(values: Tensor, meta: Tensor): Tensor {
  const op = "sparse24Decompress";
  const [n, k] = compressedShape(op, values, meta);
  return produce(values.dtype, [n, k], values.device, op, (w) => {
    check(native.tao_sparse24_decompress(values.context.handle(op), values.ptr(op), meta.ptr(op), dtypeCode(values.dtype), w.ptr(op), n, k), op);
  });
}

/**
 * y = x · Wᵀ + bias for a compressed 2:4 W (values, meta) and x [..., K], all of one dtype (f32, f16,
 * bf16): f32 sums of the kept products only, one rounding (tao_linear_sparse24). CPU: the half-MAC
 * kernel; CUDA: dense weight in scratch + cuBLASLt (linearCusparselt is the sparse-tensor-core path).
 */
export function linearSparse24(x: Tensor, values: Tensor, meta: Tensor, bias: Tensor | null = null, opts: LinearOptions = {}): Tensor {
  const op = "linearSparse24";
  const [n, k] = compressedShape(op, values, meta);
  const shape = checkLinearArgs(op, { x, weights: { values, meta }, bias, out: opts.out }, n, k, ["f32", "f16", "bf16"]);
  if (values.dtype !== x.dtype) throw invalid(op, `values are ${values.dtype} but x is ${x.dtype}: one dtype`);
  return linearOutput(op, x, shape, opts.out, (y) => {
    check(native.tao_linear_sparse24(x.context.handle(op), x.ptr(op), values.ptr(op), meta.ptr(op), bias?.ptr(op) ?? null, y.ptr(op),
      dtypeCode(x.dtype), x.numel / k, n, k), op);
  });
}

/**
 * cuSPARSELt's packed form (u8 [bytes], CUDA) of a compressed 2:4 weight (bf16 or i8 values; f16 is
 * UNSUPPORTED, see include/tao.h).
 * A shape cuSPARSELt refuses is a TaoError UNSUPPORTED naming it; a missing library UNAVAILABLE.
 */
export function cusparseltPack(values: Tensor, meta: Tensor): Tensor {
  const op = "cusparseltPack";
  const [n, k] = compressedShape(op, values, meta);
  const ctx = values.context.handle(op), dt = dtypeCode(values.dtype);
  const bytes = new BigUint64Array(1);
  check(native.tao_cusparselt_packed_size(ctx, dt, n, k, bytes), op);
  return produce("u8", [Number(bytes[0])], values.device, op, (p) => {
    check(native.tao_cusparselt_pack(ctx, values.ptr(op), meta.ptr(op), dt, n, k, p.ptr(op)), op);
  });
}

/** The packed weight of an [N, K] layer: u8 1-D on x's device. */
function checkPacked(op: string, packed: Tensor): void {
  if (packed.disposed) throw invalid(op, "packed was disposed");
  if (packed.dtype !== "u8" || packed.ndim !== 1) throw invalid(op, `packed must be u8 [bytes] from cusparseltPack, not ${packed.dtype} [${packed.shape}]`);
}

/**
 * y = x · Wᵀ + bias on the sparse tensor cores for W = cusparseltPack(...) of shape [n, k]; x [..., K],
 * bias and y bf16; f32 accumulation, one rounding (tao_linear_cusparselt).
 */
export function linearCusparselt(x: Tensor, packed: Tensor, n: number, k: number, bias: Tensor | null = null, opts: LinearOptions = {}): Tensor {
  const op = "linearCusparselt";
  checkPacked(op, packed);
  const shape = checkLinearArgs(op, { x, weights: { packed }, bias, out: opts.out }, n, k, ["bf16"]);
  return linearOutput(op, x, shape, opts.out, (y) => {
    check(native.tao_linear_cusparselt(x.context.handle(op), x.ptr(op), packed.ptr(op), bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(x.dtype),
      x.numel / k, n, k), op);
  });
}

/**
 * W8A8 with a packed 2:4 int8 weight [n, k] (tao_linear_int8_cusparselt): xq i8 [..., K] with f32 row
 * scales xscale [...], wscale f32 [n]; y = xscale·wscale·Σ xq·W + bias in opts.dtype (default bias's,
 * out's, or bf16), the epilogue of linearInt8Int8 (same bits for the same int32 sums).
 */
export function linearInt8Cusparselt(xq: Tensor, xscale: Tensor, packed: Tensor, wscale: Tensor, n: number, k: number,
  bias: Tensor | null = null, opts: LinearInt8Int8Options = {}): Tensor {
  const op = "linearInt8Cusparselt";
  checkPacked(op, packed);
  const dtype = opts.dtype ?? opts.out?.dtype ?? bias?.dtype ?? "bf16";
  if (!["bf16", "f16", "f32"].includes(dtype)) throw invalid(op, `dtype ${dtype}: bf16, f16 or f32`);
  for (const [name, t] of [["bias", bias], ["out", opts.out]] as const) {
    if (t && !t.disposed && t.dtype !== dtype) throw invalid(op, `${name} is ${t.dtype} but the output dtype is ${dtype}`);
  }
  const shape = checkLinearArgs(op, { x: xq, weights: { xscale, packed, wscale }, bias: null, out: undefined }, n, k, ["i8"]);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== n)) throw invalid(op, `bias must be [${n}], not [${bias.shape}]`);
  const m = xq.numel / k;
  if (xscale.dtype !== "f32" || xscale.numel !== m) throw invalid(op, `xscale must be f32 with one value per row of xq (${m}), not ${xscale.dtype} [${xscale.shape}]`);
  if (wscale.dtype !== "f32" || wscale.ndim !== 1 || wscale.shape[0] !== n) throw invalid(op, `wscale must be f32 [${n}], not ${wscale.dtype} [${wscale.shape}]`);
  commonDevice(op, [xq, bias, opts.out]);
  const run = (y: Tensor) => {
    if (y.numel > 0) {
      check(native.tao_linear_int8_cusparselt(xq.context.handle(op), xq.ptr(op), xscale.ptr(op), packed.ptr(op), wscale.ptr(op),
        bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(dtype), m, n, k), op);
    }
  };
  if (opts.out !== undefined) {
    if (opts.out.disposed || opts.out.shape.join() !== shape.join()) throw invalid(op, `out must be a live [${shape}]`);
    run(opts.out);
    return opts.out;
  }
  return produce(dtype, shape, xq.device, op, run);
}
