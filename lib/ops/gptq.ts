/**
 * GPTQ ops (include/tao.h, tao_gptq_*): accumulate a layer's Hessian from its inputs, factor it (the
 * column order and the upper Cholesky factor of the damped inverse), and sweep a weight into groups of
 * 1- to 8-bit values with error feedback. lib/quantization/gptq.ts runs them per Linear.
 */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import { empty, produce, type Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, liveOnOneDevice, requireDtype, requireShape, tensorAddress } from "./op_args.ts";

/** Words of tao_gptq_args (include/tao.h), in header order; test/gptq_ops.test.ts checks the size. */
export const GPTQ_ARGS_WORDS = 14;
const W = {
  w: 0, wDtype: 1, h: 2, u: 3, perm: 4, n: 5, k: 6, groupSize: 7, blockSize: 8, staticGroups: 9, bits: 10, q: 11, scale: 12, zero: 13,
} as const;

/** [k, k] f32 Hessian check; returns k. */
function hessianDims(op: string, h: Tensor): number {
  requireDtype(op, "h", h, "f32");
  if (h.ndim !== 2 || h.shape[0] !== h.shape[1]) throw invalid(op, `h must be [k, k], not [${h.shape}]`);
  return h.shape[0]!;
}

/**
 * h [k, k] f32 ← beta·h + alpha·xᵀx in place, for x [..., k] (f32, f16, bf16) on h's device; h is not
 * read when beta is 0. H = 2·XᵀX / rows as a running mean: beta = seen / (seen + rows), alpha = 2 /
 * (seen + rows). f32 sums in row order, the same bits on every backend. See tao_gptq_hessian.
 */
export function gptqHessian(x: Tensor, h: Tensor, alpha: number, beta: number): void {
  const op = "gptqHessian";
  liveOnOneDevice(op, { x, h });
  requireDtype(op, "x", x, FLOAT_DTYPES);
  const k = hessianDims(op, h);
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== k) throw invalid(op, `x is [${x.shape}]; its last dim must be k = ${k}`);
  if (x.numel === 0) return;
  check(native.tao_gptq_hessian(h.context.handle(op), x.ptr(op), dtypeCode(x.dtype), x.numel / k, k, h.ptr(op), alpha, beta), op);
}

/** What gptqFactor gives: U and, with act-order, the column order. */
export interface GptqFactor {
  /** f32 [k, k], upper-triangular: (P·H·Pᵀ + damping)⁻¹ = Uᵀ·U. */
  u: Tensor;
  /** i32 [k], position → column (act-order only, else null: natural order). */
  perm: Tensor | null;
}

/** Options of gptqFactor. */
export interface GptqFactorOptions {
  /** Dampening added to the diagonal, as a fraction of its mean; in [0, 1) (default 0.01). */
  percdamp?: number;
  /** Order the columns by decreasing H_jj (default false). */
  actOrder?: boolean;
}

/**
 * The factor the GPTQ sweep needs from the Hessian h [k, k] (f32, not modified): dead inputs (H_jj = 0)
 * counted as 1, the act-order permutation, dampening, and the upper Cholesky factor of the inverse,
 * computed in f64 (see tao_gptq_factor). Reads one status word back (waits for the device); TaoError
 * when the damped Hessian is not positive definite.
 */
export function gptqFactor(h: Tensor, opts: GptqFactorOptions = {}): GptqFactor {
  const op = "gptqFactor";
  liveOnOneDevice(op, { h });
  const k = hessianDims(op, h);
  const { percdamp = 0.01, actOrder = false } = opts;
  if (!(percdamp >= 0 && percdamp < 1)) throw invalid(op, `percdamp must be in [0, 1), not ${percdamp}`);
  const perm = actOrder ? empty([k], { dtype: "i32", device: h.device }) : null;
  try {
    using info = empty([1], { dtype: "i32", device: h.device });
    const u = produce("f32", [k, k], h.device, op, (u) => {
      check(native.tao_gptq_factor(h.context.handle(op), h.ptr(op), k, percdamp, actOrder ? 1 : 0, perm?.ptr(op) ?? null, u.ptr(op), info.ptr(op)), op);
      const bad = info.toArray()[0]!;
      if (bad !== 0) throw invalid(op, `the damped Hessian is not positive definite (pivot at position ${bad - 1} of ${k}); raise percdamp`);
    });
    return { u, perm };
  } catch (e) {
    perm?.dispose();
    throw e;
  }
}

