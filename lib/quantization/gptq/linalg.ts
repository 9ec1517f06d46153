/** Dense float64 linear algebra GPTQ needs on its [k, k] Hessians (row-major, k ≤ a few thousand). */
import { invalid } from "../../errors.ts";

/**
 * The lower Cholesky factor L of a symmetric positive-definite `a` ([k, k]): a = L·Lᵀ, a new array
 * with zeros above the diagonal. TaoError naming `op` when a pivot is not positive.
 */
export function cholesky(a: Float64Array, k: number, op: string): Float64Array {
  const l = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    let d = a[j * k + j]!;
    for (let p = 0; p < j; p++) d -= l[j * k + p]! ** 2;
    if (!(d > 0)) throw invalid(op, `the matrix is not positive definite (pivot ${j} is ${d}); raise percdamp`);
    const ljj = Math.sqrt(d);
    l[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j]!;
      for (let p = 0; p < j; p++) s -= l[i * k + p]! * l[j * k + p]!;
      l[i * k + j] = s / ljj;
    }
  }
  return l;
}

/** The inverse of a lower-triangular `l` (lower-triangular, new array). */
function invertLower(l: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    inv[j * k + j] = 1 / l[j * k + j]!;
    for (let i = j + 1; i < k; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s += l[i * k + p]! * inv[p * k + j]!;
      inv[i * k + j] = -s / l[i * k + i]!;
    }
  }
  return inv;
}

/**
 * GPTQ's inverse-Hessian factor: the upper-triangular U with H⁻¹ = Uᵀ·U (torch.linalg.cholesky(
 * torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True) of the reference implementation).
 */
export function upperCholeskyOfInverse(h: Float64Array, k: number, op: string): Float64Array {
  const li = invertLower(cholesky(h, k, op), k);
  // H⁻¹ = L⁻ᵀ·L⁻¹: (H⁻¹)_ij = Σ_p li_pi · li_pj over p ≥ max(i, j).
  const hinv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = i; p < k; p++) s += li[p * k + i]! * li[p * k + j]!;
      hinv[i * k + j] = hinv[j * k + i] = s;
    }
  }
  const lower = cholesky(hinv, k, op);
  const upper = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) upper[j * k + i] = lower[i * k + j]!;
  return upper;
}
