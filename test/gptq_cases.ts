// Shared by the GPTQ tests: correlated calibration inputs, their Hessian, the output error of a
// quantized weight, the dequantized weight of `bits`-bit groups, an independent float64 reference
// (Optimal Brain Quantization, column by column, no Cholesky, no blocks, any bit width) that also
// records the value each rounding saw, and the "same codes except at rounding ties" comparison of an
// f32 result with it.
import { expect } from "bun:test";
import { roundBf16, type Int4Groups } from "../lib/index.ts";
import { rng } from "./helpers.ts";

/** [rows, k] inputs with strongly correlated channels: x = z·A for standard-normal z and a fixed random A. */
export function correlatedInputs(rows: number, k: number, seed: number): Float64Array {
  const r = rng(seed), normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const a = Float64Array.from({ length: k * k }, (_, i) => normal() + (i % (k + 1) === 0 ? 2 : 0));
  const x = new Float64Array(rows * k);
  for (let t = 0; t < rows; t++) {
    const z = Array.from({ length: k }, normal);
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += z[p]! * a[p * k + j]!;
      x[t * k + j] = s / k;
    }
  }
  return x;
}

/** 2·XᵀX / rows in float64. */
export function hessianOf(x: ArrayLike<number>, k: number): Float64Array {
  const rows = x.length / k, h = new Float64Array(k * k);
  for (let t = 0; t < rows; t++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) h[i * k + j]! += (2 * x[t * k + i]! * x[t * k + j]!) / rows;
  return h;
}

/** Σ over rows of ‖x·(Ŵ − W)ᵀ‖² / (rows·n): the layer's output MSE with weight Ŵ. */
export function outputMse(x: Float64Array, w: ArrayLike<number>, what: Float64Array, n: number, k: number): number {
  let sum = 0;
  const rows = x.length / k;
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < n; o++) {
      let d = 0;
      for (let j = 0; j < k; j++) d += x[t * k + j]! * (what[o * k + j]! - w[o * k + j]!);
      sum += d * d;
    }
  }
  return sum / (rows * n);
}

/** The dequantized weight of `bits`-bit groups, (q − 2^(bits−1))·s + z, [n, k] row-major in float64. */
export function dequantizeBits(g: Int4Groups, bits: number): Float64Array {
  const mid = 2 ** (bits - 1), perRow = g.k / g.groupSize;
  return Float64Array.from({ length: g.n * g.k }, (_, i) => {
    const p = Math.floor(i / g.k) * perRow + Math.floor((i % g.k) / g.groupSize);
    return (g.q[i]! - mid) * g.scale[p]! + g.zero[p]!;
  });
}

/** An OBQ result with what each rounding saw: v = (x − z)/s + mid per element, s and z before bf16 rounding per group. */
export interface ObqResult extends Int4Groups {
  v: Float64Array;
  rawScale: Float64Array;
  rawZero: Float64Array;
}

/**
 * Independent reference: OBQ's column-by-column form. Columns in `order` (default natural); quantize
 * column i, spread its error (w − q)/Hinv_ii · Hinv_i,: over the later columns, then remove i from Hinv
 * by Gaussian elimination. `bits`-bit values (default 4) 0 .. max = 2^bits − 1 around mid = 2^(bits−1);
 * group parameters s = bf16(max((max − min) / max, 1e-6)), z = bf16(min + mid·s) (rtnParams' formulas
 * at 4 bits) from the updated weight when a group's first column comes up, or with `staticGroups` from
 * the original weight.
 */
