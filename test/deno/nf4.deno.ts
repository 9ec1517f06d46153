// NF4 under Deno, on the CPU: an nf4WeightOnly layer runs the linearNf4 entry and lands within
// linearTolerance of the float64 product with its dequantized (f32) weight (test/helpers.ts).
import { Linear, linear, nf4WeightOnly, quantize, quantizedLinearImpl, randn, type AffineQuantizedTensor } from "../../lib/index.ts";
import { linearMisses, refLinear } from "../helpers.ts";
import { assert, assertEquals } from "./assert.ts";

Deno.test("nf4WeightOnly: quantize() then linear() runs linearNf4 within tolerance", () => {
  const seed = Math.floor(Math.random() * 2 ** 31);
  using layer = new Linear(256, 37, { bias: true, dtype: "bf16", seed });
  assertEquals(quantize(layer, nf4WeightOnly()).quantized.length, 1, `quantized layers (seed ${seed})`);
  const w = layer.weight as AffineQuantizedTensor;
  using dense = w.dequantize("f32");
  const values = dense.toArray() as Float32Array, bias = layer.bias!.toArray() as Float32Array;
  for (const m of [1, 3, 40]) {
    using x = randn([m, 256], { dtype: "bf16", seed: seed + m });
    assertEquals(quantizedLinearImpl(x, w, layer.bias).name, "nf4: linearNf4 (weight decoded on the fly)");
    using y = linear(x, w, layer.bias);
    const misses = linearMisses(y.toArray() as Float32Array, refLinear(x.toArray() as Float32Array, values, bias, 256), 256, "bf16");
    assert(misses.length === 0, `m ${m} (seed ${seed}): ${misses.join("; ")}`);
  }
});
