// The per-token transformer ops (embedding, rmsNorm, rope, add/mul/siluMul/swiglu, argmax, sample) on
// every device against float64 references (test/llama_refs.ts) with fresh random inputs, CUDA against
// the CPU, and bad inputs as TaoErrors. Attention and the KV cache are in test/attention.test.ts.
import { describe, expect, test } from "bun:test";
import {
  add, argmax, embedding, fromArray, full, mul, randn, rmsNorm, rope, sample, siluMul, swiglu, TaoError, type DType, type Tensor,
} from "../lib/index.ts";
import { bits, devices, freshSeed, hasCuda, mismatches, noCudaReason, rng, roundTo, taoError } from "./helpers.ts";
import { misses, refRmsNorm, refRope, rounding } from "./llama_refs.ts";

const seed = freshSeed();
const DTYPES: DType[] = ["f32", "f16", "bf16"];
const cases = devices.flatMap((device) => DTYPES.map((dtype) => ({ device, dtype })));
const cudaTest = hasCuda ? test : test.skip;
if (!hasCuda) console.log(`CUDA transformer-op tests skipped: ${noCudaReason}`);

/** `fn`'s result written into a NaN-filled out of the given shape, so every element must be written. */
function poisoned(shape: number[], dtype: DType, device: string, fn: (out: Tensor) => Tensor): Tensor {
  const out = full(shape, NaN, { dtype, device });
  expect(fn(out)).toBe(out);
  return out;
}

describe(`embedding (seed ${seed})`, () => {
  test.each(cases)("$device $dtype: rows of the table, bit for bit", ({ device, dtype }) => {
    const next = rng(seed);
    for (const [vocab, dim, n] of [[1, 1, 1], [37, 9, 5], [1000, 64, 17], [50, 4096, 3]] as const) {
      using table = randn([vocab, dim], { dtype, device, seed: seed + dim });
      const ids = Int32Array.from({ length: n }, () => Math.floor(next() * vocab));
      using idt = fromArray(ids, { shape: [1, n], device });
      using out = poisoned([1, n, dim], dtype, device, (o) => embedding(idt, table, { out: o }));
      const t = bits(table), o = bits(out);
      const want = Array.from(ids).flatMap((id) => t.slice(id * dim, (id + 1) * dim));
      expect(mismatches(o, want)).toEqual([]);
    }
  });

  test.each(devices)("%s: host ids outside the vocabulary are TaoErrors", (device) => {
    using table = randn([10, 4], { device, seed });
    for (const bad of [-1, 10, 2 ** 31 - 1]) {
      using ids = fromArray(new Int32Array([0, bad]));
      expect(taoError(() => embedding(ids, table)).message).toContain(`ids[1]=${bad}`);
    }
  });

  cudaTest("CUDA: device ids outside the vocabulary give zero rows", () => {
    using table = randn([10, 4], { device: "cuda:0", seed });
    using ids = fromArray(new Int32Array([3, -5, 12]), { device: "cuda:0" });
    const out = embedding(ids, table).toArray();
    expect(Array.from(out.slice(4))).toEqual(new Array(8).fill(0));
    expect(Array.from(out.slice(0, 4))).toEqual(Array.from(table.toArray().slice(12, 16)));
  });
});

describe(`rmsNorm (seed ${seed})`, () => {
  test.each(cases)("$device $dtype: within the f32 bound of the float64 value", ({ device, dtype }) => {
    for (const [rows, dim] of [[1, 1], [3, 7], [5, 64], [2, 4099], [1, 8192]] as const) {
      using x = randn([rows, dim], { dtype, device, seed: seed + dim });
      using w = randn([dim], { dtype, device, seed: seed + 1 });
      const eps = dim === 1 ? 0.5 : 1e-5;
      using y = poisoned([rows, dim], dtype, device, (o) => rmsNorm(x, w, { eps, out: o }));
      const { ref, tol } = refRmsNorm(x.toArray(), w.toArray(), dim, eps, dtype);
      expect(misses(y.toArray(), ref, tol)).toEqual([]);
      using inPlace = x.clone();
      rmsNorm(inPlace, w, { eps, out: inPlace });
      expect(mismatches(bits(inPlace), bits(y))).toEqual([]);
    }
  });
});

