/**
 * AutoQuantizableLinearWeight (torchao's class of that name): what autoquant() puts in a Linear's
 * weight slot while it learns which shapes the layer sees. It is an AffineQuantizedTensor of the
 * float_cast layout whose storage is the layer's own float weight (not a copy), so every caller
 * of linear() — Linear.forward and models that call linear() with a module's weight, as Llama
 * does — reaches its dispatch entry, which counts the (x, weight, bias, dtype) shapes and runs dense
 * linear. The other entries of the quantized-linear table are untouched.
 */
import { isFloat, type DType } from "../../dtypes.ts";
import { Tensor } from "../../tensor.ts";
import { Linear, type Module } from "../../nn/index.ts";
import { linear } from "../../ops/linear.ts";
import { AffineQuantizedTensor } from "../../dtypes/affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "../../dtypes/dispatch.ts";
import { FLOAT_CAST_LAYOUT, floatParams } from "./float_cast.ts";

/** One kind of call a layer saw: x flattened to [M, K], the weight [N, K], the bias [N] or null. */
export interface RecordedShape {
  x: [number, number];
  weight: [number, number];
  bias: [number] | null;
  dtype: DType;
  /** How many calls had these shapes. */
  count: number;
}

/** A Linear's float weight that records the shapes of every linear() it takes part in. */
export class AutoQuantizableLinearWeight extends AffineQuantizedTensor {
  readonly #log: Map<string, RecordedShape>;

  /** Wraps `weight` (a float [N, K] tensor, owned from now on). */
  constructor(weight: Tensor, log: Map<string, RecordedShape> = new Map()) {
    super(FLOAT_CAST_LAYOUT, { weight }, floatParams(weight.shape, weight.dtype), { name: "autoquant" });
    this.#log = log;
  }

  /** The layer's float weight (still owned by this wrapper). */
  get weight(): Tensor {
    return this.storage.weight!;
  }

  /** Every distinct call shape seen so far, in first-seen order. */
  get recorded(): RecordedShape[] {
    return [...this.#log.values()];
  }

  /** Counts one call of linear(x, this, bias). */
  record(x: Tensor, bias: Tensor | null): void {
    const k = x.shape.at(-1)!;
    const [n] = this.shape as [number, number];
    const key = `${x.numel / k}x${k}|${bias === null ? "-" : n}|${x.dtype}`;
    const seen = this.#log.get(key);
    if (seen) seen.count++;
    else this.#log.set(key, { x: [x.numel / k, k], weight: [n, k], bias: bias === null ? null : [n], dtype: x.dtype, count: 1 });
  }

  /** This wrapper on `device`, with its record so far (Module.to keeps autoquant working). */
  override to(device: string): AffineQuantizedTensor {
    const moved = this.weight.to(device);
    return moved === this.weight ? this : new AutoQuantizableLinearWeight(moved, this.#log);
  }
}

registerQuantizedLinear({
  name: "autoquant: record the shapes, then dense linear",
  priority: QuantizedLinearPriority.KERNEL + 1, // before float_cast's entry, which would run it unrecorded
  condition: (_x, w) => w instanceof AutoQuantizableLinearWeight,
  impl: (x, w, bias, opts) => {
    const aq = w as AutoQuantizableLinearWeight;
    aq.record(x, bias);
    return linear(x, aq.weight, bias, opts);
  },
});

/** A Linear whose weight is being recorded, and its qualified name. */
export interface WrappedLinear {
  name: string;
  linear: Linear;
}

/** Wraps the float weight of every Linear of `model` that `filter` accepts (quantized layers stay out). */
export function wrapLinears(model: Module, filter?: (module: Linear, name: string) => boolean): WrappedLinear[] {
  const layers = model.namedModules().flatMap(([name, m]) => {
    if (!(m instanceof Linear) || (filter && !filter(m, name))) return [];
    const w = m.weight;
    return w instanceof Tensor && isFloat(w.dtype) ? [{ name, linear: m }] : [];
  });
  for (const { linear } of layers) linear.setParameter("weight", new AutoQuantizableLinearWeight(linear.weight as Tensor));
  return layers;
}

/** The recording weight of a wrapped layer, or null once it holds something else. */
export function recorder(layer: WrappedLinear): AutoQuantizableLinearWeight | null {
  const w = layer.linear.weight;
  return w instanceof AutoQuantizableLinearWeight ? w : null;
}

/** Gives every layer still wrapped its float weight back. */
export function unwrapLinears(layers: WrappedLinear[]): void {
  for (const layer of layers) {
    const w = recorder(layer);
    if (w !== null) layer.linear.setParameter("weight", w.weight);
  }
}
