// 2:4 sparsity against references written here from include/tao.h, on every device present:
// the mask rule (2 largest |w|·colScale of each group of 4 along K, ties to the lower index, NaN
// first) bit for bit for f32/f16/bf16/i8 and with Wanda's column norms; the WeightNormSparsifier and
// Wanda flows (exactly 2 zeros per group); compress/decompress round trips; the sparse linears
// (CPU half-MAC kernel, CUDA dense fallback, cuSPARSELt bf16/f16 and int8) against a float64 dense
// product of the pruned weight, on NaN-poisoned outputs, M = 1, odd M, odd N; shapes cuSPARSELt
// refuses (TaoError UNSUPPORTED, and the layout's dense fallback); save/load; bad inputs.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AffineQuantizedTensor, capabilities, columnSqSum, Context, cusparseltPack, empty, ErrorCode, fromArray, int8DynamicActivationInt8SemiSparseWeight,
  int8DynamicActivationInt8Weight, Linear, linear, linearSparse24, loadInto, quantize, quantizedLinearImpl, randn, save, SEMI_SPARSE_FUSED_MAX_ROWS,
  readSafetensors, semiSparseRoutes, semiSparseWeight, Sequential, sparse24Compress, sparse24Decompress, sparse24Mask, applyMask, sparsify, WandaSparsifier, WeightNormSparsifier,
  zeros, type DType, type Tensor,
} from "../lib/index.ts";
import { devices, freshSeed, hasCuda, linearMisses, noCudaReason, normals, poisonedLinear, refLinear, rng, taoError } from "./helpers.ts";

if (!hasCuda) console.log(`sparsity.test.ts: cuda:0 cases skipped: ${noCudaReason}`);
const splt = capabilities().cusparselt;
const cusparseltReady = hasCuda && splt.available;
if (hasCuda && !splt.available) console.log(`sparsity.test.ts: cuSPARSELt cases skipped: ${splt.error}`);

const fr = Math.fround;
const tmp = mkdtempSync(join(tmpdir(), "tao-sparsity-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The documented 2:4 rule: kept positions of each group, from f32 scores. */
function refMask(w: ArrayLike<number>, n: number, k: number, colScale: ArrayLike<number> | null): Uint8Array {
  const mask = new Uint8Array(n * k);
  const above = (a: number, ia: number, b: number, ib: number) =>
    Number.isNaN(a) || Number.isNaN(b) ? Number.isNaN(a) && (!Number.isNaN(b) || ia < ib) : a > b || (a === b && ia < ib);
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < k; g += 4) {
      const s = [0, 1, 2, 3].map((t) => (colScale ? fr(Math.abs(w[i * k + g + t]!) * colScale[g + t]!) : Math.abs(w[i * k + g + t]!)));
      let kept = 0;
      for (let t = 0; t < 4; t++) {
        const beaten = [0, 1, 2, 3].filter((u) => u !== t && above(s[u]!, u, s[t]!, t)).length;
        if (beaten < 2 && kept < 2) {
          mask[i * k + g + t] = 1;
          kept++;
        }
      }
    }
  }
  return mask;
}

/** Groups of 4 along K of a [n, k] array without exactly 2 zeros, as indices. */
function badGroups(v: ArrayLike<number>, k: number): number[] {
  const bad: number[] = [];
  for (let g = 0; g < v.length; g += 4) if ([0, 1, 2, 3].filter((t) => v[g + t] === 0).length !== 2) bad.push(g / 4);
  return bad;
}

/** A weight [n, k] of `dtype` with ties and (for floats) a NaN, to exercise the rule's corners. */
function trickyWeight(seed: number, n: number, k: number, dtype: DType, device: string): Tensor {
  const next = rng(seed);
  const v = normals(next, n * k, dtype === "i8" ? 40 : 1).map((x) => (dtype === "i8" ? Math.max(-128, Math.min(127, Math.round(x))) : x));
  for (let i = 0; i < v.length; i += 13) v[i] = v[i + 1] ?? 0; // ties
  for (let i = 5; i < v.length; i += 29) v[i] = -v[i - 1]!; // ties of |w| with opposite signs
  if (dtype !== "i8") v[7] = NaN;
  if (dtype === "i8") return fromArray(Int8Array.from(v), { shape: [n, k], device });
  return fromArray(v, { shape: [n, k], dtype, device });
}

