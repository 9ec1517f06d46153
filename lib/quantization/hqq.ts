/**
 * HQQ (Badri & Shaji 2023, "Half-Quadratic Quantization"; torchao's
 * _choose_qparams_and_quantize_affine_hqq with optimize_weights_proximal_legacy): calibration-free
 * scale/zero of `bits`-bit values (int4 by default; uintx for 1..7 bits). Per group of `groupSize`
 * along K, in HQQ's form W ≈ (Wq − zero) / scale: start from min/max (scale = qmax / (max − min),
 * qmax = 2^bits − 1, at most 2e4; zero rounded), then alternate
 *   Wq = clamp(round(W·scale + zero), 0, qmax),  We = shrink_p(W − (Wq − zero)/scale, β),
 *   zero = mean_group(Wq − (W − We)·scale),      β ← κ·β,
 * where shrink_p(x, β) = sign(x)·max(|x| − |x|^(p−1)/β, 0) is the proximal step of the lp norm
 * (p = 0.7 < 1: a sparse, outlier-tolerant error model), stopping early once the weight's mean
 * |W − Wr| stops falling (over the whole weight, as the reference). The result is converted to
 * tinygemm's FLOAT form s = 1/scale, z = (mid − zero)·s, mid = 2^(bits−1) (8 for int4), both rounded
 * to bf16, and the values re-rounded with them: clamp(round((W − z)/s + mid), 0, qmax), the nearest
 * value under the stored parameters (quantizeInt4 for 4 bits).
 */
import { emptyGroups, roundBf16, type Int4Groups } from "./int4_groups.ts";

/** The solver's parameters (torchao's defaults). */
export interface HqqOptions {
  /** The lp norm's p (default 0.7). */
  lpNorm?: number;
  /** Initial β (default 10). */
  beta?: number;
  /** β's growth per iteration (default 1.01). */
  kappa?: number;
  /** Iterations at most (default 20). */
  iters?: number;
  /** Bits per value, 1..7 (default 4: the int4 layouts' uint4). */
  bits?: number;
}

const shrink = (x: number, beta: number, p: number): number => {
  const a = Math.abs(x);
  return a === 0 ? 0 : Math.sign(x) * Math.max(a - a ** (p - 1) / beta, 0);
};

/** HQQ groups of `w` ([n, k] row-major; k a multiple of groupSize): values 0..2^bits − 1, FLOAT-domain scale and zero. */
export function hqqGroups(w: ArrayLike<number>, n: number, k: number, groupSize: number, opts: HqqOptions = {}): Int4Groups {
  const { lpNorm = 0.7, kappa = 1.01, iters = 20, bits = 4 } = opts;
  const qmax = 2 ** bits - 1, mid = 2 ** (bits - 1);
  const groups = (n * k) / groupSize, scale = new Float64Array(groups), zero = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let mn = Infinity, mx = -Infinity;
    for (let i = g * groupSize; i < (g + 1) * groupSize; i++) ((mn = Math.min(mn, w[i]!)), (mx = Math.max(mx, w[i]!)));
    scale[g] = Math.min(qmax / (mx - mn), 2e4);
    zero[g] = Math.round(-mn * scale[g]!);
  }
  const quant = (x: number, g: number) => Math.min(qmax, Math.max(0, Math.round(x * scale[g]! + zero[g]!)));
  let beta = opts.beta ?? 10, best = Infinity;
  for (let it = 0; it < iters; it++) {
    let error = 0;
    const next = new Float64Array(groups);
    for (let g = 0; g < groups; g++) {
      let sum = 0;
      for (let i = g * groupSize; i < (g + 1) * groupSize; i++) {
        const x = w[i]!, q = quant(x, g), r = (q - zero[g]!) / scale[g]!;
        error += Math.abs(x - r);
        sum += q - (x - shrink(x - r, beta, lpNorm)) * scale[g]!;
      }
      next[g] = sum / groupSize;
    }
    zero.set(next);
    beta *= kappa;
    error /= n * k;
    if (!(error < best)) break;
    best = error;
  }
  const out = emptyGroups(n, k, groupSize);
  for (let g = 0; g < groups; g++) {
    const s = roundBf16(1 / scale[g]!), z = roundBf16((mid - zero[g]!) / scale[g]!);
    out.scale[g] = s;
    out.zero[g] = z;
    for (let i = g * groupSize; i < (g + 1) * groupSize; i++) out.q[i] = Math.min(qmax, Math.max(0, Math.round((w[i]! - z) / s + mid)));
  }
  return out;
}
