/**
 * Configs that quantize activations at run time as well as weights. int8DynamicActivationInt8Weight
 * (torchao's int8_dynamic_activation_int8_weight) stores weights in the W8A8 layout, whose linear
 * (lib/dtypes/w8a8_layout.ts) quantizes each input row to int8 at every call.
 */
import type { QuantConfig } from "./quant_api.ts";
import { quantizeW8A8Weight, W8A8Layout } from "../dtypes/w8a8_layout.ts";

/**
 * W8A8 int8: weights symmetric int8 per output channel (f32 scales, no zero point); activations
 * symmetric int8 per row (token) in [-127, 127], quantized at each call with
 * s = max(max|x_row| / 127, 1e-5); y = s_x·s_w·Σ q_x·q_w + bias in x's dtype.
 */
export function int8DynamicActivationInt8Weight(): QuantConfig {
  const record = { name: "int8_dynamic_activation_int8_weight" };
  const layout = new W8A8Layout();
  return {
    record,
    skipReason: () => null,
    quantizeWeight: (w) => quantizeW8A8Weight(w, layout, {}, record),
  };
}
