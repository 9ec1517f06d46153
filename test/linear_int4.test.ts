// linearInt4TensorCoreTiled against a float64 product with the weight the kernel uses ((q − 8)·scale
// + zero through one f32 fma; CUDA for M > 32: tinygemm's bf16 value rounded to the dtype), within
// linearTolerance (test/helpers.ts: output rounding 2^-8 bf16 / 2^-11 f16 relative, plus
// (K + 2)·2^-23·Σ|x·w| for f32 accumulation in any order), on every device present: every group
// size and innerKTiles, M in {1, 3, 8, 16, 77, 256}, bf16 and f16, K not a multiple of 128, outputs
// pre-filled with NaN. CUDA agrees with the CPU; quantize() dispatches to the kernel, keeps its SQNR
// and round-trips through a checkpoint; bad inputs are TaoErrors.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  fromArray, int4WeightOnly, linear, linearInt4TensorCoreTiled, packInt4TensorCoreTiled, packTinygemmScalesAndZeros, quantize,
  quantizedLinearImpl, randn, type AffineQuantizedTensor, type DType, type InnerKTiles, type Tensor,
} from "../lib/index.ts";
import {
  blockIndex, devices, disagreement, DOMAIN, freshSeed, hasCuda, linearMisses, noCudaReason, poisonedLinear, refDequantize, refLinear,
  rng, roundTo, taoError, weightOnlyRoundsWeight,
} from "./helpers.ts";
import { firstLinear, mlp, quantizedLayer } from "./quant_model.ts";

if (!hasCuda) console.log(`linear_int4.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const KERNEL = "tensor_core_tiled: fused int4 kernel";
const FALLBACK = "tensor_core_tiled: tinygemm dequantize (bf16) + dense linear";
const MS = [1, 3, 8, 16, 77, 256];
const DTYPES: DType[] = ["bf16", "f16"];
const N = 40; // a multiple of 8, not of 16
// K = 5·lcm(16·innerKTiles, group): 160 and 320 are not multiples of 128. K = 6400: the CUDA GEMV
// (m <= 8, small weights) stages 8 rows of x in two chunks of k, with padded steps in the last.
const CASES = ([2, 4, 8] as InnerKTiles[])
  .flatMap((tiles) => [32, 64, 128, 256].map((group) => ({ tiles, group, k: 5 * Math.max(16 * tiles, group) })))
  .concat([{ tiles: 8, group: 128, k: 6400 }]);

/** An int4 weight [N, K] drawn from `seed` (identical on every device), packed, and its plain values. */
function weight(device: string, seed: number, tiles: InnerKTiles, group: number, k: number) {
  const next = rng(seed);
  const q = Uint8Array.from({ length: N * k }, () => Math.floor(next() * 16));
  using qt = fromArray(q, { shape: [N, k], device });
  using scales = randn([N, k / group], { dtype: "bf16", device, seed: seed + 1, mean: 0.02, std: 0.005 });
  using zeros = randn([N, k / group], { dtype: "bf16", device, seed: seed + 2, std: 0.05 });
  const s = Array.from(scales.toArray()), z = Array.from(zeros.toArray());
  const packed = packInt4TensorCoreTiled(qt, tiles), sz = packTinygemmScalesAndZeros(scales, zeros);
  const scheme = { domain: DOMAIN.FLOAT, qmin: 0, qmax: 15 }, blocks = blockIndex([N, k], [1, group]);
  const exact = refDequantize(q, blocks, s, z, scheme), tinygemm = refDequantize(q, blocks, s, z, scheme, "bf16");
  /** The values the kernel multiplies x of `dtype` and m rows on `device` by (weightOnlyRoundsWeight). */
  const values = (dtype: DType, m: number) => (weightOnlyRoundsWeight(device, m, true) ? tinygemm.map((v) => roundTo(v, dtype)) : exact);
  return { packed, sz, values, [Symbol.dispose]: () => (packed.dispose(), sz.dispose()) };
}

/** poisonedLinear of the kernel with weight `w`. */
const run = (device: string, seed: number, w: ReturnType<typeof weight>, group: number, k: number, m: number, dtype: DType) =>
  poisonedLinear((x, bias, opts) => linearInt4TensorCoreTiled(x, w.packed, w.sz, group, bias, opts), { device, seed, m, n: N, k, dtype });

describe("int4 tensor-core-tiled linear", () => {
  for (const device of devices) {
    for (const { tiles, group, k } of CASES) {
      const seed = freshSeed();
      test(`innerKTiles ${tiles}, group ${group}, K ${k}: every M and dtype within tolerance (${device}, seed ${seed})`, () => {
        using w = weight(device, seed, tiles, group, k);
        for (const dtype of DTYPES) {
          for (const m of MS) {
            const r = run(device, seed + 10 * m, w, group, k, m, dtype);
            expect({ m, dtype, misses: linearMisses(r.y, refLinear(r.x, w.values(dtype, m), r.bias, k), k, dtype) }).toEqual({ m, dtype, misses: [] });
          }
        }
      });
    }
  }

  const seed = freshSeed();
  // Where both keep the weight exact (small m); larger m on CUDA is checked against its own weight above.
  test.skipIf(!hasCuda)(`cuda:0 agrees with the CPU within twice the tolerance (seed ${seed})${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    for (const { tiles, group, k } of CASES) {
      using wc = weight("cpu", seed, tiles, group, k), wg = weight("cuda:0", seed, tiles, group, k);
      for (const dtype of DTYPES) {
        for (const m of MS.filter((m) => !weightOnlyRoundsWeight("cuda:0", m, true))) {
          const values = wc.values(dtype, m);
          const c = run("cpu", seed + m, wc, group, k, m, dtype), g = run("cuda:0", seed + m, wg, group, k, m, dtype);
          const far = disagreement(c.y, g.y, refLinear(c.x, values, c.bias, k), k, dtype);
          expect([tiles, group, dtype, m, far]).toEqual([tiles, group, dtype, m, -1]);
        }
      }
    }
  });
});