describe(`rope (seed ${seed})`, () => {
  const styles = ["interleaved", "half"] as const;
  test.each(cases.flatMap((c) => styles.map((style) => ({ ...c, style }))))("$device $dtype $style: positions, buffer + offset", ({ device, dtype, style }) => {
    const next = rng(seed);
    for (const [b, t, h, dh, theta] of [[1, 1, 1, 2, 10000], [2, 5, 3, 8, 10000], [1, 17, 4, 64, 500000], [3, 2, 8, 128, 10000]] as const) {
      using x = randn([b, t, h, dh], { dtype, device, seed: seed + t });
      const given = Int32Array.from({ length: b * t }, () => Math.floor(next() * 9000));
      using positions = fromArray(given, { shape: [b, t], device });
      using y = poisoned([b, t, h, dh], dtype, device, (o) => rope(x, { positions, theta, style, out: o }));
      const r = refRope(x.toArray(), x.shape, given, theta, style, dtype);
      expect(misses(y.toArray(), r.ref, r.tol)).toEqual([]);
      // the position buffer + offset + t form, in place
      const start = Math.floor(next() * 5000), offset = 3;
      using position = fromArray(new Int32Array([start]), { device });
      using z = x.clone();
      rope(z, { position, offset, theta, style, out: z });
      const pos = Array.from({ length: b * t }, (_, i) => start + offset + (i % t));
      const r2 = refRope(x.toArray(), x.shape, pos, theta, style, dtype);
      expect(misses(z.toArray(), r2.ref, r2.tol)).toEqual([]);
    }
  });
});

describe(`rope on the q and k heads of a fused q|k|v output (seed ${seed})`, () => {
  // x [B, T, Hq + 2·Hkv, Dh]: heads [0, Hq + Hkv) rotate in place (token rows strided), the v heads stay.
  test.each(cases)("$device $dtype: rotated heads match the float64 value, the others keep their bits", ({ device, dtype }) => {
    const next = rng(seed + 7);
    for (const [b, t, hq, hkv, dh] of [[1, 1, 4, 2, 8], [2, 5, 4, 1, 16], [1, 9, 8, 2, 64], [3, 3, 2, 2, 6]] as const) {
      const heads = hq + 2 * hkv, rotated = hq + hkv;
      using x = randn([b, t, heads, dh], { dtype, device, seed: seed + t + dh });
      const start = Math.floor(next() * 5000);
      using position = fromArray(new Int32Array([start]), { device });
      using y = x.clone();
      expect(rope(y, { position, theta: 500000, style: "half", heads: rotated, out: y })).toBe(y);
      using xq = x.slice(2, 0, rotated), yq = y.slice(2, 0, rotated), xv = x.slice(2, rotated, heads), yv = y.slice(2, rotated, heads);
      const pos = Array.from({ length: b * t }, (_, i) => start + (i % t));
      const r = refRope(xq.toArray(), xq.shape, pos, 500000, "half", dtype);
      expect(misses(yq.toArray(), r.ref, r.tol)).toEqual([]);
      expect(mismatches(bits(yv), bits(xv))).toEqual([]);
      // the same bits as rotating a contiguous copy of those heads
      using alone = rope(xq, { position, theta: 500000, style: "half" });
      expect(mismatches(bits(yq), bits(alone))).toEqual([]);
    }
  });
});

describe(`add, mul, siluMul (seed ${seed})`, () => {
  test.each(cases)("$device $dtype: add and mul are exactly rounded, siluMul within a few f32 ulps", ({ device, dtype }) => {
    for (const n of [1, 7, 8, 1000, 4097]) {
      using a = randn([n], { dtype, device, seed: seed + n });
      using b = randn([n], { dtype, device, seed: seed + n + 1 });
      const av = a.toArray(), bv = b.toArray();
      using s = poisoned([n], dtype, device, (o) => add(a, b, { out: o }));
      using p = poisoned([n], dtype, device, (o) => mul(a, b, { out: o }));
      using g = poisoned([n], dtype, device, (o) => siluMul(a, b, { out: o }));
      expect(mismatches(s.toArray(), Array.from(av, (x, i) => roundTo(Math.fround(x + bv[i]!), dtype)))).toEqual([]);
      expect(mismatches(p.toArray(), Array.from(av, (x, i) => roundTo(Math.fround(x * bv[i]!), dtype)))).toEqual([]);
      const ref = Array.from(av, (x, i) => (x / (1 + Math.exp(-x))) * bv[i]!);
      expect(misses(g.toArray(), ref, ref.map((r) => rounding(r, dtype) + 2 ** -20 * Math.abs(r)))).toEqual([]);
    }
  });

  test.each(cases)("$device $dtype swiglu: silu(gate)·up of a fused [rows, 2·I] gate|up tensor, siluMul's bits", ({ device, dtype }) => {
    // rows > 1 reads the halves at a row stride of 2·I; odd I takes the unaligned (element) path on CUDA.
    for (const [rows, cols] of [[1, 1], [1, 4096], [3, 7], [5, 8], [17, 1000], [2, 4097]] as const) {
      using gu = randn([rows, 2 * cols], { dtype, device, seed: seed + rows * cols });
      using y = poisoned([rows, cols], dtype, device, (o) => swiglu(gu, { out: o }));
      const v = gu.toArray();
      const ref = Array.from({ length: rows * cols }, (_, i) => {
        const r = Math.floor(i / cols), j = i % cols, gate = v[r * 2 * cols + j]!;
        return (gate / (1 + Math.exp(-gate))) * v[r * 2 * cols + cols + j]!;
      });
      expect(misses(y.toArray(), ref, ref.map((x) => rounding(x, dtype) + 2 ** -20 * Math.abs(x)))).toEqual([]);
      using gate = gu.slice(1, 0, cols), up = gu.slice(1, cols, 2 * cols);
      using split = siluMul(gate, up);
      expect(mismatches(bits(y), bits(split))).toEqual([]);
    }
    using batched = randn([2, 3, 10], { dtype, device, seed });
    expect(swiglu(batched).shape).toEqual([2, 3, 5]);
  });

  test("add in place (out = a)", () => {
    using a = randn([5], { seed }), b = randn([5], { seed: seed + 1 });
    const want = Array.from(a.toArray(), (x, i) => Math.fround(x + b.toArray()[i]!));
    expect(add(a, b, { out: a })).toBe(a);
    expect(Array.from(a.toArray())).toEqual(want);
  });
});

