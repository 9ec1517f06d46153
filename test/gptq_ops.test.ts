// The GPTQ ops (lib/ops/gptq.ts, tao_gptq_*), each against a float64 reference computed independently:
// the Hessian against 2·XᵀX / rows, the factor against the host's upperCholeskyOfInverse (and the
// act-order permutation against a stable sort), the whole native solve against column-by-column OBQ —
// the same integer codes except where a rounding was a tie (gptq_cases.ts) — at 2, 3, 4 and 8 bits, on
// awkward sizes (k not a multiple of the 64-column panels or of 128, n = 1, odd n). On CUDA: the Hessian and the sweep bit for
// bit equal to the CPU's, the factor equal to f64 rounding. Bad arguments.
import { describe, expect, test } from "bun:test";
import { fromArray, gptqWeight, TaoError, type Int4Groups, type Tensor, upperCholeskyOfInverse } from "../lib/index.ts";
import { GPTQ_ARGS_WORDS, gptqFactor, gptqHessian, gptqQuantize, type GptqCodes, type GptqFactor } from "../lib/ops/gptq.ts";
import { gptqSolve } from "../lib/quantization/gptq/solve.ts";
import { native } from "../lib/native/index.ts";
import { correlatedInputs, dequantizeBits, expectSameExceptTies, hessianOf, obqReference, outputMse } from "./gptq_cases.ts";
import { bits, hasCuda, noCudaReason, rng } from "./helpers.ts";

if (!hasCuda) console.log(`gptq_ops.test.ts: cuda:0 cases skipped: ${noCudaReason}`);
const cudaTest = (name: string) => `${name}${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`;

/** f32 [k, k] host tensor of a float64 Hessian (values rounded to f32). */
const hessianTensor = (h: Float64Array, k: number, device = "cpu") => fromArray(Float32Array.from(h), { shape: [k, k], device });

/** A weight [n, k] of f32-representable uniform values in [-0.5, 0.5). */
const weightValues = (n: number, k: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n * k }, () => r() - 0.5);
};

/** The natural-order or act-order column order of the host reference (stable, by decreasing H_jj; dead as 1). */
function hostOrder(h: ArrayLike<number>, k: number, actOrder: boolean): number[] {
  const d = (j: number) => (h[j * k + j] === 0 ? 1 : h[j * k + j]!);
  const order = Array.from({ length: k }, (_, j) => j);
  return actOrder ? order.sort((a, b) => d(b) - d(a)) : order;
}

/** P·H·Pᵀ (dead diagonal as 1) + percdamp·mean(diag)·I in float64. */
function dampedPermuted(h: ArrayLike<number>, k: number, order: number[], percdamp: number): Float64Array {
  const d = (j: number) => (h[j * k + j] === 0 ? 1 : h[j * k + j]!);
  const damp = (percdamp * Array.from({ length: k }, (_, j) => d(j)).reduce((a, b) => a + b)) / k;
  return Float64Array.from({ length: k * k }, (_, e) => {
    const i = Math.floor(e / k), j = e % k;
    return i === j ? d(order[i]!) + damp : h[order[i]! * k + order[j]!]!;
  });
}

const disposeFactor = (f: GptqFactor) => (f.u.dispose(), f.perm?.dispose());
const disposeCodes = (c: GptqCodes) => Object.values(c).forEach((t: Tensor) => t.dispose());
const groupsOf = (c: GptqCodes, n: number, k: number, groupSize: number): Int4Groups => ({
  n, k, groupSize, q: c.q.toArray() as Uint8Array, scale: c.scale.toArray() as Float32Array, zero: c.zero.toArray() as Float32Array,
});

describe("tao_gptq_args", () => {
  test("size is GPTQ_ARGS_WORDS 8-byte words", () => {
    const out = new BigInt64Array(1);
    expect(native.tao_gptq_args_size(out)).toBe(0);
    expect(Number(out[0])).toBe(GPTQ_ARGS_WORDS * 8);
  });
});

