/**
 * PlainLayout (torchao's PlainLayout): the quantized values as they are, one per element in the
 * target's storage dtype (i8 for int8, u8 for uint4), with scale and zero point beside them. Holds
 * any shape, block size, target and zero-point domain. Storage: int_data, scale, zero_point (absent
 * in the NONE domain). Its linear dequantizes with dequantizeAffine, then runs dense linear.
 */
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { qparamShape } from "../quantization/affine_args.ts";
import { dequantizeAffine, targetInfo, ZeroPointDomain } from "../quantization/primitives.ts";
import {
  dequantizeThenLinear, registerLayout, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

const FLOATS: readonly DType[] = ["f32", "f16", "bf16"];
const INTS: readonly DType[] = ["i8", "u8", "i32"];

/** The quantized values, scale and zero point stored as they are. */
export class PlainLayout implements Layout {
  readonly name = "plain";
  readonly options = {};

  unsupported(): string | null {
    return null;
  }

  pack(plain: PlainForm): LayoutStorage {
    const { data, scale, zeroPoint } = plain;
    return zeroPoint === null ? { int_data: data, scale } : { int_data: data, scale, zero_point: zeroPoint };
  }

  unpack(storage: LayoutStorage): PlainForm {
    return { data: storage.int_data!.clone(), scale: storage.scale!.clone(), zeroPoint: storage.zero_point?.clone() ?? null };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    return dequantizeAffine(storage.int_data!, p.blockSize, storage.scale!, storage.zero_point ?? null, p.targetDtype, {
      quantMin: p.quantMin, quantMax: p.quantMax, zeroPointDomain: p.zeroPointDomain, outputDtype: dtype,
    });
  }

  storageSpec(p: QuantParams) {
    const qshape = qparamShape(p.shape, p.blockSize, "PlainLayout");
    const spec = { int_data: { shape: p.shape, dtypes: [targetInfo(p.targetDtype).storage] }, scale: { shape: qshape, dtypes: FLOATS } };
    if (p.zeroPointDomain === ZeroPointDomain.NONE) return spec;
    return { ...spec, zero_point: { shape: qshape, dtypes: p.zeroPointDomain === ZeroPointDomain.INT ? INTS : FLOATS } };
  }
}

registerLayout("plain", () => new PlainLayout());
registerQuantizedLinear({
  name: "plain: dequantizeAffine + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "plain",
  impl: dequantizeThenLinear,
});
