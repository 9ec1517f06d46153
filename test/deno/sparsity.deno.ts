// 2:4 sparsity under Deno, on the CPU: the magnitude sparsifier leaves exactly 2 zeros per group of
// 4, and semiSparseWeight layers run the half-MAC kernel entry within linearTolerance of the float64
// product of the pruned weight (test/helpers.ts); a K that is not a multiple of 4 is a TaoError.
import {
  Linear, linear, quantizedLinearImpl, randn, semiSparseWeight, sparse24Mask, sparsify, TaoError, WeightNormSparsifier, type AffineQuantizedTensor,
  type Tensor,
} from "../../lib/index.ts";
import { linearMisses, refLinear } from "../helpers.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

Deno.test("WeightNormSparsifier then semiSparseWeight: 2:4 weights, linearSparse24 within tolerance", () => {
  const seed = Math.floor(Math.random() * 2 ** 31);
  using layer = new Linear(96, 40, { bias: true, dtype: "bf16", seed });
  const sp = new WeightNormSparsifier();
  sp.prepare(layer);
  sp.step();
  assertEquals(sp.squashMask(), [""]);
  const w = (layer.weight as Tensor).toArray();
  for (let g = 0; g < w.length; g += 4) assertEquals([0, 1, 2, 3].filter((t) => w[g + t] === 0).length, 2, `group ${g / 4} (seed ${seed})`);
  assertEquals(sparsify(layer, semiSparseWeight()).quantized, [{ name: "", layout: "semi_sparse" }]);
  const sw = layer.weight as AffineQuantizedTensor;
  const kernel = "semi_sparse: linearSparse24 (CPU half-MAC kernel; CUDA small-m tensor-core kernel or dense weight + cuBLASLt)";
  for (const m of [1, 7, 50]) {
    using x = randn([m, 96], { dtype: "bf16", seed: seed + m });
    assertEquals(quantizedLinearImpl(x, sw, layer.bias).name, kernel);
    using y = linear(x, sw, layer.bias);
    const misses = linearMisses(y.toArray(), refLinear(x.toArray(), w, layer.bias!.toArray(), 96), 96, "bf16");
    assert(misses.length === 0, `m ${m} (seed ${seed}): ${misses.join("; ")}`);
  }
});

Deno.test("sparse24Mask: K not a multiple of 4 is a TaoError", () => {
  using w = randn([3, 10], { seed: 1 });
  assert(assertThrows(() => sparse24Mask(w), TaoError).message.includes("multiple of 4"));
});