describe(`argmax and sample (seed ${seed})`, () => {
  /** Logits [rows, vocab] with repeated values (ties) and, in row 1, a NaN. */
  function logits(rows: number, vocab: number, dtype: DType, device: string, s: number): Tensor {
    const next = rng(s);
    const v = Float32Array.from({ length: rows * vocab }, () => Math.round(next() * 64) / 8);
    if (rows > 1 && vocab > 3) v[vocab + 2] = NaN;
    return fromArray(v, { shape: [rows, vocab], dtype, device });
  }

  test.each(cases)("$device $dtype argmax: first largest, NaN first", ({ device, dtype }) => {
    for (const [rows, vocab] of [[1, 1], [3, 5], [4, 1000], [2, 128256]] as const) {
      using x = logits(rows, vocab, dtype, device, seed + vocab);
      const v = x.toArray();
      const want = Array.from({ length: rows }, (_, r) => {
        const row = Array.from(v.slice(r * vocab, (r + 1) * vocab));
        const nan = row.findIndex(Number.isNaN);
        return nan >= 0 ? nan : row.indexOf(Math.max(...row));
      });
      expect(Array.from(argmax(x).toArray())).toEqual(want);
    }
  });

  test.each(cases)("$device $dtype sample: inside the top k, topK 1 and temperature 0 are argmax, same seed same token", ({ device, dtype }) => {
    for (const [rows, vocab, topK] of [[1, 2, 1], [3, 50, 5], [2, 1000, 40], [2, 32000, 0]] as const) {
      using x = logits(rows, vocab, dtype, device, seed + vocab);
      const v = x.toArray();
      const a = sample(x, { topK, seed, temperature: 0.8 }).toArray();
      expect(Array.from(sample(x, { topK, seed, temperature: 0.8 }).toArray())).toEqual(Array.from(a));
      for (let r = 0; r < rows; r++) {
        const row = Array.from(v.slice(r * vocab, (r + 1) * vocab)).map((y) => (Number.isNaN(y) ? -Infinity : y));
        const kth = topK ? [...row].sort((p, q) => q - p)[topK - 1]! : -Infinity;
        expect(row[a[r]!]!).toBeGreaterThanOrEqual(kth);
        expect(Number.isNaN(v[r * vocab + a[r]!]!)).toBe(false);
      }
      const greedy = Array.from(argmax(x).toArray());
      expect(Array.from(sample(x, { temperature: 0 }).toArray())).toEqual(greedy);
      if (rows === 1) expect(Array.from(sample(x, { topK: 1, seed }).toArray())).toEqual(greedy);
    }
  });

  test(`sample on the CPU follows softmax(logits / T): frequencies over 4000 seeds (seed ${seed})`, () => {
    const l = [0.5, 1.5, -1, 0, 2, 1];
    using x = fromArray(Float32Array.from(l), { shape: [1, 6] });
    const temperature = 1.3, topK = 4, counts = new Array(6).fill(0);
    for (let s = 0; s < 4000; s++) counts[sample(x, { temperature, topK, seed: seed * 4000 + s }).toArray()[0]!]++;
    const kept = [...l].sort((a, b) => b - a).slice(0, topK);
    const w = l.map((y) => (y >= kept[topK - 1]! ? Math.exp(y / temperature) : 0));
    const total = w.reduce((a, b) => a + b);
    for (let j = 0; j < 6; j++) {
      const p = w[j]! / total, sd = Math.sqrt(4000 * p * (1 - p));
      expect(Math.abs(counts[j]! - 4000 * p)).toBeLessThanOrEqual(5 * sd + 1);
    }
  });

  test("sample: the step in a position buffer changes the draw, deterministically", () => {
    using x = fromArray(new Float32Array(1000), { shape: [1, 1000] });
    const draws = [0, 1, 2, 3].map((step) => {
      using position = fromArray(new Int32Array([step]));
      return sample(x, { seed, position }).toArray()[0]!;
    });
    expect(new Set(draws).size).toBeGreaterThan(1);
    using position = fromArray(new Int32Array([2]));
    expect(sample(x, { seed, position }).toArray()[0]).toBe(draws[2]!);
  });

  cudaTest("CUDA picks the same token as the CPU for the same logits, seed and step", () => {
    for (const dtype of DTYPES) {
      for (const [rows, vocab, topK, temperature] of [[1, 7, 3, 1], [4, 1000, 50, 0.7], [2, 128256, 0, 1], [3, 32000, 40, 2]] as const) {
        using x = randn([rows, vocab], { dtype, seed: seed + vocab });
        using xd = x.to("cuda:0");
        for (let step = 0; step < 3; step++) {
          using pc = fromArray(new Int32Array([step])), pd = pc.to("cuda:0");
          const cpu = sample(x, { topK, temperature, seed, position: pc }).toArray();
          const gpu = sample(xd, { topK, temperature, seed, position: pd }).toArray();
          expect(Array.from(gpu)).toEqual(Array.from(cpu));
        }
        expect(Array.from(argmax(xd).toArray())).toEqual(Array.from(argmax(x).toArray()));
      }
    }
  });
});