describe("sparse24Mask", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`the 2:4 rule bit for bit, every dtype, with and without column scales (${device}, seed ${seed})`, () => {
      for (const dtype of ["f32", "f16", "bf16", "i8"] as DType[]) {
        for (const [n, k] of [[1, 4], [3, 12], [17, 64]] as const) {
          using w = trickyWeight(seed + n + k, n, k, dtype, device);
          const next = rng(seed + 1);
          const cs = Float32Array.from({ length: k }, () => fr(0.1 + 3 * next()));
          using colScale = fromArray(cs, { device });
          for (const scale of [null, colScale]) {
            using mask = sparse24Mask(w, { colScale: scale });
            const want = refMask(w.toArray(), n, k, scale ? cs : null);
            const got = mask.toArray() as Uint8Array;
            expect({ dtype, n, k, scaled: scale !== null, bad: got.findIndex((v, i) => v !== want[i]) }).toEqual({ dtype, n, k, scaled: scale !== null, bad: -1 });
            using masked = w.clone();
            applyMask(masked, mask);
            const kept = masked.toArray();
            expect(Array.from(kept).every((v, i) => (want[i] ? Object.is(v, w.toArray()[i]) || (Number.isNaN(v) && Number.isNaN(w.toArray()[i]!)) : v === 0))).toBe(true);
          }
        }
      }
    });
  }
});

describe("compressed form", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`compress keeps the rule's values; decompress gives the pruned weight back (${device}, seed ${seed})`, () => {
      for (const dtype of ["f32", "bf16", "i8"] as DType[]) {
        using w = trickyWeight(seed, 9, 36, dtype, device);
        const { values, meta } = sparse24Compress(w);
        using v = values, mt = meta, dense = sparse24Decompress(v, mt), mask = sparse24Mask(w);
        expect({ values: v.shape, meta: mt.shape, dense: dense.shape }).toEqual({ values: [9, 18], meta: [9, 9], dense: [9, 36] });
        using pruned = w.clone();
        applyMask(pruned, mask);
        const a = dense.toArray(), b = pruned.toArray();
        expect(Array.from(a).every((x, i) => Object.is(x, b[i]) || (Number.isNaN(x) && Number.isNaN(b[i]!)))).toBe(true);
        // A 2:4 weight compresses without loss.
        const again = sparse24Compress(dense);
        using v2 = again.values, m2 = again.meta, back = sparse24Decompress(v2, m2);
        expect(Array.from(back.toArray()).every((x, i) => Object.is(x, a[i]) || (Number.isNaN(x) && Number.isNaN(a[i]!)))).toBe(true);
      }
    });
  }
});

describe("sparsifiers", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`WeightNormSparsifier: prepare, step, squashMask leave exactly 2 zeros per group of 4 (${device}, seed ${seed})`, () => {
      using model = new Sequential(new Linear(64, 32, { seed, device }), new Linear(32, 30, { seed: seed + 1, device }), new Linear(30, 8, { seed, device }));
      const sp = new WeightNormSparsifier();
      const { prepared, skipped } = sp.prepare(model, { filter: (_m, name) => name !== "0" });
      expect({ prepared, skipped }).toEqual({ prepared: ["1"], skipped: [{ name: "2", reason: "K = 30 is not a multiple of 4" }] });
      const before = (model.getModule("1") as Linear).weight as Tensor;
      const wantMask = refMask(before.toArray(), 30, 32, null);
      sp.step();
      expect(Array.from(sp.masks.get("1")!.toArray())).toEqual(Array.from(wantMask));
      expect(sp.squashMask()).toEqual(["1"]);
      expect(badGroups(before.toArray(), 32)).toEqual([]);
      expect(sp.masks.size).toBe(0);
    });

    test(`Wanda: |w|·‖X_j‖₂ from a calibration run through the observers (${device}, seed ${seed})`, () => {
      using model = new Sequential(new Linear(16, 8, { seed, device }));
      const layer = model.getModule("0") as Linear;
      const sp = new WandaSparsifier();
      sp.prepare(model);
      expect(layer.inputObserver).not.toBeNull();
      const next = rng(seed);
      const xs: Float32Array[] = [];
      for (let b = 0; b < 3; b++) {
        const v = normals(next, 5 * 16).map((x, i) => (i % 16 === 3 || i % 16 === 10 ? 50 * x : x)); // two loud channels
        xs.push(v);
        using x = fromArray(v, { shape: [5, 16], device });
        model.forward(x).dispose();
      }
      const norms = Float32Array.from({ length: 16 }, (_, j) => {
        let s = 0;
        for (const v of xs) for (let i = 0; i < 5; i++) s = fr(s + fr(v[i * 16 + j]! * v[i * 16 + j]!));
        return fr(Math.sqrt(s));
      });
      const w = layer.weight as Tensor;
      const want = refMask(w.toArray(), 8, 16, norms);
      sp.step();
      const got = sp.masks.get("0")!.toArray();
      // (The backends' column sums may add in another order; scores that close are vanishingly unlikely here.)
      expect(Array.from(got).filter((v, i) => v !== want[i]).length).toBe(0);
      sp.squashMask();
      expect(layer.inputObserver).toBeNull();
      expect(badGroups(w.toArray(), 16)).toEqual([]);
    });
  }

  test("columnSqSum accumulates Σx² per column; ColumnNormObserver needs data first", () => {
    using x = fromArray(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    using acc = zeros([3]);
    columnSqSum(x, acc);
    columnSqSum(x, acc);
    expect(Array.from(acc.toArray())).toEqual([34, 58, 90]);
    const sp = new WandaSparsifier();
    using model = new Sequential(new Linear(8, 4, { seed: 1 }));
    sp.prepare(model);
    expect(taoError(() => sp.step()).message).toContain("no input was observed");
    sp.dispose();
  });
});