describe("gptqHessian", () => {
  test.each([[37, 100, "f32"], [1, 64, "bf16"], [130, 129, "f16"]] as const)("rows %i, k %i, %s: running mean = 2·XᵀX / rows (float64 reference)", (rows, k, dtype) => {
    const x = correlatedInputs(rows, k, rows + k);
    using xt = fromArray(Float32Array.from(x), { shape: [rows, k] });
    using xd = xt.cast(dtype);
    const xs = xd.toArray(); // the values the op sees
    const half = Math.ceil(rows / 2);
    using h = fromArray(new Float32Array(k * k).fill(NaN), { shape: [k, k] }); // beta = 0 must not read it
    using first = xd.slice(0, 0, half), second = xd.slice(0, half);
    gptqHessian(first, h, 2 / half, 0);
    if (rows > half) gptqHessian(second, h, 2 / rows, half / rows);
    const ref = hessianOf(xs, k), got = h.toArray();
    const scale = Math.max(...ref.map(Math.abs));
    for (let e = 0; e < k * k; e++) expect(Math.abs(got[e]! - ref[e]!)).toBeLessThan(2e-5 * scale);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) expect(got[i * k + j]).toBe(got[j * k + i]!); // exactly symmetric
  });

  test.skipIf(!hasCuda)(cudaTest("cuda:0 gives the CPU's bits (f32 and bf16 inputs, two batches)"), () => {
    for (const [rows, k, dtype] of [[37, 100, "f32"], [300, 257, "bf16"]] as const) {
      using x = fromArray(Float32Array.from(correlatedInputs(rows, k, 5)), { shape: [rows, k] }).cast(dtype);
      using xg = x.to("cuda:0");
      using hc = fromArray(new Float32Array(k * k), { shape: [k, k] });
      using hg = hc.to("cuda:0");
      for (const [t, h] of [[x, hc], [xg, hg]] as const) {
        gptqHessian(t, h, 0.5, 0);
        gptqHessian(t, h, 0.25, 0.75);
      }
      expect(bits(hg)).toEqual(bits(hc));
    }
  });

  test("bad arguments: TaoError", () => {
    using x = fromArray(new Float32Array(12), { shape: [3, 4] });
    using h = fromArray(new Float32Array(9), { shape: [3, 3] });
    using hi = fromArray(new Int32Array(16), { shape: [4, 4] });
    expect(() => gptqHessian(x, h, 1, 0)).toThrow(TaoError); // k mismatch
    expect(() => gptqHessian(x, hi, 1, 0)).toThrow(TaoError); // h not f32
    using h4 = fromArray(new Float32Array(16), { shape: [4, 4] });
    expect(() => gptqHessian(x, h4, Infinity, 0)).toThrow(TaoError);
  });
});

describe("gptqFactor", () => {
  // k = 1, one panel exactly, k not a multiple of 64 (last panel partial), a dead input.
  test.each([[1, false, -1], [64, false, -1], [130, true, -1], [200, false, 7], [97, true, 3]] as const)(
    "k %i, actOrder %p, dead input %i: U equals the float64 upperCholeskyOfInverse of P·H·Pᵀ + damping",
    (k, actOrder, dead) => {
      const x = correlatedInputs(Math.max(2 * k, 8), k, k + 1);
      if (dead >= 0) for (let t = 0; t < x.length / k; t++) x[t * k + dead] = 0;
      const hd = Float64Array.from(Float32Array.from(hessianOf(x, k))); // the f32 values the op sees
      using h = hessianTensor(hd, k);
      const f = gptqFactor(h, { percdamp: 0.01, actOrder });
      try {
        const order = hostOrder(hd, k, actOrder);
        expect(f.perm === null ? null : Array.from(f.perm.toArray())).toEqual(actOrder ? order : null);
        const ref = upperCholeskyOfInverse(dampedPermuted(hd, k, order, 0.01), k, "test"), got = f.u.toArray();
        const scale = Math.max(...ref.map(Math.abs));
        for (let e = 0; e < k * k; e++) {
          // f32 rounding of an f64 result, whose own error is far smaller: 2^-22 of the largest entry.
          expect(Math.abs(got[e]! - ref[e]!)).toBeLessThanOrEqual(2 ** -22 * scale);
          if (e % k < Math.floor(e / k)) expect(got[e]).toBe(0);
        }
      } finally {
        disposeFactor(f);
      }
    },
  );

  test("not positive definite (percdamp 0): TaoError naming the pivot; bad arguments: TaoError", () => {
    using h = fromArray(Float32Array.of(1, 2, 2, 1), { shape: [2, 2] });
    expect(() => gptqFactor(h, { percdamp: 0 })).toThrow(/not positive definite \(pivot at position 0 of 2\)/);
    expect(() => gptqFactor(h, { percdamp: 1 })).toThrow(TaoError);
    using r = fromArray(new Float32Array(6), { shape: [2, 3] });
    expect(() => gptqFactor(r)).toThrow(TaoError);
  });

  test.skipIf(!hasCuda)(cudaTest("cuda:0 agrees with the CPU (several panels, act-order, dead input, not positive definite)"), () => {
    for (const [k, actOrder] of [[1, false], [64, true], [200, false], [333, true]] as const) {
      const x = correlatedInputs(2 * k + 3, k, 3 * k);
      for (let t = 0; t < x.length / k; t++) x[t * k + (k >> 1)] = 0;
      using hc = hessianTensor(hessianOf(x, k), k);
      using hg = hc.to("cuda:0");
      const fc = gptqFactor(hc, { actOrder }), fg = gptqFactor(hg, { actOrder });
      try {
        expect(fg.perm === null ? null : Array.from(fg.perm.toArray())).toEqual(fc.perm === null ? null : Array.from(fc.perm.toArray()));
        const a = fc.u.toArray(), b = fg.u.toArray(), scale = Math.max(...a.map(Math.abs));
        for (let e = 0; e < k * k; e++) expect(Math.abs(a[e]! - b[e]!)).toBeLessThanOrEqual(2 ** -22 * scale);
      } finally {
        disposeFactor(fc);
        disposeFactor(fg);
      }
    }
    using bad = fromArray(Float32Array.of(1, 2, 2, 1), { shape: [2, 2], device: "cuda:0" });
    expect(() => gptqFactor(bad, { percdamp: 0 })).toThrow(/not positive definite \(pivot at position 0 of 2\)/);
  });
});