describe("bad inputs are TaoErrors", () => {
  test("shapes, dtypes, options, disposed tensors, devices", () => {
    using x = randn([2, 3, 4, 8], { seed });
    using w = randn([8], { seed });
    using table = randn([10, 8], { seed });
    const errors: TaoError[] = [
      taoError(() => rmsNorm(x, randn([7], { seed }))),
      taoError(() => rmsNorm(x, w.cast("bf16"))),
      taoError(() => rmsNorm(x, w, { eps: -1 })),
      taoError(() => rmsNorm(x.cast("i32"), w)),
      taoError(() => rope(randn([2, 3, 4, 7], { seed }))),
      taoError(() => rope(randn([2, 3, 8], { seed }))),
      taoError(() => rope(x, { style: "rotate" as "half" })),
      taoError(() => rope(x, { position: fromArray(new Float32Array([1])) })),
      taoError(() => rope(x, { positions: fromArray(new Int32Array(5)) })),
      taoError(() => rope(x, { offset: -1 })),
      taoError(() => rope(x, { theta: 0 })),
      taoError(() => rope(x, { heads: 2 })), // part of the heads: in place only
      taoError(() => rope(x, { heads: 5, out: x })),
      taoError(() => rope(x, { heads: 0, out: x })),
      taoError(() => swiglu(randn([2, 7], { seed }))),
      taoError(() => swiglu(x, { out: x })),
      taoError(() => embedding(fromArray(new Float32Array([1])), table)),
      taoError(() => embedding(fromArray(new Int32Array([1])), randn([10], { seed }))),
      taoError(() => add(x, w)),
      taoError(() => siluMul(x, x.cast("f16"))),
      taoError(() => argmax(randn([0], { seed }))),
      taoError(() => sample(table, { topK: -1 })),
      taoError(() => sample(table, { temperature: NaN })),
    ];
    for (const e of errors) expect(e).toBeInstanceOf(TaoError);
    const gone = randn([8], { seed });
    gone.dispose();
    expect(taoError(() => rmsNorm(x, gone)).message).toContain("disposed");
  });

  cudaTest("tensors on different devices are DEVICE_MISMATCH", () => {
    using x = randn([1, 2, 2, 8], { seed });
    using w = randn([8], { seed, device: "cuda:0" });
    expect(taoError(() => rmsNorm(x, w)).codeName).toBe("DEVICE_MISMATCH");
    using pos = fromArray(new Int32Array([0]), { device: "cuda:0" });
    expect(taoError(() => rope(x, { position: pos })).codeName).toBe("DEVICE_MISMATCH");
  });
});