// SQNR of one quantized Linear K = 512 → N = 256 (N(0, 1) weights and x, M ≥ 16 rows) against the
// float layer. Uniform rounding leaves weight noise of variance s²/12, s = range/15 with E range of
// 128 normals ≈ 5.2: s²/12 ≈ 0.010, so ≈ 20 dB (output roundings, ≈ −55 dB, do not show). Measured
// 19.7-20.3 dB over bf16 and f16, CPU and H100. Floor 18 dB, 1.7 dB under the lowest measured.
const SQNR_FLOOR = 18;
const dir = mkdtempSync(join(tmpdir(), "tao-int4-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("int4WeightOnly linear", () => {
  for (const device of devices) {
    for (const dtype of DTYPES) {
      const seed = freshSeed();
      test(`runs the fused kernel, SQNR > ${SQNR_FLOOR} dB, checkpoints give the same output (${dtype}, ${device}, seed ${seed})`, () => {
        for (const [i, lead] of [[16], [77], [2, 8]].entries()) {
          const report = quantizedLayer(int4WeightOnly(), { k: 512, n: 256, lead, dtype, device, seed, path: join(dir, `${device}-${dtype}-${i}`) });
          console.log(`int4WeightOnly g128, ${dtype}, x [${lead},512], ${device}: SQNR ${report.sqnr.toFixed(2)} dB`);
          expect(report).toMatchObject({ entry: KERNEL, misses: [], reloadedSame: true });
          expect(report.sqnr).toBeGreaterThan(SQNR_FLOOR);
        }
      });
    }

    test(`f32 x takes the fallback; a bias of another dtype is the fallback's TaoError (${device})`, () => {
      using model = mlp([256, 64], "bf16", device, 1);
      quantize(model, int4WeightOnly());
      const w = firstLinear(model).weight as AffineQuantizedTensor;
      using x32 = randn([3, 256], { device }), x = randn([3, 256], { dtype: "bf16", device }), b32 = randn([64], { device });
      expect(quantizedLinearImpl(x32, w).name).toBe(FALLBACK);
      expect(quantizedLinearImpl(x, w).name).toBe(KERNEL);
      expect(taoError(() => linear(x, w, b32)).message).toMatch(/bias is f32 but x is bf16/);
      using b16 = b32.cast("bf16");
      expect(taoError(() => linear(x32, w, b16)).message).toMatch(/bias is bf16 but x is f32/);
    });

    test(`bad inputs are TaoErrors (${device})`, () => {
      using q = fromArray(new Uint8Array(16 * 160), { shape: [16, 160], device });
      using packed = packInt4TensorCoreTiled(q, 2); // N = 16, K = 160
      using scales = randn([16, 5], { dtype: "bf16", device }), zeros = randn([16, 5], { dtype: "bf16", device });
      using sz = packTinygemmScalesAndZeros(scales, zeros), sz16 = sz.cast("f16");
      using x = randn([2, 160], { dtype: "bf16", device }), x32 = randn([2, 160], { device }), xk = randn([2, 128], { dtype: "bf16", device });
      using b16 = randn([16], { dtype: "f16", device }), b15 = randn([15], { dtype: "bf16", device });
      using o16 = randn([2, 16], { dtype: "f16", device }), o8 = randn([2, 8], { dtype: "bf16", device });
      const message = (fn: () => unknown) => taoError(fn).message;
      const int4 = (xv: Tensor, p: Tensor, s: Tensor, g: number, bias: Tensor | null = null, out?: Tensor) =>
        message(() => linearInt4TensorCoreTiled(xv, p, s, g, bias, { out }));
      expect(int4(x, packed, sz, 64)).toMatch(/groupSize 64 does not divide K = 160/);
      expect(int4(x, packed, sz, 48)).toMatch(/groupSize=48 must be 32, 64, 128, 256/);
      expect(int4(x, packed, sz, 160)).toMatch(/groupSize=160 must be/);
      expect(int4(x32, packed, sz, 32)).toMatch(/x is f32; linearInt4TensorCoreTiled takes bf16, f16/);
      expect(int4(xk, packed, sz, 32)).toMatch(/x \[2,128\] must end in K = 160/);
      expect(int4(x, q, sz, 32)).toMatch(/packed must be i32/);
      expect(int4(x, packed, sz16, 32)).toMatch(/scalesAndZeros must be bf16 \[5,16,2\], not f16/);
      expect(int4(x, packed, sz, 32, b16)).toMatch(/bias is f16 but x is bf16/);
      expect(int4(x, packed, sz, 32, b15)).toMatch(/bias must be \[16\], not \[15\]/);
      expect(int4(x, packed, sz, 32, null, o16)).toMatch(/out is f16 but x is bf16/);
      expect(int4(x, packed, sz, 32, null, o8)).toMatch(/out must be \[2,16\], not \[2,8\]/);
      using gone = packed.clone();
      gone.dispose();
      expect(int4(x, gone, sz, 32)).toMatch(/packed was disposed/);
      using s5 = randn([16, 10], { dtype: "bf16", device });
      using szWide = packTinygemmScalesAndZeros(s5, s5);
      expect(int4(x, packed, szWide, 32)).toMatch(/scalesAndZeros must be bf16 \[5,16,2\], not bf16 \[10,16,2\]/);
    });
  }

  test.skipIf(!hasCuda)(`tensors on the CPU and cuda:0: DEVICE_MISMATCH${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    using q = fromArray(new Uint8Array(16 * 128), { shape: [16, 128] });
    using packed = packInt4TensorCoreTiled(q, 8), packedG = packed.to("cuda:0");
    using scales = randn([16, 4], { dtype: "bf16" });
    using sz = packTinygemmScalesAndZeros(scales, scales), szG = sz.to("cuda:0");
    using x = randn([2, 128], { dtype: "bf16" }), xG = x.to("cuda:0"), bias = randn([16], { dtype: "bf16" });
    for (const fn of [
      () => linearInt4TensorCoreTiled(x, packedG, szG, 32),
      () => linearInt4TensorCoreTiled(xG, packedG, sz, 32),
      () => linearInt4TensorCoreTiled(xG, packedG, szG, 32, bias),
    ]) expect(taoError(fn).codeName).toBe("DEVICE_MISMATCH");
  });
});