describe("gptqQuantize (the native solve)", () => {
  // [n, k, groupSize, blockSize, actOrder, staticGroups, bits]: blocks larger and smaller than the
  // groups, a last block shorter than the others (k = 320 with blocks of 128), n = 1 and odd n; 4 bits
  // (int4), 2 and 3 (uintx), 8 (the widest codes).
  const cases = [
    [16, 64, 16, 32, false, false, 4], [7, 320, 32, 128, false, false, 4], [1, 128, 64, 64, false, false, 4],
    [9, 256, 32, 256, true, true, 4], [12, 192, 64, 128, false, true, 4],
    [16, 64, 16, 32, false, false, 3], [7, 320, 32, 128, false, false, 3], [9, 256, 32, 256, true, true, 3],
    [12, 192, 64, 128, false, false, 2], [5, 128, 32, 64, true, true, 2], [10, 160, 32, 64, false, false, 8],
  ] as const;

  test.each(cases)("n %i, k %i, g %i, block %i, actOrder %p, static %p, %i bits: codes of the float64 OBQ reference except at ties", (n, k, groupSize, blockSize, actOrder, staticGroups, bits) => {
    const x = correlatedInputs(2 * k, k, n + k), hd = Float64Array.from(Float32Array.from(hessianOf(x, k)));
    const wv = weightValues(n, k, k + 3);
    using w = fromArray(wv, { shape: [n, k] });
    using h = hessianTensor(hd, k);
    const got = gptqSolve(w, h, { groupSize, blockSize, actOrder, staticGroups, bits });
    expect(Math.max(...got.q)).toBeLessThanOrEqual(2 ** bits - 1);
    const order = hostOrder(hd, k, actOrder);
    const ref = obqReference(wv, n, k, hd, groupSize, 0.01, { order, staticGroups: actOrder || staticGroups, bits });
    const differing = expectSameExceptTies(got, ref, order, actOrder || staticGroups);
    const mse = (g: Int4Groups) => outputMse(x, wv, dequantizeBits(g, bits), n, k);
    console.log(`n ${n} k ${k} g ${groupSize} ${bits} bits: rows differing at a tie ${differing}/${n}; output MSE native ${mse(got).toExponential(3)}, f64 ${mse(ref).toExponential(3)}`);
    expect(differing).toBeLessThanOrEqual(Math.ceil(n / 4));
    expect(Math.abs(mse(got) - mse(ref))).toBeLessThan(0.02 * mse(ref));
  });

  test.each([4, 3, 2])("a dead input (H_jj = 0) and a bf16 weight, %i bits: the host gptqWeight's codes; the dead column quantizes 0", (bits) => {
    const n = 6, k = 96, dead = 41, x = correlatedInputs(200, k, 8), mid = 2 ** (bits - 1), max = 2 ** bits - 1;
    for (let t = 0; t < 200; t++) x[t * k + dead] = 0;
    const hd = Float64Array.from(Float32Array.from(hessianOf(x, k)));
    using w32 = fromArray(weightValues(n, k, 12), { shape: [n, k] });
    using w = w32.cast("bf16");
    const wv = w.toArray();
    using h = hessianTensor(hd, k);
    const got = gptqSolve(w, h, { groupSize: 32, bits });
    const host = gptqWeight(Float64Array.from(wv), n, k, hd, { groupSize: 32, bits });
    expect(Array.from(got.q)).toEqual(Array.from(host.q)); // no ties on this case (measured)
    expect(Array.from(got.scale)).toEqual(Array.from(host.scale));
    for (let r = 0; r < n; r++) {
      const p = r * 3 + 1;
      expect(got.q[r * k + dead]).toBe(Math.min(max, Math.max(0, Math.round((0 - got.zero[p]!) / got.scale[p]! + mid))));
    }
  });

  test.skipIf(!hasCuda)(cudaTest("cuda:0 gives the CPU's bits (same factor; all cases at 2, 3, 4 and 8 bits, a dead input, bf16 and f16 weights)"), () => {
    // (width, not bits: the helper bits() compares the tensors' bit patterns below)
    for (const [n, k, groupSize, blockSize, actOrder, staticGroups, width] of cases) {
      const x = correlatedInputs(2 * k, k, n + k);
      for (let t = 0; t < 2 * k; t++) x[t * k + 5] = 0;
      using hc = hessianTensor(hessianOf(x, k), k);
      using hg = hc.to("cuda:0");
      const fc = gptqFactor(hc, { actOrder });
      const fg: GptqFactor = { u: fc.u.to("cuda:0"), perm: fc.perm?.to("cuda:0") ?? null };
      try {
        for (const dtype of ["f32", "bf16", "f16"] as const) {
          using w32 = fromArray(weightValues(n, k, k), { shape: [n, k] });
          using wc = w32.cast(dtype);
          using wg = wc.to("cuda:0");
          const opts = { groupSize, blockSize, bits: width, staticGroups: actOrder || staticGroups };
          const cc = gptqQuantize(wc, hc, fc, opts), cg = gptqQuantize(wg, hg, fg, opts);
          try {
            for (const key of ["q", "scale", "zero"] as const) expect(bits(cg[key])).toEqual(bits(cc[key]));
          } finally {
            disposeCodes(cc);
            disposeCodes(cg);
          }
        }
      } finally {
        disposeFactor(fc);
        disposeFactor(fg);
      }
    }
  });

  test("bad arguments: TaoError", () => {
    using w = fromArray(new Float32Array(4 * 64), { shape: [4, 64] });
    using h = hessianTensor(hessianOf(correlatedInputs(80, 64, 2), 64), 64);
    const f = gptqFactor(h, { actOrder: true });
    try {
      expect(() => gptqQuantize(w, h, f, { groupSize: 24 })).toThrow(TaoError); // does not divide K
      expect(() => gptqQuantize(w, h, f, { groupSize: 32, blockSize: 512, staticGroups: true })).toThrow(TaoError); // > 256
      expect(() => gptqQuantize(w, h, f, { groupSize: 32, blockSize: 48, staticGroups: true })).toThrow(TaoError); // not a multiple
      expect(() => gptqQuantize(w, h, f, { groupSize: 32 })).toThrow(/needs static_groups/); // a column order
      for (const bits of [0, 9]) expect(() => gptqQuantize(w, h, f, { groupSize: 32, staticGroups: true, bits })).toThrow(/bits=\d must be 1\.\.8/);
      expect(() => gptqQuantize(w, h, f, { groupSize: 32, staticGroups: true, bits: 2.5 })).toThrow(TaoError);
      using w2 = fromArray(new Float32Array(4 * 32), { shape: [4, 32] });
      expect(() => gptqQuantize(w2, h, f, { groupSize: 32, staticGroups: true })).toThrow(TaoError); // K mismatch
      using bad = fromArray(new Int32Array(64).fill(3), { shape: [64] });
      expect(() => gptqQuantize(w, h, { u: f.u, perm: bad }, { groupSize: 32, staticGroups: true })).toThrow(/not a permutation/);
    } finally {
      disposeFactor(f);
    }
  });
});
