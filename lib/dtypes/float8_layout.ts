/**
 * Float8Layout: an e4m3 weight [N, K] (f8e4m3fn) with f32 absmax scales, per row (blocks [1, K],
 * scale [N, 1]) or per tensor (blocks [N, K], scale [1, 1]), as quantizeFloat8 makes them (torchao's
 * Float8Layout / float8 AQT). Storage: float8_data, scale. Dequantization is q · s (dequantizeAffine
 * with the float8 target). Linear:
 *   KERNEL   weights of float8DynamicActivationFloat8Weight (config record
 *            "float8_dynamic_activation_float8_weight"): x quantized per call (row-wise or per
 *            tensor as the record's granularity says), then linearFloat8 (cuBLASLt FP8 on CUDA);
 *   FALLBACK every other float8 weight (float8WeightOnly): dequantize to x's dtype, dense linear.
 */
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { linearDynamicFloat8 } from "../ops/linear_float8.ts";
import { qparamShape } from "../quantization/affine_args.ts";
import { dequantizeAffine, ZeroPointDomain } from "../quantization/primitives.ts";
import {
  dequantizeThenLinear, quantTarget, registerLayout, type AffineQuantizedTensor, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

/** The config record name whose weights run the dynamic-activation kernel entry. */
export const FLOAT8_DYNAMIC_RECORD = "float8_dynamic_activation_float8_weight";

/** An e4m3 weight with f32 scales, per row or per tensor. */
export class Float8Layout implements Layout {
  readonly name = "float8";
  readonly options = {};

  unsupported(p: QuantParams): string | null {
    if (p.targetDtype !== "float8_e4m3fn") return `target ${p.targetDtype}: float8_e4m3fn only`;
    if (p.zeroPointDomain !== ZeroPointDomain.NONE) return "zero points must be NONE";
    if (p.shape.length !== 2) return `a 2-D [N, K] weight only, not [${p.shape}]`;
    const [n, k] = p.shape as [number, number];
    const rowwise = p.blockSize[0] === 1 && p.blockSize[1] === k, tensor = p.blockSize[0] === n && p.blockSize[1] === k;
    if (!rowwise && !tensor) return `blocks [${p.blockSize}]: per row [1, ${k}] or per tensor [${n}, ${k}] only`;
    return null;
  }

  pack(plain: PlainForm): LayoutStorage {
    if (plain.zeroPoint !== null) throw new Error("Float8Layout.pack: float8 weights have no zero point");
    return { float8_data: plain.data, scale: plain.scale };
  }

  unpack(storage: LayoutStorage): PlainForm {
    return { data: storage.float8_data!.clone(), scale: storage.scale!.clone(), zeroPoint: null };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    return dequantizeAffine(storage.float8_data!, p.blockSize, storage.scale!, null, quantTarget(p, "Float8Layout"), {
      quantMin: p.quantMin, quantMax: p.quantMax, zeroPointDomain: ZeroPointDomain.NONE, outputDtype: dtype,
    });
  }

  storageSpec(p: QuantParams) {
    return {
      float8_data: { shape: p.shape, dtypes: ["f8e4m3fn"] as DType[] },
      scale: { shape: qparamShape(p.shape, p.blockSize, "Float8Layout"), dtypes: ["f32"] as DType[] },
    };
  }
}

/** Whether the dynamic-activation kernel computes linear(x, w): a float8DynamicActivationFloat8Weight weight, float x ending in K. */
function dynamicApplies(x: Tensor, w: AffineQuantizedTensor): boolean {
  return w.layout.name === "float8" && w.config?.name === FLOAT8_DYNAMIC_RECORD && ["f32", "f16", "bf16"].includes(x.dtype) &&
    x.shape.at(-1) === w.shape[1];
}

registerLayout("float8", () => new Float8Layout());
registerQuantizedLinear({
  name: "float8: dynamic activation + float8 matmul",
  priority: QuantizedLinearPriority.KERNEL,
  condition: dynamicApplies,
  impl: (x, w, bias, opts) => {
    const scale = w.storage.scale!;
    return linearDynamicFloat8(x, w.storage.float8_data!, scale.reshape(scale.numel), bias, {
      out: opts.out, rowwise: w.config?.granularity !== "tensor", fastAccum: w.config?.fastAccum === true,
    });
  },
});
registerQuantizedLinear({
  name: "float8: dequantizeAffine + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "float8",
  impl: dequantizeThenLinear,
});
