/** Linear: a dense layer y = x · weightᵀ + bias (torch.nn.Linear). */
import { invalid } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import { rand } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { linear } from "../ops/linear.ts";
import { Module, type Parameter } from "./module.ts";

/**
 * Sees each input of a Linear before the layer computes (calibration observers:
 * lib/quantization/observers.ts). It must not keep or dispose `x`.
 */
export interface InputObserver {
  observe(x: Tensor): void;
}

export interface LinearInit {
  /** Learnable additive bias of shape [outFeatures] (default true), or the bias tensor itself (taken over). */
  bias?: boolean | Tensor;
  /** The weight [outFeatures, inFeatures] itself, taken over instead of drawn (it sets dtype and device). */
  weight?: Tensor;
  /** f32 (default), f16 or bf16. */
  dtype?: DType;
  /** Default "cpu". */
  device?: string;
  /** Philox stream of the initial values (default: a fresh random seed). */
  seed?: number | bigint;
}

/**
 * A dense layer: parameters `weight` [outFeatures, inFeatures] and `bias` [outFeatures] (or null),
 * both drawn like PyTorch's defaults from uniform(-1/sqrt(inFeatures), 1/sqrt(inFeatures)): the
 * weight takes draws 0 .. out·in - 1 of the seed's stream, the bias the next outFeatures. Given
 * tensors (init.weight, a Tensor init.bias) are taken over instead of drawn.
 * forward(x) = linear(x, weight, bias) for x [..., inFeatures], after `inputObserver` (if any) has
 * seen x.
 */
export class Linear extends Module {
  /** Shown every input before forward computes (the calibration flows set it); null for none. */
  inputObserver: InputObserver | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, init: LinearInit = {}) {
    super();
    for (const d of [inFeatures, outFeatures]) {
      if (!Number.isSafeInteger(d) || d < 1) throw invalid("Linear", `features must be positive integers, not ${inFeatures} -> ${outFeatures}`);
    }
    const { bias = true, weight: given, seed = Math.floor(Math.random() * 2 ** 32) } = init;
    const dtype = given?.dtype ?? init.dtype ?? "f32", device = given?.device ?? init.device ?? "cpu";
    const bound = 1 / Math.sqrt(inFeatures);
    const draw = (shape: number[], offset: number) => rand(shape, { dtype, device, seed, offset, low: -bound, high: bound });
    const fits = (t: Tensor, shape: number[], name: string) => {
      if (t.shape.join() !== shape.join()) throw invalid("Linear", `${name} is [${t.shape}], the layer needs [${shape}]`);
      return t;
    };
    const weight = this.registerParameter("weight", given ? fits(given, [outFeatures, inFeatures], "weight") : draw([outFeatures, inFeatures], 0));
    try {
      const b = typeof bias === "boolean" ? (bias ? draw([outFeatures], outFeatures * inFeatures) : null) : fits(bias, [outFeatures], "bias");
      this.registerParameter("bias", b);
    } catch (e) {
      weight.dispose();
      throw e;
    }
  }

  /** The registered parameter "weight", [outFeatures, inFeatures]: a Tensor, or quantized by quantize(). */
  get weight(): Parameter {
    return this.getParameter("weight")!;
  }

  /** The registered parameter "bias", [outFeatures], or null. */
  get bias(): Tensor | null {
    return this.getParameter("bias") as Tensor | null;
  }

  forward(x: Tensor): Tensor {
    this.inputObserver?.observe(x);
    return linear(x, this.weight, this.bias);
  }
}
