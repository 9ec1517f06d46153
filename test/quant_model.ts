/** The model the quantize() and checkpoint tests run: Linears with N(0, 1) weights, seeded. */
import { Linear, randn, Sequential, type DType, type Tensor } from "../lib/index.ts";

/**
 * A Sequential of Linears through `features` (e.g. [256, 384, 256]), weights N(0, 1) drawn from
 * `seed`, biases PyTorch's default init, on `device` in `dtype`.
 */
export function mlp(features: number[], dtype: DType, device: string, seed: number): Sequential {
  const layers = features.slice(1).map((out, i) => {
    const layer = new Linear(features[i]!, out, { dtype, device, seed: seed + i });
    using w = randn([out, features[i]!], { dtype, device, seed: seed + 1000 + i });
    (layer.weight as Tensor).copyFrom(w);
    return layer;
  });
  return new Sequential(...layers);
}