/** Checks y of a sparse linear against the float64 dense product of `dense` (the pruned weight). */
function expectLinear(y: ArrayLike<number>, x: ArrayLike<number>, dense: ArrayLike<number>, bias: ArrayLike<number> | null, k: number, dtype: DType, what: object) {
  expect({ ...what, misses: linearMisses(y, refLinear(x, dense, bias, k), k, dtype) }).toEqual({ ...what, misses: [] });
}

const SHAPES = [[1, 8, 16], [3, 5, 36], [33, 24, 64], [64, 40, 128], [130, 17, 100], [1, 40, 96], [17, 33, 256], [32, 129, 160], [9, 16, 4160], [45, 20, 96], [100, 12, 68]] as const;

describe("linearSparse24", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`equals the dense product of the pruned weight, poisoned outputs, M = 1 and odd M (${device}, seed ${seed})`, () => {
      for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
        for (const [m, n, k] of SHAPES) {
          using w = randn([n, k], { dtype, device, seed: seed + 7 });
          const { values, meta } = sparse24Compress(w);
          using v = values, mt = meta, dense = sparse24Decompress(v, mt);
          const r = poisonedLinear((x, bias, opts) => linearSparse24(x, v, mt, bias, opts), { device, seed: seed + m, m, n, k, dtype });
          expectLinear(r.y, r.x, dense.toArray(), r.bias, k, dtype, { dtype, m, n, k });
        }
      }
    });
  }
});

