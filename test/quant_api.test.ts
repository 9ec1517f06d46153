// quantize(model, config): swaps Linear weights in place, on every device present. On a
// 256 → 384 → 256 MLP with N(0, 1) weights and inputs the quantized model's output keeps the SQNR
// each scheme allows, and each layer's output, at every M, is what its dispatch entry documents
// (quantizedLinearMisses: a fallback equals linear(x, w.dequantize(), b) bit for bit, a fused kernel
// the float64 product with its weight within tolerance); the filter, layers left alone and the tiled
// layout's plain fallback are reported.
import { describe, expect, test } from "bun:test";
import {
  AffineQuantizedTensor, int4WeightOnly, int8WeightOnly, quantize, randn, Sequential, sqnr, ZeroPointDomain,
  Linear, type DType, type Module, type QuantConfig, type Tensor,
} from "../lib/index.ts";
import { devices, freshSeed, hasCuda, noCudaReason, quantizedLinearMisses } from "./helpers.ts";
import { mlp } from "./quant_model.ts";

if (!hasCuda) console.log(`quant_api.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const layers = (model: Module) => model.namedModules().flatMap(([, m]) => (m instanceof Linear ? [m] : []));

/** The model's Linears run one by one from x: quantizedLinearMisses of each quantized layer's output. */
function forwardMisses(model: Module, x: Tensor): (number | string)[][] {
  const misses: (number | string)[][] = [];
  let h = x;
  for (const layer of layers(model)) {
    const next = layer.forward(h);
    if (layer.weight instanceof AffineQuantizedTensor) misses.push(quantizedLinearMisses(h, layer.weight, layer.bias, next));
    if (h !== x) h.dispose();
    h = next;
  }
  if (h !== x) h.dispose();
  return misses;
}

/**
 * SQNR floors of the 256 → 384 → 256 MLP's output, N(0, 1) weights and inputs. Uniform rounding
 * leaves noise of variance s²/12 per weight, and a layer's output has the SQNR of its weight (x is
 * independent of the errors); two layers add their noise (−3 dB).
 *  int8 per channel: s = max|w| / 127.5, E max|w| over a row of 256-384 ≈ 2.9, so s²/12 ≈ 4.3e-5:
 *    43.6 dB a layer, ≈ 40.6 dB for two (measured 39-40). Floor 35 dB.
 *  int4 g128: s = range / 15, E range of 128 normals ≈ 5.2, so s²/12 ≈ 0.0100: 20 dB a layer (the
 *    README demo measures 20.0), ≈ 17 dB for two (measured 16.9-17.1). Floor 15 dB.
 */
const CONFIGS: [string, () => QuantConfig, string, number][] = [
  ["int8WeightOnly", int8WeightOnly, "plain", 35],
  ["int4WeightOnly g128 tensor_core_tiled", () => int4WeightOnly(), "tensor_core_tiled", 15],
  ["int4WeightOnly g128 plain", () => int4WeightOnly({ layout: "plain" }), "plain", 15],
  ["int4WeightOnly g128 INT plain", () => int4WeightOnly({ layout: "plain", zeroPointDomain: ZeroPointDomain.INT }), "plain", 15],
];

describe("quantize()", () => {
  for (const device of devices) {
    for (const [name, config, layout, floor] of CONFIGS) {
      for (const dtype of ["bf16", "f32"] as DType[]) {
        const seed = freshSeed();
        test(`${name}, ${dtype}: SQNR ≥ ${floor} dB, each layer as its linear entry documents (${device}, seed ${seed})`, () => {
          using model = mlp([256, 384, 256], dtype, device, seed);
          using x = randn([256, 256], { dtype, device, seed: seed + 1 });
          using yFloat = model.forward(x);
          const before = layers(model).map((l) => l.weight);
          expect(quantize(model, config())).toEqual({ quantized: [{ name: "0", layout }, { name: "1", layout }], skipped: [] });
          expect(before.every((w) => w.disposed)).toBe(true);
          expect(layers(model).every((l) => l.weight instanceof AffineQuantizedTensor && l.weight.device === device)).toBe(true);
          using y = model.forward(x);
          expect(sqnr(yFloat, y)).toBeGreaterThan(floor);
          for (const m of [1, 3, 16, 77, 256]) {
            using xm = x.slice(0, 0, m);
            expect(forwardMisses(model, xm)).toEqual([[], []]);
          }
        });
      }
    }

    test(`the filter sees each Linear with its qualified name; only accepted layers change (${device})`, () => {
      using model = new Sequential(mlp([64, 32, 64], "bf16", device, 1), mlp([64, 16], "bf16", device, 2));
      const seen: [Linear, string][] = [];
      const report = quantize(model, int8WeightOnly(), { filter: (m, name) => (seen.push([m, name]), name !== "0.1") });
      expect(seen.map(([, name]) => name)).toEqual(["0.0", "0.1", "1.0"]);
      expect(seen.map(([m]) => m)).toEqual(layers(model));
      expect(report.quantized.map((q) => q.name)).toEqual(["0.0", "1.0"]);
      const kinds = seen.map(([m]) => m.weight instanceof AffineQuantizedTensor);
      expect(kinds).toEqual([true, false, true]);
      using x = randn([3, 64], { dtype: "bf16", device });
      using y = model.forward(x);
      expect(y.shape).toEqual([3, 16]);
    });

    test(`layers whose K the group does not divide stay float; tiled falls back to plain where N % 8 != 0 (${device})`, () => {
      // 256 → 100: N = 100, plain; 100 → 256: K = 100, left float; 256 → 128: tiled.
      using model = mlp([256, 100, 256, 128], "bf16", device, 3);
      expect(quantize(model, int4WeightOnly())).toEqual({
        quantized: [{ name: "0", layout: "plain" }, { name: "2", layout: "tensor_core_tiled" }],
        skipped: [{ name: "1", reason: "K = 100 is not a multiple of groupSize 128" }],
      });
      expect(layers(model).map((l) => l.weight instanceof AffineQuantizedTensor)).toEqual([true, false, true]);
      using x = randn([5, 256], { dtype: "bf16", device });
      expect(forwardMisses(model, x)).toEqual([[], []]);
      expect(quantize(model, int8WeightOnly())).toEqual({
        quantized: [{ name: "1", layout: "plain" }],
        skipped: [{ name: "0", reason: "already quantized" }, { name: "2", reason: "already quantized" }],
      });
    });
  }
});
