// linearInt8WeightOnly against a float64 product with the weight q·scale, within linearTolerance
// (test/helpers.ts: output rounding 2^-8 bf16 / 2^-11 f16 relative, plus (K + 2)·2^-23·Σ|x·w| for
// f32 accumulation in any order), on every device present: M in {1, 3, 8, 16, 77, 256}, bf16 and f16,
// odd K and N, outputs pre-filled with NaN. CUDA agrees with the CPU. The plain layout's int8 entry
// runs int8WeightOnly's weights and per-row i8 weights of the NONE domain (dequantized as q·scale),
// no others; it keeps its SQNR and round-trips through a checkpoint; bad inputs are TaoErrors.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AffineQuantizedTensor, finfo, fromArray, int8WeightOnly, linear, linearInt8WeightOnly, MappingType, perRow,
  PlainLayout, quantizedLinearImpl, randn, ZeroPointDomain, type DType, type QuantScheme, type Tensor,
} from "../lib/index.ts";
import {
  devices, disagreement, freshSeed, hasCuda, linearMisses, noCudaReason, poisonedLinear, quantizedLinearMisses, refLinear, rng, roundTo,
  weightOnlyRoundsWeight, taoError,
} from "./helpers.ts";
import { quantizedLayer } from "./quant_model.ts";

if (!hasCuda) console.log(`linear_int8.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const KERNEL = "plain: int8 weight-only kernel";
const FALLBACK = "plain: dequantizeAffine + dense linear";
const MS = [1, 3, 8, 16, 77, 256];
const DTYPES: DType[] = ["bf16", "f16"];
/** [N, K]: odd K, N not a multiple of 8, K = 1; K = 6000: the CUDA GEMV stages 8 rows of x in two chunks. */
const SHAPES = [[40, 77], [24, 333], [7, 256], [33, 1024], [16, 1], [40, 6000]] as const;

/** An int8 weight q [N, K] and scale [N] (x's dtype) drawn from `seed` (identical on every device), with W = q·scale's values. */
function weight(device: string, seed: number, n: number, k: number, dtype: DType) {
  const next = rng(seed);
  const qv = Int8Array.from({ length: n * k }, () => Math.floor(next() * 256) - 128);
  const q = fromArray(qv, { shape: [n, k], device });
  const scale = fromArray(Array.from({ length: n }, () => 0.002 + 0.02 * next()), { dtype, device });
  const s = scale.toArray();
  const exact = Float64Array.from(qv, (v, i) => v * s[Math.floor(i / k)]!), rounded = exact.map((v) => roundTo(v, dtype));
  /** The values the kernel multiplies x with m rows on `device` by (weightOnlyRoundsWeight). */
  const values = (m: number) => (weightOnlyRoundsWeight(device, m) ? rounded : exact);
  return { q, scale, values, [Symbol.dispose]: () => (q.dispose(), scale.dispose()) };
}

/** poisonedLinear of the kernel with weight `w`. */
const run = (device: string, seed: number, w: ReturnType<typeof weight>, n: number, k: number, m: number, dtype: DType) =>
  poisonedLinear((x, bias, opts) => linearInt8WeightOnly(x, w.q, w.scale, bias, opts), { device, seed, m, n, k, dtype });

describe("int8 weight-only linear", () => {
  for (const device of devices) {
    for (const [n, k] of SHAPES) {
      const seed = freshSeed();
      test(`N ${n}, K ${k}: every M and dtype within tolerance (${device}, seed ${seed})`, () => {
        for (const dtype of DTYPES) {
          using w = weight(device, seed, n, k, dtype);
          for (const m of MS) {
            const r = run(device, seed + 10 * m, w, n, k, m, dtype);
            expect({ m, dtype, misses: linearMisses(r.y, refLinear(r.x, w.values(m), r.bias, k), k, dtype) }).toEqual({ m, dtype, misses: [] });
          }
        }
      });
    }
  }

  const seed = freshSeed();
  // Where both keep the weight exact (m <= 32); larger m on CUDA is checked against its own weight above.
  test.skipIf(!hasCuda)(`cuda:0 agrees with the CPU within twice the tolerance (seed ${seed})${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    for (const [n, k] of SHAPES) {
      for (const dtype of DTYPES) {
        using wc = weight("cpu", seed, n, k, dtype), wg = weight("cuda:0", seed, n, k, dtype);
        for (const m of MS.filter((m) => !weightOnlyRoundsWeight("cuda:0", m))) {
          const c = run("cpu", seed + m, wc, n, k, m, dtype), g = run("cuda:0", seed + m, wg, n, k, m, dtype);
          const far = disagreement(c.y, g.y, refLinear(c.x, wc.values(m), c.bias, k), k, dtype);
          expect([n, k, dtype, m, far]).toEqual([n, k, dtype, m, -1]);
        }
      }
    }
  });
});