describe("semi-sparse configs", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`semiSparseWeight linear = dense pruned product; save/load round trip (${device}, seed ${seed})`, () => {
      for (const dtype of (device === "cpu" ? ["f32", "bf16"] : ["bf16", "f16"]) as DType[]) {
        // (64, 128): cuSPARSELt takes it on CUDA (bf16); (24, 36) and f16: the layout keeps the dense fallback.
        for (const [n, k] of [[64, 128], [24, 36]] as const) {
          using model = new Sequential(new Linear(k, n, { seed, device, dtype }));
          const report = sparsify(model, semiSparseWeight({ denseFallback: false }));
          expect(report.quantized).toEqual([{ name: "0", layout: "semi_sparse" }]);
          const w = (model.getModule("0") as Linear).weight as AffineQuantizedTensor;
          const packed = w.storage.packed !== undefined;
          if (device !== "cpu") expect({ n, k, dtype, packed }).toEqual({ n, k, dtype, packed: cusparseltReady && n === 64 && dtype === "bf16" });
          using dense = w.dequantize();
          expect(badGroups(dense.toArray(), k)).toEqual([]);
          const bias = (model.getModule("0") as Linear).bias!;
          for (const m of [1, 7, 16, 17, 32, 64, 97]) {
            if (packed) {
              // Up to SEMI_SPARSE_FUSED_MAX_ROWS rows (K a multiple of 32) the compressed form's tensor-core kernel, cuSPARSELt above.
              using probe = empty([m, k], { dtype, device });
              const fused = m <= SEMI_SPARSE_FUSED_MAX_ROWS;
              expect({ m, impl: quantizedLinearImpl(probe, w, bias).name.includes("linearSparse24") }).toEqual({ m, impl: fused });
            }
            const r = poisonedLinear((x, _b, opts) => linear(x, w, bias, opts), { device, seed: seed + m, m, n, k, dtype });
            expectLinear(r.y, r.x, dense.toArray(), bias.toArray(), k, dtype, { dtype, n, k, m, packed });
          }
          const path = join(tmp, `semi-${device}-${dtype}-${n}.safetensors`);
          save(model, path);
          using fresh = new Sequential(new Linear(k, n, { seed: seed + 99, device, dtype }));
          expect(loadInto(fresh, path).quantized).toEqual(["0.weight"]);
          using x = randn([5, k], { dtype, device, seed });
          using y1 = model.forward(x), y2 = fresh.forward(x);
          expect(Array.from(y2.toArray())).toEqual(Array.from(y1.toArray()));
        }
      }
    });

    test.skipIf(device === "cpu")(`semiSparseWeight keeps a dense copy on CUDA, runs the measured faster path, leaves the copy out of checkpoints (${device}, seed ${seed})`, () => {
      const [n, k] = [64, 128];
      for (const dtype of ["bf16", "f16"] as const) {
        using model = new Sequential(new Linear(k, n, { seed, device, dtype }));
        sparsify(model, semiSparseWeight());
        const w = (model.getModule("0") as Linear).weight as AffineQuantizedTensor;
        expect({ dtype, options: w.layout.options.dense, derived: w.layout.derivedKeys }).toEqual({ dtype, options: 1, derived: ["dense"] });
        using plain = w.dequantize();
        expect(Array.from(w.storage.dense!.toArray())).toEqual(Array.from(plain.toArray()));
        expect(badGroups(plain.toArray(), k)).toEqual([]);
        const bias = (model.getModule("0") as Linear).bias!;
        for (const m of [1, 16, 33, 300]) {
          using probe = empty([m, k], { dtype, device });
          expect(quantizedLinearImpl(probe, w, bias).name).toContain("dense copy");
          const r = poisonedLinear((x, _b, opts) => linear(x, w, bias, opts), { device, seed: seed + m, m, n, k, dtype });
          expectLinear(r.y, r.x, plain.toArray(), bias.toArray(), k, dtype, { dtype, n, k, m });
          const bucket = 2 ** Math.ceil(Math.log2(m));
          expect(semiSparseRoutes().get([device, n, k, dtype, true, bucket].join(" "))).toMatch(/^(sparse|dense)$/);
        }
        // Inside a graph capture an undecided row bucket runs the sparse path untimed and stays undecided.
        const ctx = Context.get(device);
        const m = 5, key = [device, n, k, dtype, false, 8].join(" ");
        expect(semiSparseRoutes().has(key)).toBe(false);
        using x = randn([m, k], { dtype, device, seed }), out = empty([m, n], { dtype, device });
        using graph = ctx.captureGraph(() => linear(x, w, null, { out }));
        graph.launch();
        ctx.synchronize();
        expect(semiSparseRoutes().has(key)).toBe(false);
        expectLinear(out.toArray(), x.toArray(), plain.toArray(), null, k, dtype, { dtype, n, k, m, graph: true });
        const path = join(tmp, `semi-dense-${dtype}.safetensors`);
        save(model, path);
        expect([...readSafetensors(path).tensors.keys()].sort()).toEqual(["0.bias", "0.weight:meta", "0.weight:values", ...(w.storage.packed ? ["0.weight:packed"] : [])].sort());
        using fresh = new Sequential(new Linear(k, n, { seed: seed + 99, device, dtype }));
        loadInto(fresh, path);
        const wf = (fresh.getModule("0") as Linear).weight as AffineQuantizedTensor;
        expect(Array.from(wf.storage.dense!.toArray())).toEqual(Array.from(plain.toArray()));
        using y1 = model.forward(x), y2 = fresh.forward(x);
        expect(Array.from(y2.toArray())).toEqual(Array.from(y1.toArray()));
      }
    });

    test(`int8DynamicActivationInt8SemiSparseWeight = W8A8 of the pruned weight (${device}, seed ${seed})`, () => {
      // Same bits as dense W8A8 everywhere but cuSPARSELt with 16-bit y, which rounds D = bf16(wscale · acc)
      // once more (include/tao.h): there |ya - yb| <= 2^-9 |acc · s| + 2 ulp(y) <= 2^-7 (|yb| + |bias|).
      for (const [m, n, k] of [[1, 64, 128], [45, 64, 128], [8, 24, 36]] as const) {
        for (const dtype of ["bf16", "f32"] as const) {
          using a = new Sequential(new Linear(k, n, { seed, device, dtype }));
          using b = new Sequential(new Linear(k, n, { seed, device, dtype }));
          const sp = new WeightNormSparsifier();
          sp.prepare(b);
          sp.step();
          sp.squashMask();
          sparsify(a, int8DynamicActivationInt8SemiSparseWeight());
          quantize(b, int8DynamicActivationInt8Weight());
          const wa = (a.getModule("0") as Linear).weight as AffineQuantizedTensor;
          const roundsD = wa.storage.packed !== undefined && dtype !== "f32";
          if (device !== "cpu") expect({ n, dtype, roundsD }).toEqual({ n, dtype, roundsD: cusparseltReady && n === 64 && dtype === "bf16" });
          using x = randn([m, k], { dtype, device, seed: seed + m });
          using ya = a.forward(x), yb = b.forward(x);
          const va = ya.toArray(), vb = yb.toArray(), bias = (b.getModule("0") as Linear).bias!.toArray();
          const off = Array.from(va).flatMap((v, i) => {
            const tol = roundsD ? 2 ** -7 * (Math.abs(vb[i]!) + Math.abs(bias[i % n]!)) : 0;
            return Math.abs(v - vb[i]!) <= tol || Object.is(v, vb[i]) ? [] : [`${i}: ${v} vs ${vb[i]} (tol ${tol})`];
          });
          expect({ m, n, k, dtype, off: off.slice(0, 4) }).toEqual({ m, n, k, dtype, off: [] });
        }
      }
    });
  }
});

