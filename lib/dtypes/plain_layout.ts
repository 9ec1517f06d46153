/**
 * PlainLayout (torchao's PlainLayout): the quantized values as they are, one per element in the
 * target's storage dtype (i8 for int8, u8 for uint4), with scale and zero point beside them. Holds
 * any shape, block size, target and zero-point domain. Storage: int_data, scale, zero_point (absent
 * in the NONE domain). Its linear runs the int8 weight-only kernel (linearInt8WeightOnly) where
 * that computes it (see int8KernelApplies), else dequantizes with dequantizeAffine, then runs
 * dense linear.
 */
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { linearInt8WeightOnly } from "../ops/linear_int8.ts";
import { qparamShape } from "../quantization/affine_args.ts";
import { dequantizeAffine, targetInfo, ZeroPointDomain } from "../quantization/primitives.ts";
import {
  dequantizeThenLinear, quantTarget, registerLayout, type AffineQuantizedTensor, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

const FLOATS: readonly DType[] = ["f32", "f16", "bf16"];
const INTS: readonly DType[] = ["i8", "u8", "i32"];

/** The quantized values, scale and zero point stored as they are. */
export class PlainLayout implements Layout {
  readonly name = "plain";
  readonly options = {};

  unsupported(p: QuantParams): string | null {
    return p.targetDtype === "none" ? "it holds quantized values (not target none)" : null;
  }

  pack(plain: PlainForm): LayoutStorage {
    const { data, scale, zeroPoint } = plain;
    return zeroPoint === null ? { int_data: data, scale } : { int_data: data, scale, zero_point: zeroPoint };
  }

  unpack(storage: LayoutStorage): PlainForm {
    return { data: storage.int_data!.clone(), scale: storage.scale!.clone(), zeroPoint: storage.zero_point?.clone() ?? null };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    return dequantizeAffine(storage.int_data!, p.blockSize, storage.scale!, storage.zero_point ?? null, quantTarget(p, "PlainLayout"), {
      quantMin: p.quantMin, quantMax: p.quantMax, zeroPointDomain: p.zeroPointDomain, outputDtype: dtype,
    });
  }

  storageSpec(p: QuantParams) {
    const qshape = qparamShape(p.shape, p.blockSize, "PlainLayout");
    const spec = { int_data: { shape: p.shape, dtypes: [targetInfo(quantTarget(p, "PlainLayout")).storage] }, scale: { shape: qshape, dtypes: FLOATS } };
    if (p.zeroPointDomain === ZeroPointDomain.NONE) return spec;
    return { ...spec, zero_point: { shape: qshape, dtypes: p.zeroPointDomain === ZeroPointDomain.INT ? INTS : FLOATS } };
  }
}

/**
 * Whether linearInt8WeightOnly computes linear(x, w) for a plain weight w exactly as its
 * dequantization defines it: values stored as i8, a 2-D [N, K] weight with one scale per row
 * (blocks [1, K]), bf16 or f16 x ending in K, and zero point 0: the NONE domain, or the INT domain
 * of a weight made by int8WeightOnly (config record "int8_weight_only", whose symmetric mapping
 * makes every zero point 0). Other INT-domain weights take the fallback: their zero points are
 * not read here, since that would wait for the device on every call.
 */
function int8KernelApplies(x: Tensor, w: AffineQuantizedTensor): boolean {
  const { shape, blockSize, zeroPointDomain } = w.params;
  if (w.layout.name !== "plain" || w.storage.int_data!.dtype !== "i8") return false;
  if (shape.length !== 2 || blockSize[0] !== 1 || blockSize[1] !== shape[1]) return false;
  if ((x.dtype !== "bf16" && x.dtype !== "f16") || x.shape.at(-1) !== shape[1]) return false;
  return zeroPointDomain === ZeroPointDomain.NONE || (zeroPointDomain === ZeroPointDomain.INT && w.config?.name === "int8_weight_only");
}

registerLayout("plain", () => new PlainLayout());
registerQuantizedLinear({
  name: "plain: int8 weight-only kernel",
  priority: QuantizedLinearPriority.KERNEL,
  condition: int8KernelApplies,
  impl: (x, w, bias, opts) => {
    const scale = w.storage.scale!; // [N, 1] in the weight's dtype
    using cast = scale.dtype === x.dtype ? null : scale.cast(x.dtype);
    return linearInt8WeightOnly(x, w.storage.int_data!, (cast ?? scale).reshape(w.shape[0]!), bias, opts);
  },
});
registerQuantizedLinear({
  name: "plain: dequantizeAffine + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "plain",
  impl: dequantizeThenLinear,
});