/** Options of gptqQuantize. */
export interface GptqQuantizeOptions {
  /** Columns per group; divides K. */
  groupSize: number;
  /** Columns per block of the sweep: a multiple of groupSize, at most 256 (default 128). */
  blockSize?: number;
  /** Group parameters from the weight before any update (default false; required with a column order). */
  staticGroups?: boolean;
  /** Bits per value, 1..8 (default 4: tinygemm's uint4). */
  bits?: number;
}

/** The sweep's result: `bits`-bit values and FLOAT-domain group parameters (bf16-representable, in f32). */
export interface GptqCodes {
  /** u8 [N, K], 0 .. 2^bits − 1, natural column order. */
  q: Tensor;
  /** f32 [N, K / groupSize]. */
  scale: Tensor;
  /** f32 [N, K / groupSize]. */
  zero: Tensor;
}

/**
 * The GPTQ sweep of w [N, K] (f32, f16, bf16; not modified) with the Hessian h it was factored from
 * and that factor: `bits`-bit codes with w ≈ (q − 2^(bits−1))·scale + zero (8 at 4 bits: tinygemm's
 * int4; uintx's FLOAT zero point). f32, the same bits on every backend.
 * See tao_gptq_quantize.
 */
export function gptqQuantize(w: Tensor, h: Tensor, factor: GptqFactor, opts: GptqQuantizeOptions): GptqCodes {
  const op = "gptqQuantize";
  const { u, perm } = factor;
  const device = liveOnOneDevice(op, { w, h, u, perm });
  requireDtype(op, "w", w, FLOAT_DTYPES);
  const k = hessianDims(op, h);
  if (w.ndim !== 2 || w.shape[1] !== k) throw invalid(op, `w must be [N, ${k}], not [${w.shape}]`);
  requireDtype(op, "u", u, "f32");
  requireShape(op, "u", u, [k, k]);
  if (perm) {
    requireDtype(op, "perm", perm, "i32");
    requireShape(op, "perm", perm, [k]);
  }
  const { groupSize, blockSize = 128, staticGroups = false, bits = 4 } = opts;
  if (!Number.isSafeInteger(groupSize) || groupSize < 1 || k % groupSize !== 0) throw invalid(op, `groupSize ${groupSize} must divide K = ${k}`);
  if (!Number.isSafeInteger(blockSize)) throw invalid(op, `blockSize must be an integer, not ${blockSize}`);
  if (!Number.isSafeInteger(bits)) throw invalid(op, `bits must be an integer, not ${bits}`);
  const n = w.shape[0]!, grid = [n, k / groupSize];
  const q = empty([n, k], { dtype: "u8", device });
  const made = [q];
  try {
    const scale = empty(grid, { device }), zero = empty(grid, { device });
    made.push(scale, zero);
    const words = new BigInt64Array(GPTQ_ARGS_WORDS);
    const address = (t: Tensor | null) => tensorAddress(op, t);
    words[W.w] = address(w);
    words[W.wDtype] = BigInt(dtypeCode(w.dtype));
    words[W.h] = address(h);
    words[W.u] = address(u);
    words[W.perm] = address(perm);
    words[W.n] = BigInt(n);
    words[W.k] = BigInt(k);
    words[W.groupSize] = BigInt(groupSize);
    words[W.blockSize] = BigInt(blockSize);
    words[W.staticGroups] = staticGroups ? 1n : 0n;
    words[W.bits] = BigInt(bits);
    words[W.q] = address(q);
    words[W.scale] = address(scale);
    words[W.zero] = address(zero);
    check(native.tao_gptq_quantize(w.context.handle(op), words), op);
    return { q, scale, zero };
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}