// SQNR of one quantized Linear K = 512 → N = 256 (N(0, 1) weights and x, M ≥ 16 rows) against the
// float layer. Symmetric per-row rounding leaves weight noise of variance s²/12, s = max|w| / 127.5
// with E max|w| over a row of 512 normals ≈ 3.0-3.1: s²/12 ≈ 4.7e-5, so ≈ 43 dB; bf16's output
// roundings (≈ −56 dB each, on both outputs) take a few tenths more. Measured 42.1-42.5 dB on bf16,
// 42.5-42.8 dB on f16, CPU and H100. Floor 40 dB, 2 dB under the lowest measured.
const SQNR_FLOOR = 40;
const dir = mkdtempSync(join(tmpdir(), "tao-int8-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Weights near torchao's int8_weight_only, to see which the kernel entry takes.
const scheme = (shape: readonly number[], over: Partial<QuantScheme>): QuantScheme => ({
  mappingType: MappingType.SYMMETRIC, blockSize: perRow(shape), targetDtype: "int8", zeroPointDomain: ZeroPointDomain.INT,
  eps: finfo("f32").eps, ...over,
});
const plain = (over: Partial<QuantScheme>) => (w: Tensor) => AffineQuantizedTensor.fromFloat(w, scheme(w.shape, over), new PlainLayout());
const WEIGHTS: [string, (w: Tensor) => AffineQuantizedTensor, string][] = [
  ["int8WeightOnly", (w) => int8WeightOnly().quantizeWeight(w), KERNEL],
  ["int8 symmetric per row, NONE domain", plain({ zeroPointDomain: ZeroPointDomain.NONE }), KERNEL],
  ["int4 symmetric per row, NONE domain (i8 values)", plain({ zeroPointDomain: ZeroPointDomain.NONE, targetDtype: "int4" }), KERNEL],
  ["int8 symmetric per row, INT domain, no config record (zero points not read)", plain({}), FALLBACK],
  ["int8 asymmetric per row", plain({ mappingType: MappingType.ASYMMETRIC }), FALLBACK],
  ["int8 symmetric per group of 32, NONE domain", plain({ zeroPointDomain: ZeroPointDomain.NONE, blockSize: [1, 32] }), FALLBACK],
  ["uint8 asymmetric per row (u8 values)", plain({ mappingType: MappingType.ASYMMETRIC, targetDtype: "uint8" }), FALLBACK],
];

describe("int8 weight-only dispatch", () => {
  for (const device of devices) {
    for (const dtype of DTYPES) {
      const seed = freshSeed();
      test(`int8WeightOnly runs the kernel, SQNR > ${SQNR_FLOOR} dB, checkpoints give the same output (${dtype}, ${device}, seed ${seed})`, () => {
        for (const [i, lead] of [[16], [77], [2, 8]].entries()) {
          const report = quantizedLayer(int8WeightOnly(), { k: 512, n: 256, lead, dtype, device, seed, path: join(dir, `${device}-${dtype}-${i}`) });
          console.log(`int8WeightOnly, ${dtype}, x [${lead},512], ${device}: SQNR ${report.sqnr.toFixed(2)} dB`);
          expect(report).toMatchObject({ entry: KERNEL, misses: [], reloadedSame: true });
          expect(report.sqnr).toBeGreaterThan(SQNR_FLOOR);
        }
      });
    }

    for (const [name, quantizeWeight, entry] of WEIGHTS) {
      const seed = freshSeed();
      test(`${name}: ${entry === KERNEL ? "bf16 and f16 x run the kernel, f32 x the fallback" : "every x runs the fallback"}; outputs right (${device}, seed ${seed})`, () => {
        for (const wDtype of ["f32", "bf16"] as DType[]) {
          using w = randn([24, 96], { dtype: wDtype, device, seed });
          using q = quantizeWeight(w);
          for (const xDtype of ["bf16", "f16", "f32"] as DType[]) {
            using x = randn([5, 96], { dtype: xDtype, device, seed: seed + 1 }), bias = randn([24], { dtype: xDtype, device, seed: seed + 2 });
            expect(quantizedLinearImpl(x, q, bias).name).toBe(xDtype === "f32" ? FALLBACK : entry);
            using y = linear(x, q, bias);
            expect(quantizedLinearMisses(x, q, bias, y)).toEqual([]);
          }
        }
      });
    }

    test(`bad inputs are TaoErrors (${device})`, () => {
      using q = fromArray(new Int8Array(16 * 77), { shape: [16, 77], device }), qu = fromArray(new Uint8Array(16 * 77), { shape: [16, 77], device });
      using s = randn([16], { dtype: "bf16", device }), s32 = randn([16], { device }), s2d = randn([16, 1], { dtype: "bf16", device });
      using x = randn([2, 77], { dtype: "bf16", device }), x32 = randn([2, 77], { device }), xk = randn([2, 78], { dtype: "bf16", device });
      using b16 = randn([16], { dtype: "f16", device }), b15 = randn([15], { dtype: "bf16", device });
      using o16 = randn([2, 16], { dtype: "f16", device }), o8 = randn([2, 8], { dtype: "bf16", device });
      const int8 = (xv: Tensor, qv: Tensor, sv: Tensor, bias: Tensor | null = null, out?: Tensor) =>
        taoError(() => linearInt8WeightOnly(xv, qv, sv, bias, { out })).message;
      expect(int8(x, qu, s)).toMatch(/q must be i8 \[N, K\], not u8 \[16,77\]/);
      expect(int8(x, q.reshape(16, 7, 11), s)).toMatch(/q must be i8 \[N, K\], not i8 \[16,7,11\]/);
      expect(int8(x32, q, s32)).toMatch(/x is f32; linearInt8WeightOnly takes bf16, f16/);
      expect(int8(xk, q, s)).toMatch(/x \[2,78\] must end in K = 77/);
      expect(int8(x, q, s32)).toMatch(/scale must be bf16 \[16\] \(x's dtype\), not f32 \[16\]/);
      expect(int8(x, q, s2d)).toMatch(/scale must be bf16 \[16\] \(x's dtype\), not bf16 \[16,1\]/);
      expect(int8(x, q, s, b16)).toMatch(/bias is f16 but x is bf16/);
      expect(int8(x, q, s, b15)).toMatch(/bias must be \[16\], not \[15\]/);
      expect(int8(x, q, s, null, o16)).toMatch(/out is f16 but x is bf16/);
      expect(int8(x, q, s, null, o8)).toMatch(/out must be \[2,16\], not \[2,8\]/);
      using gone = s.clone();
      gone.dispose();
      expect(int8(x, q, gone)).toMatch(/scale was disposed/);
    });
  }

  test.skipIf(!hasCuda)(`tensors on the CPU and cuda:0: DEVICE_MISMATCH${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    using q = fromArray(new Int8Array(16 * 77), { shape: [16, 77] }), qG = q.to("cuda:0");
    using s = randn([16], { dtype: "bf16" }), sG = s.to("cuda:0");
    using x = randn([2, 77], { dtype: "bf16" }), xG = x.to("cuda:0"), bias = randn([16], { dtype: "bf16" });
    for (const fn of [
      () => linearInt8WeightOnly(x, qG, sG),
      () => linearInt8WeightOnly(xG, qG, s),
      () => linearInt8WeightOnly(xG, qG, sG, bias),
    ]) expect(taoError(fn).codeName).toBe("DEVICE_MISMATCH");
  });
});
