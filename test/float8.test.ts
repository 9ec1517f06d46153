// Float8 (e4m3): quantizeFloat8 bit-exact against a float64 reference of tao.h's formula (per row and
// per tensor, f32/f16/bf16 inputs, zero rows, inf and NaN as documented); linearFloat8 against a
// float64 product of the dequantized operands within linearTolerance (test/helpers.ts) on every
// device present: M in {1, 3, 16, 77}, odd N, K not a multiple of 16, row-wise / per-tensor /
// mixed scales, bias or not, bf16/f16/f32 out; CUDA agrees with the CPU. The float8 configs go
// through quantize() and the dispatch table and round-trip through checkpoints; bad inputs are TaoErrors.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  empty, float8DynamicActivationFloat8Weight, float8WeightOnly, fromArray, full, linearDynamicFloat8, linearFloat8, quantizeFloat8,
  TaoError, type DType, type Tensor,
} from "../lib/index.ts";
import { decodeFloat, devices, encodeFloat, freshSeed, hasCuda, linearTolerance, noCudaReason, normals, refLinear, rng, roundTo, taoError } from "./helpers.ts";
import { quantizedLayer } from "./quant_model.ts";

if (!hasCuda) console.log(`float8.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const fr = Math.fround;

/** tao_quantize_f8 in float64: per row (or tensor) s = f32(max(f32(amax / 448), 1e-12)), q = e4m3(f32(x / s)). */
function refQuantize(x: ArrayLike<number>, m: number, k: number, rowwise: boolean): { q: number[]; scale: number[] } {
  const groups = rowwise ? m : 1, per = rowwise ? k : m * k;
  const q: number[] = [], scale: number[] = [];
  for (let g = 0; g < groups; g++) {
    let amax = 0;
    for (let i = g * per; i < (g + 1) * per; i++) {
      const a = Math.abs(x[i]!);
      amax = Number.isNaN(a) || Number.isNaN(amax) ? NaN : Math.max(amax, a);
    }
    const d = fr(amax / 448), s = Number.isNaN(d) ? NaN : Math.max(d, fr(1e-12));
    scale.push(s);
    for (let i = g * per; i < (g + 1) * per; i++) q.push(encodeFloat(fr(x[i]! / s), "f8e4m3fn"));
  }
  return { q, scale };
}

/** The raw e4m3 bytes of a tensor. */
function bytes(t: Tensor): number[] {
  using h = t.to("cpu");
  return [...(h.hostData() as Uint8Array)];
}

/** Random input values in dtype (rounded), with some rows scaled 100x and row 1 zero when zeroRow. */
function inputs(seed: number, m: number, k: number, dtype: DType, zeroRow: boolean): number[] {
  const next = rng(seed);
  const v = [...normals(next, m * k)].map((x, i) => (Math.floor(i / k) % 3 === 2 ? 100 * x : x));
  if (zeroRow && m > 1) for (let t = 0; t < k; t++) v[k + t] = 0;
  return v.map((x) => roundTo(x, dtype));
}

describe("quantizeFloat8", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`bit-exact against float64, per row and per tensor, f32/f16/bf16, zero rows (${device}, seed ${seed})`, () => {
      for (const dtype of ["f32", "f16", "bf16"] as DType[]) {
        for (const [m, k] of [[1, 1], [3, 77], [16, 256], [5, 4096]] as const) {
          const v = inputs(seed + m + k, m, k, dtype, true);
          using x = fromArray(v, { shape: [m, k], dtype, device });
          for (const rowwise of [true, false]) {
            const want = refQuantize(v, m, k, rowwise);
            const { q, scale } = quantizeFloat8(x, { rowwise });
            try {
              expect(scale.shape).toEqual(rowwise ? [m, 1] : [1, 1]);
              expect({ dtype, m, k, rowwise, scale: [...scale.toArray()] }).toEqual({ dtype, m, k, rowwise, scale: want.scale });
              const got = bytes(q);
              const bad = got.findIndex((b, i) => b !== want.q[i]);
              expect({ dtype, m, k, rowwise, bad }).toEqual({ dtype, m, k, rowwise, bad: -1 });
            } finally {
              q.dispose(), scale.dispose();
            }
          }
        }
      }
    });

    test(`inf and NaN rows behave as documented (${device})`, () => {
      const k = 5;
      const v = [1, -2, 3, 0.5, 0, /* inf row */ 1, Infinity, -2, 0, 3, /* NaN row */ 1, NaN, 2, 0, -1, /* zero row */ 0, 0, 0, 0, 0];
      using x = fromArray(v, { shape: [4, k], dtype: "f32", device });
      const r = quantizeFloat8(x, { rowwise: true });
      try {
        const s = [...r.scale.toArray()], q = [...r.q.toArray()];
        expect(s[0]).toBe(fr(3 / 448));
        expect(s[1]).toBe(Infinity);
        expect(q.slice(5, 10).map((y) => (Number.isNaN(y) ? "nan" : y))).toEqual([0, "nan", -0, 0, 0]);
        expect(Number.isNaN(s[2]!)).toBe(true);
        expect(q.slice(10, 15).every(Number.isNaN)).toBe(true);
        expect(s[3]).toBe(fr(1e-12));
        expect(q.slice(15)).toEqual([0, 0, 0, 0, 0]);
        // The linear: the NaN row's outputs are NaN, the zero row's are 0 (no NaN).
        using w = fromArray([1, 0, 0, 0, 0, 0, 1, 0, 0, 0], { shape: [2, k], dtype: "f32", device });
        const wq = quantizeFloat8(w, { rowwise: true });
        using y = linearFloat8(r.q, r.scale, wq.q, wq.scale, null, { dtype: "f32" });
        const yv = [...y.toArray()];
        expect(yv.slice(4, 6).every(Number.isNaN)).toBe(true);
        expect(yv.slice(6, 8)).toEqual([0, 0]);
        expect(yv[0]).toBeCloseTo(1, 1);
        wq.q.dispose(), wq.scale.dispose();
      } finally {
        r.q.dispose(), r.scale.dispose();
      }
      // Per tensor: one inf makes every finite value 0.
      using xi = fromArray([1, Infinity, -3, 0], { shape: [2, 2], dtype: "f32", device });
      const t = quantizeFloat8(xi, { rowwise: false });
      expect(t.scale.toArray()[0]).toBe(Infinity);
      expect([...t.q.toArray()].map((y) => (Number.isNaN(y) ? "nan" : y))).toEqual([0, "nan", -0, 0]);
      t.q.dispose(), t.scale.dispose();
    });
  }
});

/** e4m3 operands and f32 scales drawn from `seed`: xq [m, k], wq [n, k], per row or per tensor. */
function operands(device: string, seed: number, m: number, n: number, k: number, xRow: boolean, wRow: boolean) {
  const next = rng(seed);
  const code = () => {
    const c = Math.floor(next() * 256);
    return (c & 0x7f) === 0x7f ? c & 0xfe : c; // no NaN codes
  };
  const xb = Uint8Array.from({ length: m * k }, code), wb = Uint8Array.from({ length: n * k }, code);
  const xs = Float32Array.from({ length: xRow ? m : 1 }, () => 2 ** -6 * (0.5 + next()));
  const ws = Float32Array.from({ length: wRow ? n : 1 }, () => 2 ** -6 * (0.5 + next()));
  // Every e4m3 value is an f32: fromArray's cast to f8e4m3fn gives the codes back.
  const xq = fromArray(Array.from(xb, (b) => decodeFloat(b, "f8e4m3fn")), { shape: [m, k], dtype: "f8e4m3fn", device });
  const wq = fromArray(Array.from(wb, (b) => decodeFloat(b, "f8e4m3fn")), { shape: [n, k], dtype: "f8e4m3fn", device });
  const xscale = fromArray(xs, { device }), wscale = fromArray(ws, { device });
  const xv = Float64Array.from(xb, (b, i) => decodeFloat(b, "f8e4m3fn") * xs[xRow ? Math.floor(i / k) : 0]!);
  const wv = Float64Array.from(wb, (b, i) => decodeFloat(b, "f8e4m3fn") * ws[wRow ? Math.floor(i / k) : 0]!);
  return { xq, wq, xscale, wscale, xv, wv, [Symbol.dispose]: () => [xq, wq, xscale, wscale].forEach((t) => t.dispose()) };
}

/**
 * CUDA's FP8 tensor cores keep about 14 significant bits in their accumulators between promotions
 * to f32 (cuBLASLt promotes periodically; errors up to ~2^-10.6·Σ|x·w| measured on an H100), so the
 * CUDA bound adds 2^-9·mag to linearTolerance; the CPU keeps the plain f32 bound.
 */
function f8Misses(y: ArrayLike<number>, { ref, mag }: { ref: Float64Array; mag: Float64Array }, k: number, dtype: DType, device: string): string[] {
  const extra = device === "cpu" ? 0 : 2 ** -9;
  const bad: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const tol = linearTolerance(ref[i]!, mag[i]!, k, dtype) + extra * mag[i]!;
    if (!(Math.abs(y[i]! - ref[i]!) <= tol)) bad.push(`${i}: ${y[i]} vs ${ref[i]} (tol ${tol})`);
  }
  return bad.length > 8 ? [...bad.slice(0, 8), `... ${bad.length} in all`] : bad;
}

/** First index where the CUDA and CPU outputs differ by more than the sum of their two bounds, or -1. */
function f8Disagreement(a: ArrayLike<number>, b: ArrayLike<number>, { ref, mag }: { ref: Float64Array; mag: Float64Array }, k: number, dtype: DType): number {
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= 2 * linearTolerance(ref[i]!, mag[i]!, k, dtype) + 2 ** -9 * mag[i]!)) return i;
  }
  return -1;
}

const SHAPES = [[1, 16, 32], [3, 7, 77], [16, 40, 64], [77, 33, 128], [4, 24, 1]] as const;

describe("linearFloat8", () => {
  const results = new Map<string, Float32Array>();
  for (const device of devices) {
    const seed = hasCuda ? 1234 : freshSeed();
    test(`within float64 tolerance: M 1..77, odd N, K % 16 != 0, scales per row/tensor/mixed, bias, bf16/f16/f32 (${device}, seed ${seed})`, () => {
      for (const [m, n, k] of SHAPES) {
        for (const [xRow, wRow] of [[true, true], [false, false], [true, false]] as const) {
          for (const dtype of ["bf16", "f16", "f32"] as DType[]) {
            using o = operands(device, seed + m * n + k, m, n, k, xRow, wRow);
            const bv = m % 2 ? [...normals(rng(seed + 7), n)].map((v) => roundTo(v, dtype)) : null;
            using bias = bv ? fromArray(bv, { dtype, device }) : null;
            using out = full([m, n], NaN, { dtype, device });
            linearFloat8(o.xq, o.xscale, o.wq, o.wscale, bias, { dtype, out });
            const y = out.toArray() as Float32Array;
            const ref = refLinear(o.xv, o.wv, bv, k);
            expect({ m, n, k, xRow, wRow, dtype, misses: f8Misses(y, ref, k, dtype, device) }).toEqual({ m, n, k, xRow, wRow, dtype, misses: [] });
            const key = `${m},${n},${k},${xRow},${wRow},${dtype}`;
            const other = results.get(key);
            if (other) expect({ key, at: f8Disagreement(y, other, ref, k, dtype) }).toEqual({ key, at: -1 });
            else results.set(key, y);
          }
        }
      }
    });
  }

  test.skipIf(!hasCuda)("CUDA cuBLASLt shapes (K % 16 == 0, N % 8 == 0, larger M) agree with float64; fast accumulation keeps SQNR", () => {
    const seed = freshSeed();
    for (const [m, n, k] of [[1, 256, 512], [16, 128, 1024], [256, 264, 256], [300, 136, 4096]] as const) {
      for (const [xRow, wRow] of [[true, true], [false, false]] as const) {
        using o = operands("cuda:0", seed + m, m, n, k, xRow, wRow);
        const ref = refLinear(o.xv, o.wv, null, k);
        using y = linearFloat8(o.xq, o.xscale, o.wq, o.wscale, null, { dtype: "bf16" });
        expect({ m, n, k, xRow, misses: f8Misses(y.toArray(), ref, k, "bf16", "cuda:0") }).toEqual({ m, n, k, xRow, misses: [] });
        using yf = linearFloat8(o.xq, o.xscale, o.wq, o.wscale, null, { dtype: "bf16", fastAccum: true });
        const f = yf.toArray();
        let num = 0, den = 0;
        for (let i = 0; i < f.length; i++) (num += ref.ref[i]! ** 2), (den += (f[i]! - ref.ref[i]!) ** 2);
        expect(10 * Math.log10(num / den)).toBeGreaterThan(35);
      }
    }
  });

  test("bad inputs are TaoErrors", () => {
    using xq = empty([2, 8], { dtype: "f8e4m3fn" }), wq = empty([4, 8], { dtype: "f8e4m3fn" });
    using xs = fromArray([1, 1], { dtype: "f32" }), ws = fromArray([1, 1, 1, 1], { dtype: "f32" }), bad = fromArray([1, 1, 1], { dtype: "f32" });
    using x16 = empty([2, 8], { dtype: "bf16" }), i8 = empty([2, 8], { dtype: "i8" });
    expect(taoError(() => linearFloat8(x16, xs, wq, ws)).message).toContain("xq must be f8e4m3fn");
    expect(taoError(() => linearFloat8(xq, bad, wq, ws)).message).toContain("xscale");
    expect(taoError(() => linearFloat8(xq, xs, wq, bad)).message).toContain("wscale");
    expect(taoError(() => linearFloat8(xq, xs, wq, ws, null, { dtype: "i8" })).message).toContain("dtype");
    using wk = empty([4, 7], { dtype: "f8e4m3fn" });
    expect(taoError(() => linearFloat8(xq, xs, wk, ws)).message).toContain("K = 7");
    expect(taoError(() => quantizeFloat8(i8)).message).toContain("i8");
    expect(() => float8DynamicActivationFloat8Weight({ granularity: "block" as "row" })).toThrow(TaoError);
  });
});

describe("float8 configs", () => {
  const dir = mkdtempSync(join(tmpdir(), "tao-f8-"));
  for (const device of devices) {
    for (const dtype of ["bf16", "f32"] as DType[]) {
      const seed = freshSeed();
      test(`float8WeightOnly: fallback entry, bit-equal to dequantize + linear, SQNR, checkpoint (${dtype}, ${device}, seed ${seed})`, () => {
        const r = quantizedLayer(float8WeightOnly(), { k: 96, n: 40, lead: [3], dtype, device, seed, path: join(dir, `wo-${device}-${dtype}.safetensors`) });
        expect(r.entry).toBe("float8: dequantizeAffine + dense linear");
        expect(r.misses).toEqual([]);
        expect(r.sqnr).toBeGreaterThan(25);
        expect(r.reloadedSame).toBe(true);
      });
      for (const granularity of ["row", "tensor"] as const) {
        test(`float8DynamicActivationFloat8Weight(${granularity}): kernel entry, SQNR, checkpoint (${dtype}, ${device}, seed ${seed})`, () => {
          const r = quantizedLayer(float8DynamicActivationFloat8Weight({ granularity }),
            { k: 128, n: 48, lead: [2, 3], dtype, device, seed, path: join(dir, `dyn-${granularity}-${device}-${dtype}.safetensors`) }, { misses: false });
          expect(r.entry).toBe("float8: dynamic activation + float8 matmul");
          expect(r.sqnr).toBeGreaterThan(20);
          expect(r.reloadedSame).toBe(true);
          expect(r.reloaded.config).toEqual({ name: "float8_dynamic_activation_float8_weight", granularity, fastAccum: false });
          expect(r.reloaded.shapes.scale).toEqual(granularity === "row" ? [48, 1] : [1, 1]);
        });
      }
    }
  }
  test("cleanup", () => rmSync(dir, { recursive: true, force: true }));
});

test("linearDynamicFloat8 equals quantizeFloat8 + linearFloat8", () => {
  for (const device of devices) {
    using x = fromArray(inputs(5, 3, 32, "bf16", true), { shape: [3, 32], dtype: "bf16", device });
    using w = fromArray(inputs(6, 8, 32, "bf16", false), { shape: [8, 32], dtype: "bf16", device });
    const wq = quantizeFloat8(w), xq = quantizeFloat8(x);
    using a = linearDynamicFloat8(x, wq.q, wq.scale.reshape(8), null);
    using b = linearFloat8(xq.q, xq.scale, wq.q, wq.scale, null);
    expect([...a.toArray()]).toEqual([...b.toArray()]);
    for (const t of [wq.q, wq.scale, xq.q, xq.scale]) t.dispose();
  }
});
