/**
 * Float64 references of the transformer ops, written from include/tao.h independently of the
 * kernels, with error bounds derived for their f32 arithmetic (u = the output dtype's unit
 * roundoff). Runtime-neutral (bun test and the Deno suite).
 */
import type { DType } from "../lib/index.ts";

/** Unit roundoff of the float dtypes the ops write. */
export const UNIT: Record<string, number> = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 };
/** Half the spacing of the dtype's subnormals: the absolute part of its rounding error. */
export const TINY: Record<string, number> = { f32: 2 ** -150, f16: 2 ** -25, bf16: 2 ** -134 };

/** The dtype's rounding error bound at value r: u·|r| + tiny. */
export const rounding = (r: number, dtype: DType): number => UNIT[dtype]! * Math.abs(r) + TINY[dtype]!;
const E32 = 2 ** -23;

/** Indices (as "i: got vs want (tol)") where |got − want| > tol[i]; at most 8 listed. */
export function misses(got: ArrayLike<number>, want: ArrayLike<number>, tol: ArrayLike<number>): string[] {
  const bad: string[] = [];
  if (got.length !== want.length) return [`${got.length} values, expected ${want.length}`];
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol[i]!)) bad.push(`${i}: ${got[i]} vs ${want[i]} (tol ${tol[i]})`);
  }
  return bad.length > 8 ? [...bad.slice(0, 8), `... ${bad.length} in all`] : bad;
}

/** RMSNorm of x [rows, dim] with weight [dim]: the f64 value and a bound for f32 sums of dim squares. */
export function refRmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, dim: number, eps: number, dtype: DType) {
  const ref = new Float64Array(x.length), tol = new Float64Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[r * dim + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let j = 0; j < dim; j++) {
      const i = r * dim + j;
      ref[i] = x[i]! * inv * w[j]!;
      // the sum of squares errs by dim·2^-23 relative, inv by half that + a few roundings, then 2 products
      tol[i] = rounding(ref[i]!, dtype) + (dim / 2 + 8) * E32 * Math.abs(ref[i]!);
    }
  }
  return { ref, tol };
}

/** RoPE of x [B, T, H, Dh] at positions pos[b·T + t]: the f64 rotation and its bound (f32 cos/sin and rotation). */
export function refRope(x: ArrayLike<number>, shape: readonly number[], pos: ArrayLike<number>, theta: number, style: "interleaved" | "half", dtype: DType) {
  const [b, t, h, dh] = shape as [number, number, number, number];
  const ref = new Float64Array(x.length), tol = new Float64Array(x.length);
  for (let tok = 0; tok < b * t; tok++) {
    for (let i = 0; i < dh / 2; i++) {
      const angle = pos[tok]! * theta ** (-2 * i / dh);
      const c = Math.cos(angle), s = Math.sin(angle);
      for (let hh = 0; hh < h; hh++) {
        const base = (tok * h + hh) * dh;
        const ia = base + (style === "interleaved" ? 2 * i : i), ib = base + (style === "interleaved" ? 2 * i + 1 : i + dh / 2);
        const x0 = x[ia]!, x1 = x[ib]!;
        ref[ia] = x0 * c - x1 * s;
        ref[ib] = x0 * s + x1 * c;
        const mag = Math.abs(x0) + Math.abs(x1);
        tol[ia] = rounding(ref[ia]!, dtype) + 4 * E32 * mag;
        tol[ib] = rounding(ref[ib]!, dtype) + 4 * E32 * mag;
      }
    }
  }
  return { ref, tol };
}

export interface AttnCase {
  b: number;
  t: number;
  hq: number;
  hkv: number;
  dh: number;
  /** Cache rows (k/v's dim 1) and rows holding keys. */
  cap: number;
  kvLen: number;
  causal: boolean;
  /** Position of query 0. */
  p0: number;
}

/**
 * Attention of q [B, T, Hq, Dh] over k, v [B, cap, Hkv, Dh] (tao.h's masking rule) in f64, with a
 * bound for f32 scores (Dh products), f32 exp and f32 sums over the keys:
 * |δo| <= u·|o| + 2·δs·max|v| + (S + Dh + 16)·2^-23·Σp|v|, δs = (Dh + 8)·2^-23·scale·max Σ|q·k| + 2^-21·max|s|.
 */
export function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, c: AttnCase, scale: number, dtype: DType) {
  const { b, t, hq, hkv, dh, cap, kvLen, causal, p0 } = c;
  const ref = new Float64Array(q.length), tol = new Float64Array(q.length);
  const g = hq / hkv;
  for (let bi = 0; bi < b; bi++) {
    for (let ti = 0; ti < t; ti++) {
      const lim = causal ? Math.min(kvLen, Math.max(p0 + ti + 1, 0)) : kvLen;
      for (let h = 0; h < hq; h++) {
        const qo = ((bi * t + ti) * hq + h) * dh;
        const s: number[] = [];
        let ds = 0, maxv = 0;
        for (let j = 0; j < lim; j++) {
          const ko = ((bi * cap + j) * hkv + Math.floor(h / g)) * dh;
          let dot = 0, abs = 0;
          for (let d = 0; d < dh; d++) dot += q[qo + d]! * k[ko + d]!, abs += Math.abs(q[qo + d]! * k[ko + d]!);
          s.push(dot * scale);
          ds = Math.max(ds, (dh + 8) * E32 * scale * abs + 2 ** -21 * Math.abs(dot * scale));
          for (let d = 0; d < dh; d++) maxv = Math.max(maxv, Math.abs(v[ko + d]!));
        }
        const m = Math.max(...s);
        const p = s.map((x) => Math.exp(x - m));
        const l = p.reduce((a, x) => a + x, 0);
        for (let d = 0; d < dh; d++) {
          let o = 0, mag = 0;
          for (let j = 0; j < lim; j++) {
            const vv = v[((bi * cap + j) * hkv + Math.floor(h / g)) * dh + d]!;
            o += p[j]! * vv;
            mag += p[j]! * Math.abs(vv);
          }
          ref[qo + d] = lim > 0 ? o / l : 0;
          tol[qo + d] = rounding(ref[qo + d]!, dtype) + 2 * ds * maxv + (lim + dh + 16) * E32 * (lim > 0 ? mag / l : 0);
        }
      }
    }
  }
  return { ref, tol };
}
