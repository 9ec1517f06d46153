// tao_fill_random through randn / rand: statistics, determinism, streams.
import { describe, expect, test } from "bun:test";
import { rand, randn, TaoError } from "../lib/index.ts";
import { devices, freshSeed, mismatches } from "./helpers.ts";

const N = 100_000;

function moments(x: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  for (const v of x) s2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(s2 / (x.length - 1)) };
}

describe.each(devices)("random fills on %s", (device) => {
  const seed = freshSeed();

  test(`randn: mean 0, std 1, normal shape over 1e5 samples (seed ${seed})`, () => {
    using t = randn([N], { seed, device });
    const x = t.toArray() as Float32Array;
    const { mean, std } = moments(x);
    // 5-sigma bounds: sd(mean) = 1/sqrt(N) ≈ 0.0032, sd(std) ≈ 1/sqrt(2N) ≈ 0.0022.
    expect(Math.abs(mean)).toBeLessThan(0.016);
    expect(Math.abs(std - 1)).toBeLessThan(0.011);
    const within1 = x.filter((v) => Math.abs(v) < 1).length / N;
    expect(Math.abs(within1 - 0.6827)).toBeLessThan(0.008);
    expect(x.every(Number.isFinite)).toBe(true);
  });

  test("randn mean/std options scale the samples", () => {
    using a = randn([N], { seed, device, mean: 3, std: 0.5 });
    const { mean, std } = moments(a.toArray() as Float32Array);
    expect(Math.abs(mean - 3)).toBeLessThan(0.008);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.006);
  });

  test("rand: uniform in [low, high)", () => {
    using t = rand([N], { seed, device, low: -2, high: 6 });
    const x = t.toArray() as Float32Array;
    expect(x.every((v) => v >= -2 && v < 6)).toBe(true);
    const { mean, std } = moments(x);
    expect(Math.abs(mean - 2)).toBeLessThan(0.04); // sd(mean) = 8/sqrt(12 N) ≈ 0.0073
    expect(Math.abs(std - 8 / Math.sqrt(12))).toBeLessThan(0.03);
  });

  test("same seed -> same values; different seed or offset -> different values", () => {
    using a = randn([1000], { seed, device });
    using b = randn([1000], { seed, device });
    using c = randn([1000], { seed: seed + 1, device });
    expect(mismatches(a.toArray(), b.toArray())).toEqual([]);
    expect(mismatches(a.toArray(), c.toArray()).length).toBeGreaterThan(990);
    using d1 = rand([64], { device }), d2 = rand([64], { device });
    expect(mismatches(d1.toArray(), d2.toArray())).toEqual([]); // the default seed is fixed
    using big = randn([10], { seed: 2n ** 63n + 5n, device });
    using big2 = randn([10], { seed: 2n ** 63n + 6n, device });
    expect(mismatches(big.toArray(), big2.toArray()).length).toBe(10);
  });

  test("offset continues a stream", () => {
    using whole = rand([300], { seed, device });
    using head = rand([100], { seed, device });
    using tail = rand([200], { seed, device, offset: 100 });
    const w = whole.toArray();
    expect(mismatches(head.toArray(), w.subarray(0, 100))).toEqual([]);
    expect(mismatches(tail.toArray(), w.subarray(100))).toEqual([]);
  });

  test("low-precision dtypes are the f32 samples rounded once more", () => {
    for (const dtype of ["bf16", "f16", "f8e4m3fn"] as const) {
      using direct = randn([4096], { seed, device, dtype });
      using f32 = randn([4096], { seed, device });
      using viaCast = f32.cast(dtype);
      expect(mismatches(direct.toArray(), viaCast.toArray())).toEqual([]);
    }
  });

  test("integer dtypes are rejected", () => {
    expect(() => randn([4], { dtype: "i32", device })).toThrow(TaoError);
  });
});
