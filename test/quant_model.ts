/**
 * The model the quantize(), checkpoint and quantized-kernel tests run: Linears with N(0, 1) weights,
 * seeded; and one such layer quantized, measured and round-tripped through a checkpoint.
 */
import {
  Linear, loadInto, quantize, quantizedLinearImpl, randn, save, Sequential, sqnr, type AffineQuantizedTensor, type DType,
  type Module, type QuantConfig, type Tensor,
} from "../lib/index.ts";
import { bits, mismatches, quantizedLinearMisses } from "./helpers.ts";

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

/** The first Linear of a model. */
export function firstLinear(model: Module): Linear {
  return model.namedModules().map(([, m]) => m).find((m): m is Linear => m instanceof Linear)!;
}

/** What quantizedLayer measured. */
export interface QuantizedLayerReport {
  /** The name of the quantized-linear entry the layer's forward runs. */
  entry: string;
  /** SQNR (dB) of the quantized layer's output against the float layer's. */
  sqnr: number;
  /** quantizedLinearMisses of the quantized output (empty: right); null when not asked (opts.misses false). */
  misses: (number | string)[] | null;
  /** Whether a fresh float layer loaded from a checkpoint of the quantized one gives the same output bits. */
  reloadedSame: boolean;
  /** The reloaded weight's config record and the shapes of its storage tensors. */
  reloaded: { config: unknown; shapes: Record<string, number[]> };
}

/**
 * A Linear K → N (N(0, 1) weights in `dtype` on `device`, drawn from `seed`) quantized in place with
 * `config` and run on x [...lead, K] (N(0, 1)); then saved to `path` and loaded into a fresh layer.
 * misses: false skips quantizedLinearMisses, for configs whose output is not a function of the
 * dequantized weight alone (dynamic activation quantization).
 */
export function quantizedLayer(
  config: QuantConfig,
  o: { k: number; n: number; lead: number[]; dtype: DType; device: string; seed: number; path: string },
  opts: { misses?: boolean } = {},
): QuantizedLayerReport {
  using model = mlp([o.k, o.n], o.dtype, o.device, o.seed);
  using x = randn([...o.lead, o.k], { dtype: o.dtype, device: o.device, seed: o.seed + 1 });
  using dense = model.forward(x);
  quantize(model, config);
  const layer = firstLinear(model);
  const weight = layer.weight as AffineQuantizedTensor;
  using y = model.forward(x);
  save(model, o.path);
  using fresh = mlp([o.k, o.n], o.dtype, o.device, o.seed + 2);
  loadInto(fresh, o.path);
  using again = fresh.forward(x);
  const reloaded = firstLinear(fresh).weight as AffineQuantizedTensor;
  return {
    entry: quantizedLinearImpl(x, weight, layer.bias).name,
    sqnr: sqnr(dense, y),
    misses: opts.misses === false ? null : quantizedLinearMisses(x, weight, layer.bias, y),
    reloadedSame: mismatches(bits(again), bits(y)).length === 0,
    reloaded: { config: reloaded.config, shapes: Object.fromEntries(Object.entries(reloaded.storage).map(([key, t]) => [key, [...t.shape]])) },
  };
}
