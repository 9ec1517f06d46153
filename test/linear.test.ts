// linear (F.linear over tao_linear) against a float64 reference, on the CPU and on cuda:0.
import { describe, expect, test } from "bun:test";
import { empty, finfo, linear, randn, TaoError, zeros, type DType, type ErrorCodeName, type Tensor } from "../lib/index.ts";
import { freshSeed, hasCuda, noCudaReason, taoError } from "./helpers.ts";

if (!hasCuda) console.log(`linear.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const FLOATS = ["f32", "f16", "bf16"] as const;
/** Smallest positive (subnormal) value of each dtype: the absolute floor of the output rounding. */
const TINY: Record<(typeof FLOATS)[number], number> = { f32: 2 ** -149, f16: 2 ** -24, bf16: 2 ** -133 };
const U32 = 2 ** -24; // f32 unit roundoff

/**
 * Every output of y = x · wᵀ + b that misses the float64 reference computed from the decoded inputs,
 * as readable strings (at most 5). Budget per output: one ulp of the output dtype for the final
 * rounding, plus f32 accumulation error 4 · sqrt(K + 1) · u32 · (Σ|x·w| + |b|) (products of
 * f16/bf16 values are exact in f32; f32 products round once).
 */
function misses(y: Tensor, x: Tensor, w: Tensor, b: Tensor | null): string[] {
  const [n, k] = w.shape as [number, number];
  const m = x.numel / k;
  const xs = x.toArray(), ws = w.toArray(), bs = b?.toArray(), ys = y.toArray();
  const dtype = y.dtype as (typeof FLOATS)[number];
  const out: string[] = [];
  for (let i = 0; i < m && out.length < 5; i++) {
    for (let j = 0; j < n && out.length < 5; j++) {
      let sum = bs?.[j] ?? 0, abs = Math.abs(sum);
      for (let t = 0; t < k; t++) {
        const p = xs[i * k + t]! * ws[j * k + t]!;
        sum += p;
        abs += Math.abs(p);
      }
      const tol = finfo(dtype).eps * Math.abs(sum) + 4 * Math.sqrt(k + 1) * U32 * abs + TINY[dtype];
      const got = ys[i * n + j]!;
      if (!(Math.abs(got - sum) <= tol)) out.push(`y[${i}, ${j}] = ${got}, reference ${sum}, tolerance ${tol}`);
    }
  }
  return out;
}

/** `fn` throws a TaoError of `code` from op "linear", raised in TypeScript (tao_linear is not named). */
function rejects(fn: () => unknown, code: ErrorCodeName, message: RegExp): void {
  const e = taoError(fn);
  expect(e.codeName).toBe(code);
  expect(e.op).toBe("linear");
  expect(e.message).toMatch(message);
  expect(e.message).not.toMatch(/tao_linear/);
}

// m = 1 with k % 8 == 0 takes the CUDA GEMV (k = 2056: its unrolled loop and its tail), the rest cuBLASLt.
const MS = [1, 2, 3, 4, 16, 77, 256], KS = [1, 7, 96, 200, 2056, 4100], NS = [1, 5, 33, 129, 67];
const SHAPES = MS.flatMap((m, i) => KS.map((k, j) => ({ m, k, n: NS[(i + j) % NS.length]! })));

for (const device of ["cpu", "cuda:0"]) {
  const skip = device !== "cpu" && !hasCuda;
  const seed = freshSeed();
  describe.skipIf(skip)(`linear on ${device} (seed ${seed})${skip ? ` (skipped: ${noCudaReason})` : ""}`, () => {
    const draw = (shape: number[], dtype: DType, stream: number) => randn(shape, { dtype, device, seed: seed + stream });

    test.each(FLOATS)("%s: every shape, with and without bias, matches the float64 reference", (dtype) => {
      const failures: string[] = [];
      SHAPES.forEach(({ m, n, k }, c) => {
        using x = draw([m, k], dtype, 3 * c), w = draw([n, k], dtype, 3 * c + 1), b = draw([n], dtype, 3 * c + 2);
        for (const bias of [b, null]) {
          using y = linear(x, w, bias);
          expect<unknown[]>([y.dtype, y.device, y.shape]).toEqual([dtype, device, [m, n]]);
          for (const miss of misses(y, x, w, bias)) failures.push(`M=${m} N=${n} K=${k} bias=${bias !== null}: ${miss}`);
        }
      });
      expect(failures).toEqual([]);
    });

    test.each(FLOATS)("%s: leading dims [2, 3, K] and the out option", (dtype) => {
      using x = draw([2, 3, 200], dtype, 0), w = draw([33, 200], dtype, 1), b = draw([33], dtype, 2);
      using y = linear(x, w, b);
      expect(y.shape).toEqual([2, 3, 33]);
      expect(misses(y, x, w, b)).toEqual([]);
      using out = empty([2, 3, 33], { dtype, device });
      expect(linear(x, w, b, { out })).toBe(out);
      expect(out.toArray()).toEqual(y.toArray());
      using x1 = draw([200], dtype, 3);
      using y1 = linear(x1, w, null);
      expect(y1.shape).toEqual([33]);
      expect(misses(y1, x1, w, null)).toEqual([]);
    });

    test("M = 0 or N = 0 gives an empty result", () => {
      using x = zeros([0, 7], { device }), w = zeros([5, 7], { device }), b = zeros([5], { device });
      using y = linear(x, w, b);
      expect(y.shape).toEqual([0, 5]);
      using x2 = zeros([2, 3, 7], { device }), w2 = zeros([0, 7], { device }), b2 = zeros([0], { device });
      using y2 = linear(x2, w2, b2);
      expect(y2.shape).toEqual([2, 3, 0]);
    });

    test("bad inputs are TaoErrors raised before the native call", () => {
      using x = zeros([3, 7], { device }), w = zeros([5, 7], { device }), b = zeros([5], { device });
      using xb = zeros([3, 7], { dtype: "bf16", device }), wb = zeros([5, 7], { dtype: "bf16", device });
      using xi = zeros([3, 7], { dtype: "i32", device }), wi = zeros([5, 7], { dtype: "i32", device });
      using x8 = zeros([3, 7], { dtype: "f8e4m3fn", device }), w8 = zeros([5, 7], { dtype: "f8e4m3fn", device });
      rejects(() => linear(x, wb), "INVALID_ARGUMENT", /weight is bf16 but x is f32/);
      rejects(() => linear(xb, wb, b), "INVALID_ARGUMENT", /bias is f32 but x is bf16/);
      rejects(() => linear(xi, wi), "INVALID_ARGUMENT", /x is i32; linear takes f32, f16, bf16/);
      rejects(() => linear(x8, w8), "INVALID_ARGUMENT", /x is f8e4m3fn/);
      using w8k = zeros([5, 8], { device }), w1 = zeros([7], { device }), w3 = zeros([1, 5, 7], { device });
      rejects(() => linear(x, w8k), "INVALID_ARGUMENT", /must end in K = 8/);
      rejects(() => linear(x, w1), "INVALID_ARGUMENT", /weight must be 2-D/);
      rejects(() => linear(x, w3), "INVALID_ARGUMENT", /weight must be 2-D/);
      using scalar = zeros([], { device });
      rejects(() => linear(scalar, w), "INVALID_ARGUMENT", /must end in K = 7/);
      using x0 = zeros([3, 0], { device }), w0 = zeros([5, 0], { device });
      rejects(() => linear(x0, w0), "INVALID_ARGUMENT", /K must be at least 1/);
      using b4 = zeros([4], { device }), b2d = zeros([1, 5], { device });
      rejects(() => linear(x, w, b4), "INVALID_ARGUMENT", /bias must be \[5\], not \[4\]/);
      rejects(() => linear(x, w, b2d), "INVALID_ARGUMENT", /bias must be \[5\], not \[1,5\]/);
      using outShape = zeros([3, 4], { device }), outDtype = zeros([3, 5], { dtype: "f16", device });
      using outFlat = zeros([15], { device });
      rejects(() => linear(x, w, b, { out: outShape }), "INVALID_ARGUMENT", /out must be \[3,5\], not \[3,4\]/);
      rejects(() => linear(x, w, b, { out: outFlat }), "INVALID_ARGUMENT", /out must be \[3,5\], not \[15\]/);
      rejects(() => linear(x, w, b, { out: outDtype }), "INVALID_ARGUMENT", /out is f16 but x is f32/);
      using sq = zeros([5, 5], { device }), xs = zeros([5, 5], { device });
      rejects(() => linear(xs, sq, null, { out: xs }), "INVALID_ARGUMENT", /share storage/);
      rejects(() => linear(xs, sq, null, { out: sq.reshape(5, 5) }), "INVALID_ARGUMENT", /share storage/);
      for (const name of ["x", "weight", "bias", "out"] as const) {
        const t = { x: zeros([3, 7], { device }), weight: zeros([5, 7], { device }), bias: zeros([5], { device }), out: zeros([3, 5], { device }) };
        t[name].dispose();
        rejects(() => linear(t.x, t.weight, t.bias, { out: t.out }), "INVALID_ARGUMENT", new RegExp(`${name} was disposed`));
        Object.values(t).forEach((v) => v.dispose());
      }
    });
  });
}

test.skipIf(!hasCuda)(`tensors on the CPU and cuda:0 in one linear: DEVICE_MISMATCH${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
  using x = zeros([3, 7]), w = zeros([5, 7]), b = zeros([5]);
  using xg = zeros([3, 7], { device: "cuda:0" }), wg = zeros([5, 7], { device: "cuda:0" }), bg = zeros([5], { device: "cuda:0" });
  using outg = zeros([3, 5], { device: "cuda:0" });
  rejects(() => linear(x, wg), "DEVICE_MISMATCH", /different devices/);
  rejects(() => linear(xg, wg, b), "DEVICE_MISMATCH", /different devices/);
  rejects(() => linear(x, w, b, { out: outg }), "DEVICE_MISMATCH", /different devices/);
  rejects(() => linear(xg, w, bg), "DEVICE_MISMATCH", /different devices/);
});
