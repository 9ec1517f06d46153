/**
 * Float8 quantization configs (torchao's float8_weight_only and
 * float8_dynamic_activation_float8_weight): e4m3 weights with absmax f32 scales from
 * quantizeFloat8, stored in the float8 layout (lib/dtypes/float8_layout.ts), whose dispatch entries
 * run them; the config record says which entry.
 */
import { invalid } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { AffineQuantizedTensor, quantParams } from "../dtypes/affine_quantized_tensor.ts";
import { Float8Layout, FLOAT8_DYNAMIC_RECORD } from "../dtypes/float8_layout.ts";
import { quantizeFloat8 } from "../ops/linear_float8.ts";
import type { QuantConfig } from "./quant_api.ts";
import { MappingType, ZeroPointDomain } from "./primitives.ts";

/** A [N, K] weight quantized to e4m3 per row or per tensor, in the float8 layout. */
function float8Weight(w: Tensor, rowwise: boolean, record: Record<string, unknown>): AffineQuantizedTensor {
  if (w.ndim !== 2) throw invalid("float8 quantization", `weight must be [N, K], not [${w.shape}]`);
  const [n, k] = w.shape as [number, number];
  const params = quantParams(w, {
    mappingType: MappingType.SYMMETRIC, blockSize: rowwise ? [1, k] : [n, k], targetDtype: "float8_e4m3fn",
    zeroPointDomain: ZeroPointDomain.NONE,
  });
  const { q, scale } = quantizeFloat8(w, { rowwise }); // scale [N, 1] or [1, 1]: the layout's shape
  return AffineQuantizedTensor.fromPlain({ data: q, scale, zeroPoint: null }, params, new Float8Layout(), record);
}

/**
 * torchao's float8_weight_only: e4m3 weight per output channel, s = max(amax / 448, 1e-12) (f32),
 * activations stay in their dtype; linear dequantizes the weight (q · s, rounded to x's dtype) and
 * runs dense linear.
 */
export function float8WeightOnly(): QuantConfig {
  const record = { name: "float8_weight_only" };
  return { record, skipReason: () => null, quantizeWeight: (w) => float8Weight(w, true, record) };
}

/** Options of float8DynamicActivationFloat8Weight. */
export interface Float8DynamicOptions {
  /** "row" (default; torchao's PerRow): weights per output channel, activations per token; "tensor": one scale each. */
  granularity?: "tensor" | "row";
  /** The FP8 tensor cores' fast accumulation on CUDA (torch's use_fast_accum; default false). */
  fastAccum?: boolean;
}

/**
 * torchao's float8_dynamic_activation_float8_weight: e4m3 weights quantized once (per row or per
 * tensor), activations quantized to e4m3 on every call with the same granularity, then the scaled
 * FP8 matmul (linearFloat8: cuBLASLt on CUDA, compute capability 8.9+). y in x's dtype.
 */
export function float8DynamicActivationFloat8Weight(opts: Float8DynamicOptions = {}): QuantConfig {
  const op = "float8DynamicActivationFloat8Weight";
  const { granularity = "row", fastAccum = false } = opts;
  if (granularity !== "row" && granularity !== "tensor") throw invalid(op, `granularity must be "tensor" or "row", not ${JSON.stringify(granularity)}`);
  if (typeof fastAccum !== "boolean") throw invalid(op, `fastAccum must be a boolean, not ${JSON.stringify(fastAccum)}`);
  const record = { name: FLOAT8_DYNAMIC_RECORD, granularity, fastAccum };
  return { record, skipReason: () => null, quantizeWeight: (w) => float8Weight(w, granularity === "row", record) };
}
