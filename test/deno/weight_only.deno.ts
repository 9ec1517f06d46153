// The weight-only linears under Deno, on the CPU: int8WeightOnly and int4WeightOnly layers run
// their kernel entries and land within linearTolerance of the float64 product (test/helpers.ts).
import { int4WeightOnly, int8WeightOnly, Linear, linear, quantize, quantizedLinearImpl, randn, type AffineQuantizedTensor } from "../../lib/index.ts";
import { quantizedLinearMisses } from "../helpers.ts";
import { assert, assertEquals } from "./assert.ts";

for (const [name, config, entry] of [
  ["int8WeightOnly", int8WeightOnly(), "plain: int8 weight-only kernel"],
  ["int4WeightOnly g64", int4WeightOnly({ groupSize: 64 }), "tensor_core_tiled: fused int4 kernel"],
] as const) {
  Deno.test(`${name}: quantize() then linear() runs ${entry} within tolerance`, () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    using layer = new Linear(256, 48, { bias: true, dtype: "bf16", seed });
    const report = quantize(layer, config);
    assertEquals(report.quantized.length, 1, `quantized layers (seed ${seed})`);
    const w = layer.weight as AffineQuantizedTensor;
    for (const m of [1, 5, 40]) {
      using x = randn([m, 256], { dtype: "bf16", seed: seed + m });
      assertEquals(quantizedLinearImpl(x, w, layer.bias).name, entry);
      using y = linear(x, w, layer.bias);
      const misses = quantizedLinearMisses(x, w, layer.bias, y);
      assert(misses.length === 0, `m ${m} (seed ${seed}): ${misses.join("; ")}`);
    }
  });
}
