/**
 * SmoothQuantLayout (torchao's SmoothQuant as an AffineQuantizedTensor layout): a W8A8 weight whose
 * stored int8 values are those of the smoothed weight W' = W · diag(s), beside the equalization
 * scale s (f32 [K], storage `equalization_scale`). Its linear computes Q(x / s) · Q(W')ᵀ + bias
 * with dynamic per-row int8 activations (the kernel entry fuses x / s into quantizeRowsInt8; the
 * reference entry scales x first), which equals x · Wᵀ up to the two quantizations; so
 * dequantize() gives the weight the layer computes with, W' · diag(1 / s). Made by smoothQuant()
 * (lib/quantization/smoothquant.ts); saved and loaded like every layout.
 */
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { registerLayout, type LayoutStorage, type QuantParams } from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";
import { scaleColumns, W8A8Layout, w8a8KernelApplies, w8a8KernelLinear, w8a8ReferenceLinear } from "./w8a8_layout.ts";

/** 1 / s for each entry of the stored equalization scale s, on the host. */
function inverseEqualizationScale(storage: LayoutStorage): Float32Array {
  return Float32Array.from(storage.equalization_scale!.toArray(), (s) => 1 / s);
}

/** W8A8 with an equalization scale divided out of the activations (dynamic per-row int8). */
export class SmoothQuantLayout extends W8A8Layout {
  override readonly name = "smoothquant";

  constructor() {
    super(false);
  }

  protected override extraSpec(p: QuantParams) {
    return { equalization_scale: { shape: [p.shape[1]!], dtypes: ["f32"] as DType[] } };
  }

  /** The effective weight W' · diag(1 / s) as a new `dtype` tensor. */
  override dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    using smoothed = super.dequantize(storage, p, "f32");
    const w = scaleColumns(smoothed, inverseEqualizationScale(storage));
    if (dtype === "f32") return w;
    using f32 = w;
    return f32.cast(dtype);
  }
}

registerLayout("smoothquant", () => new SmoothQuantLayout());
registerQuantizedLinear({
  name: "smoothquant: quantizeRowsInt8 with x / s fused + linearInt8Int8",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x, w, bias) => w8a8KernelApplies("smoothquant", x, w, bias),
  impl: (x, w, bias, opts) => w8a8KernelLinear(x, w, bias, opts, w.storage.equalization_scale!),
});
registerQuantizedLinear({
  name: "smoothquant: x / s, quantize x with the affine primitives + dense f32 linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "smoothquant",
  impl: (x, w, bias, opts) => w8a8ReferenceLinear(x, w, bias, opts, inverseEqualizationScale(w.storage)),
});
