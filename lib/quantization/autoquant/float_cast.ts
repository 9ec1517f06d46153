/**
 * The float_cast layout and floatCast config (torchao's Float32Tensor / BFloat16Tensor /
 * Float16Tensor, autoquant's FLOAT list): the weight kept as floats in a chosen dtype; linear casts
 * x (and the bias) to that dtype, runs dense linear, and casts the result back to x's dtype.
 */
import { invalid } from "../../errors.ts";
import type { DType } from "../../dtypes.ts";
import { full } from "../../creation.ts";
import type { Tensor } from "../../tensor.ts";
import { linear } from "../../ops/linear.ts";
import {
  AffineQuantizedTensor, registerLayout, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "../../dtypes/affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "../../dtypes/dispatch.ts";
import { ZeroPointDomain } from "../primitives.ts";
import type { QuantConfig } from "../quant_api.ts";

const FLOATS: readonly DType[] = ["f32", "f16", "bf16"];

/** A float weight stored as it is (storage "weight", in any float dtype); packing is the identity. */
export class FloatCastLayout implements Layout {
  readonly name = "float_cast";
  readonly options = {};

  unsupported(p: QuantParams): string | null {
    return p.targetDtype === "none" ? null : "it holds float weights (target none)";
  }

  pack(plain: PlainForm): LayoutStorage {
    plain.scale.dispose();
    plain.zeroPoint?.dispose();
    return { weight: plain.data };
  }

  unpack(storage: LayoutStorage): PlainForm {
    const w = storage.weight!;
    return { data: w.clone(), scale: full([1, 1], 1, { dtype: "f32", device: w.device }), zeroPoint: null };
  }

  dequantize(storage: LayoutStorage, _p: QuantParams, dtype: DType): Tensor {
    return storage.weight!.cast(dtype);
  }

  storageSpec(p: QuantParams) {
    return { weight: { shape: p.shape, dtypes: FLOATS } };
  }
}

/** The one instance (the layout has no options). */
export const FLOAT_CAST_LAYOUT = new FloatCastLayout();

/** The params of a float weight of `shape` whose original dtype is `dtype`. */
export function floatParams(shape: readonly number[], dtype: DType): QuantParams {
  return { shape, blockSize: shape, targetDtype: "none", zeroPointDomain: ZeroPointDomain.NONE, quantMin: 0, quantMax: 0, dtype };
}

/** A weight `w` (owned from now on) in the float_cast layout, with original dtype `dtype`. */
export function floatCastTensor(w: Tensor, dtype: DType, config: Record<string, unknown>): AffineQuantizedTensor {
  return new AffineQuantizedTensor(FLOAT_CAST_LAYOUT, { weight: w }, floatParams(w.shape, dtype), config);
}

/** Keeps each weight as floats in `dtype` (f32, f16 or bf16); linear computes in that dtype. */
export function floatCast(dtype: DType): QuantConfig {
  if (!FLOATS.includes(dtype)) throw invalid("floatCast", `dtype must be f32, f16 or bf16, not ${dtype}`);
  const record = { name: "float_cast", dtype };
  return { record, skipReason: () => null, quantizeWeight: (w) => floatCastTensor(w.cast(dtype), w.dtype, record) };
}

/** linear(x, w, bias) with x and bias cast to the stored weight's dtype and y cast back to x's. */
function castLinear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: { out?: Tensor }): Tensor {
  const weight = w.storage.weight!;
  if (weight.dtype === x.dtype) return linear(x, weight, bias, opts);
  using xc = x.cast(weight.dtype);
  using bc = bias?.cast(weight.dtype) ?? null;
  using y = linear(xc, weight, bc);
  if (opts.out === undefined) return y.cast(x.dtype);
  using back = y.cast(x.dtype);
  return opts.out.copyFrom(back);
}

registerLayout("float_cast", () => FLOAT_CAST_LAYOUT);
registerQuantizedLinear({
  name: "float_cast: cast x to the weight's dtype, dense linear, cast back",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (_x, w) => w.layout.name === "float_cast",
  impl: castLinear,
});