export function obqReference(
  w: ArrayLike<number>, n: number, k: number, h: ArrayLike<number>, groupSize: number, percdamp: number,
  opts: { order?: number[]; staticGroups?: boolean; bits?: number } = {},
): ObqResult {
  const bits = opts.bits ?? 4, mid = 2 ** (bits - 1), max = 2 ** bits - 1;
  const order = opts.order ?? Array.from({ length: k }, (_, i) => i), staticGroups = opts.staticGroups ?? false;
  const hd = Float64Array.from({ length: k * k }, (_, e) => h[order[Math.floor(e / k)]! * k + order[e % k]!]!);
  const mean = Array.from({ length: k }, (_, i) => hd[i * k + i]!).reduce((a, b) => a + b) / k;
  for (let i = 0; i < k; i++) hd[i * k + i]! += percdamp * mean;
  // Gauss-Jordan inverse.
  const a = Float64Array.from(hd), inv = Float64Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0));
  for (let c = 0; c < k; c++) {
    const piv = a[c * k + c]!;
    for (let j = 0; j < k; j++) ((a[c * k + j]! /= piv), (inv[c * k + j]! /= piv));
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = a[r * k + c]!;
      for (let j = 0; j < k; j++) ((a[r * k + j]! -= f * a[c * k + j]!), (inv[r * k + j]! -= f * inv[c * k + j]!));
    }
  }
  const wd = Float64Array.from({ length: n * k }, (_, e) => w[Math.floor(e / k) * k + order[e % k]!]!), perRow = k / groupSize;
  const out: ObqResult = {
    n, k, groupSize, q: new Uint8Array(n * k), scale: new Float32Array(n * perRow), zero: new Float32Array(n * perRow),
    v: new Float64Array(n * k), rawScale: new Float64Array(n * perRow), rawZero: new Float64Array(n * perRow),
  };
  const setParams = (p: number, values: ArrayLike<number>, from: number) => {
    let mn = Infinity, mx = -Infinity;
    for (let i = from; i < from + groupSize; i++) ((mn = Math.min(mn, values[i]!)), (mx = Math.max(mx, values[i]!)));
    out.rawScale[p] = Math.max((mx - mn) / max, 1e-6);
    out.scale[p] = roundBf16(out.rawScale[p]!);
    out.rawZero[p] = mn + mid * out.scale[p]!;
    out.zero[p] = roundBf16(out.rawZero[p]!);
  };
  if (staticGroups) for (let r = 0; r < n; r++) for (let g = 0; g < perRow; g++) setParams(r * perRow + g, w, r * k + g * groupSize);
  for (let i = 0; i < k; i++) {
    const col = order[i]!;
    for (let r = 0; r < n; r++) {
      const p = r * perRow + Math.floor(col / groupSize);
      if (!staticGroups && i % groupSize === 0) setParams(p, wd, r * k + i);
      const s = out.scale[p]!, z = out.zero[p]!, x = wd[r * k + i]!;
      const v = (x - z) / s + mid, q = Math.min(max, Math.max(0, Math.round(v)));
      out.v[r * k + col] = v;
      out.q[r * k + col] = q;
      const e = (x - ((q - mid) * s + z)) / inv[i * k + i]!;
      for (let j = i + 1; j < k; j++) wd[r * k + j]! -= e * inv[i * k + j]!;
    }
    const d = inv[i * k + i]!, row = inv.slice(i * k, i * k + k);
    for (let r = 0; r < k; r++) {
      const f = inv[r * k + i]! / d;
      for (let j = 0; j < k; j++) inv[r * k + j]! -= f * row[j]!;
    }
  }
  return out;
}

/** How far v is from a rounding boundary of Math.round (a half-integer), in units of the step. */
export const codeTieDistance = (v: number): number => Math.abs(v - Math.floor(v) - 0.5);

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
/** How far x (after rounding to f32) is from a bf16 rounding boundary, in bf16 ulps (0 at a tie, 0.5 on a bf16 value). */
export function bf16TieDistance(x: number): number {
  f32[0] = x;
  return Math.abs((u32[0]! & 0xffff) - 0x8000) / 0x10000;
}

/** Within these distances a rounding counts as a tie the f32 computation may resolve the other way. */
export const CODE_TIE = 1e-3, BF16_TIE = 1e-2;

/**
 * Expects `got` (f32, native) to equal the float64 `ref` except where a rounding was within a tie
 * distance: in each row the first difference, in quantization order (group parameters at the group's
 * first column, or all of them first with static groups), must be such a tie; after it the row's
 * error feedback legitimately differs and is not compared. Returns the rows that differ.
 */
export function expectSameExceptTies(got: Int4Groups, ref: ObqResult, order: readonly number[], staticGroups: boolean): number {
  const { n, k, groupSize } = ref, perRow = k / groupSize;
  let differing = 0;
  for (let r = 0; r < n; r++) {
    const params = (p: number): boolean => {
      if (got.scale[p] !== ref.scale[p]) return expect(bf16TieDistance(ref.rawScale[p]!)).toBeLessThan(BF16_TIE), false;
      if (got.zero[p] !== ref.zero[p]) return expect(bf16TieDistance(ref.rawZero[p]!)).toBeLessThan(BF16_TIE), false;
      return true;
    };
    let same = true;
    if (staticGroups) for (let g = 0; g < perRow && same; g++) same = params(r * perRow + g);
    for (let i = 0; i < k && same; i++) {
      const col = order[i]!, e = r * k + col;
      if (!staticGroups && i % groupSize === 0) same = params(r * perRow + Math.floor(col / groupSize));
      if (same && got.q[e] !== ref.q[e]) {
        expect(codeTieDistance(ref.v[e]!)).toBeLessThan(CODE_TIE);
        same = false;
      }
    }
    if (!same) differing++;
  }
  return differing;
}