describe("cuSPARSELt", () => {
  test.skipIf(!cusparseltReady)("shapes it refuses are TaoError UNSUPPORTED naming them", () => {
    using w = randn([24, 36], { dtype: "bf16", device: "cuda:0", seed: 1 });
    const { values, meta } = sparse24Compress(w);
    using v = values, mt = meta;
    const e = taoError(() => cusparseltPack(v, mt));
    expect(e.code).toBe(ErrorCode.UNSUPPORTED);
    expect(e.message).toContain("n=24 k=36");
  });

  test.skipIf(!cusparseltReady)("f16 is not enabled on cuSPARSELt (it faulted on an H100 with cuSPARSELt 0.8): TaoError UNSUPPORTED", () => {
    using w = randn([64, 128], { dtype: "f16", device: "cuda:0", seed: 1 });
    const { values, meta } = sparse24Compress(w);
    using v = values, mt = meta;
    const e = taoError(() => cusparseltPack(v, mt));
    expect(e.code).toBe(ErrorCode.UNSUPPORTED);
    expect(e.message).toContain("f16");
  });

  test("the CPU context has no cuSPARSELt: TaoError UNSUPPORTED", () => {
    using w = randn([32, 32], { dtype: "bf16", seed: 1 });
    const { values, meta } = sparse24Compress(w);
    using v = values, mt = meta;
    expect(taoError(() => cusparseltPack(v, mt)).code).toBe(ErrorCode.UNSUPPORTED);
  });
});

describe("bad inputs are TaoErrors", () => {
  test("shapes, dtypes, disposal, configs", () => {
    using w = randn([4, 6], { seed: 1 });
    expect(taoError(() => sparse24Mask(w)).message).toContain("multiple of 4");
    using w8 = randn([4, 8], { seed: 1 });
    using i32 = zeros([4, 8], { dtype: "i32" });
    expect(taoError(() => sparse24Mask(i32)).message).toContain("i32");
    using badScale = zeros([4]);
    expect(taoError(() => sparse24Mask(w8, { colScale: badScale })).message).toContain("colScale");
    using badMask = zeros([4, 4], { dtype: "u8" });
    expect(taoError(() => applyMask(w8, badMask)).message).toContain("mask must be u8 [4,8]");
    const { values, meta } = sparse24Compress(w8);
    using x = randn([3, 12], { seed: 2 });
    expect(taoError(() => linearSparse24(x, values, meta)).message).toContain("K = 8");
    using xb = randn([3, 8], { seed: 2, dtype: "bf16" });
    expect(taoError(() => linearSparse24(xb, values, meta)).message).toContain("x is bf16");
    expect(taoError(() => sparse24Decompress(values, values)).message).toContain("meta must be u8");
    meta.dispose();
    expect(taoError(() => sparse24Decompress(values, meta)).message).toContain("disposed");
    values.dispose();
    using model = new Sequential(new Linear(8, 4, { seed: 1 }));
    expect(taoError(() => sparsify(model, int8DynamicActivationInt8Weight())).message).toContain("not a sparsity config");
  });
});
