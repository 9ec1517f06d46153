/**
 * The float64 host reference of GPTQ for one weight (Frantar et al. 2022, Algorithm 1 and the
 * reference implementation's fasterquant). gptq() runs the native ops instead (gptq/solve.ts: the same
 * algorithm in f32 on the weight's device); the tests compare the two. Columns are quantized one at a
 * time, each column's rounding error e = (w − q) / U_ii is fed back into the columns not yet quantized
 * through U, the upper Cholesky factor of the damped inverse Hessian (within a block of `blockSize`
 * columns at once, into the later blocks lazily).
 * Values have `bits` bits (1..8; default 4), 0 .. max = 2^bits − 1 around mid = 2^(bits−1); groups get
 * round-to-nearest scale/zero (FLOAT domain, bf16: w ≈ (q − mid)·s + z, int4_groups.ts's rtnParams at 4
 * bits, uintx's FLOAT zero point otherwise) from the weight as it stands when the group's first column
 * comes up; with static groups (forced by act-order) from the original weight, so act-order's column
 * permutation leaves the groups in natural order and inference needs no gather.
 */
import { invalid } from "../../errors.ts";
import { emptyGroups, roundBf16, type Int4Groups } from "../int4_groups.ts";
import { upperCholeskyOfInverse } from "./linalg.ts";

/** Options of gptqWeight. */
export interface GptqWeightOptions {
  groupSize: number;
  /** Bits per value, 1..8 (default 4). */
  bits?: number;
  /** Dampening added to H's diagonal, as a fraction of its mean (default 0.01). */
  percdamp?: number;
  /** Quantize columns in order of decreasing H_jj (default false); implies static groups. */
  actOrder?: boolean;
  /** Columns per lazy-update block (default 128; a multiple of groupSize; the native sweep takes at most 256). */
  blockSize?: number;
  /** Group parameters from the original weight rather than the error-updated one (default false). */
  staticGroups?: boolean;
}

/** Throws a TaoError naming `op` for options gptqWeight cannot take with `k` input features. */
export function checkGptqOptions(opts: GptqWeightOptions, op: string): void {
  const { groupSize, bits = 4, percdamp = 0.01, blockSize = 128 } = opts;
  if (!Number.isSafeInteger(groupSize) || groupSize < 1) throw invalid(op, `groupSize must be a positive integer, not ${groupSize}`);
  if (!Number.isSafeInteger(bits) || bits < 1 || bits > 8) throw invalid(op, `bits must be 1..8, not ${bits}`);
  if (!(percdamp >= 0 && percdamp < 1)) throw invalid(op, `percdamp must be in [0, 1), not ${percdamp}`);
  if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize % groupSize !== 0) {
    throw invalid(op, `blockSize must be a positive multiple of groupSize ${groupSize}, not ${blockSize}`);
  }
}

/** The levels of `bits`-bit values: 0 .. max around mid (int4: 15 and 8). */
interface Levels {
  mid: number;
  max: number;
}

/** Round-to-nearest scale and zero of values[from, to): s = bf16(max((max − min) / lv.max, 1e-6)), z = bf16(min + lv.mid·s). */
function groupParams(values: ArrayLike<number>, from: number, to: number, lv: Levels): { scale: number; zero: number } {
  let mn = Infinity, mx = -Infinity;
  for (let i = from; i < to; i++) ((mn = Math.min(mn, values[i]!)), (mx = Math.max(mx, values[i]!)));
  const scale = roundBf16(Math.max((mx - mn) / lv.max, 1e-6));
  return { scale, zero: roundBf16(mn + lv.mid * scale) };
}

/** Column order: by decreasing Hessian diagonal (stable) under act-order, else natural. */
function columnOrder(h: Float64Array, k: number, actOrder: boolean): number[] {
  const order = Array.from({ length: k }, (_, j) => j);
  return actOrder ? order.sort((a, b) => h[b * k + b]! - h[a * k + a]!) : order;
}

/**
 * GPTQ-quantized groups of `bits`-bit values of `w` ([n, k] row-major, float64) given the layer's
 * Hessian `h` (2·XᵀX / rows, [k, k]; neither array is modified). Dead inputs (H_jj = 0) get H_jj = 1 and a zero
 * weight column, as in the reference. TaoError when k is not a multiple of groupSize.
 */
export function gptqWeight(w: Float64Array, n: number, k: number, h: Float64Array, opts: GptqWeightOptions): Int4Groups {
  const op = "gptq";
  checkGptqOptions(opts, op);
  const { groupSize, bits = 4, percdamp = 0.01, actOrder = false, blockSize = 128 } = opts;
  const lv: Levels = { mid: 2 ** (bits - 1), max: 2 ** bits - 1 };
  const staticGroups = actOrder || (opts.staticGroups ?? false);
  if (k % groupSize !== 0) throw invalid(op, `K = ${k} is not a multiple of groupSize ${groupSize}`);
  const hd = Float64Array.from(h), wd = Float64Array.from(w);
  for (let j = 0; j < k; j++) {
    if (hd[j * k + j] !== 0) continue;
    hd[j * k + j] = 1;
    for (let r = 0; r < n; r++) wd[r * k + j] = 0;
  }
  const out = emptyGroups(n, k, groupSize), perRow = k / groupSize;
  const setParams = (r: number, group: number, values: ArrayLike<number>, from: number) => {
    const { scale, zero } = groupParams(values, from, from + groupSize, lv);
    out.scale[r * perRow + group] = scale;
    out.zero[r * perRow + group] = zero;
  };
  if (staticGroups) for (let r = 0; r < n; r++) for (let g = 0; g < perRow; g++) setParams(r, g, wd, r * k + g * groupSize);

  const perm = columnOrder(hd, k, actOrder);
  const wp = new Float64Array(n * k), hp = new Float64Array(k * k);
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) wp[r * k + c] = wd[r * k + perm[c]!]!;
  let diagMean = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) hp[i * k + j] = hd[perm[i]! * k + perm[j]!]!;
    diagMean += hp[i * k + i]! / k;
  }
  for (let i = 0; i < k; i++) hp[i * k + i]! += percdamp * diagMean;
  const u = upperCholeskyOfInverse(hp, k, op);

  for (let i1 = 0; i1 < k; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, k), count = i2 - i1, err = new Float64Array(n * count);
    for (let i = i1; i < i2; i++) {
      const col = perm[i]!, group = Math.floor(col / groupSize), d = u[i * k + i]!;
      for (let r = 0; r < n; r++) {
        const row = r * k;
        if (!staticGroups && i % groupSize === 0) setParams(r, group, wp, row + i);
        const s = out.scale[r * perRow + group]!, z = out.zero[r * perRow + group]!, x = wp[row + i]!;
        const q = Math.min(lv.max, Math.max(0, Math.round((x - z) / s + lv.mid)));
        out.q[row + col] = q;
        const e = (x - ((q - lv.mid) * s + z)) / d;
        err[r * count + (i - i1)] = e;
        for (let j = i + 1; j < i2; j++) wp[row + j]! -= e * u[i * k + j]!;
      }
    }
    for (let r = 0; r < n; r++) {
      for (let i = i1; i < i2; i++) {
        const e = err[r * count + (i - i1)]!;
        if (e === 0) continue;
        for (let j = i2; j < k; j++) wp[r * k + j]! -= e * u[i * k + j]!;
      }
    }
  }
  return out;
}
