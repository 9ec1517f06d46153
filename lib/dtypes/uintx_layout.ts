/**
 * UintxLayout: a [N, K] weight of 1- to 7-bit unsigned values (torchao's uintx), asymmetric affine per
 * group of 32, 64, 128 or 256 along K, packed densely — exactly `bits` bits a value — in tiles of 32 rows
 * × 128 K laid out for the CUDA kernel (include/tao.h, tao_uintx_pack: each lane's 16-byte loads are its
 * tensor-core fragments; a chunk of 32 values is `bits` 32-bit words, 16 values in each half-word so one
 * shift and mask yields a pair, the values that do not fill a half evenly spread over the spare bits).
 * As QuantParams: target uint8 with range [0, 2^bits − 1], blocks [1, groupSize], zero-point domain INT
 * (torchao's uintx: w = (q − z)·s, integer z) or FLOAT (w = (q − 2^(bits−1))·s + z; HQQ).
 * Plain form: data = the values (u8 [N, K]), scale bf16 [N, K / g], zero point i32 (INT) or bf16 (FLOAT).
 * Storage: packed (u8 tiles), scale and zero_point (both bf16 [N, K / g]). Linear:
 *   KERNEL   linearUintx (weight decoded on the fly; CUDA: fused tensor-core kernel for M <= 8, else
 *            dequantize + cuBLASLt);
 *   FALLBACK dequantize to x's dtype, dense linear.
 */
import { invalid } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { dequantizeUintx, linearUintx, UINTX_BITS, UINTX_GROUP_SIZES, uintxPack, uintxPackedShape, uintxUnpack, type UintxWeight } from "../ops/linear_uintx.ts";
import { ZeroPointDomain } from "../quantization/primitives.ts";
import {
  dequantizeThenLinear, registerLayout, type AffineQuantizedTensor, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

/** The bit width of a uintx weight (its range is [0, 2^bits − 1]). */
export function uintxBits(p: QuantParams): number {
  return Math.log2(p.quantMax + 1);
}

/** The ops' view of a uintx storage. */
function weightOf(storage: LayoutStorage, p: QuantParams): UintxWeight {
  const domain = p.zeroPointDomain === ZeroPointDomain.INT ? ZeroPointDomain.INT : ZeroPointDomain.FLOAT;
  return { packed: storage.packed!, scale: storage.scale!, zero: storage.zero_point!, bits: uintxBits(p), groupSize: p.blockSize[1]!, domain };
}

/** Values of 1 to 7 bits packed densely for the uintx kernels, with bf16 scale and zero point per group. */
export class UintxLayout implements Layout {
  readonly name = "uintx";
  readonly options = {};

  unsupported(p: QuantParams): string | null {
    if (p.targetDtype !== "uint8" || p.quantMin !== 0 || !UINTX_BITS.includes(uintxBits(p))) {
      return `target ${p.targetDtype} [${p.quantMin}, ${p.quantMax}]: uint8 with range [0, 2^bits - 1], bits 1..7 only`;
    }
    if (p.zeroPointDomain !== ZeroPointDomain.INT && p.zeroPointDomain !== ZeroPointDomain.FLOAT) return "zero points must be INT or FLOAT";
    if (p.shape.length !== 2) return `a 2-D [N, K] weight only, not [${p.shape}]`;
    if (p.blockSize[0] !== 1 || !UINTX_GROUP_SIZES.includes(p.blockSize[1]!)) return `blocks [${p.blockSize}]: [1, ${UINTX_GROUP_SIZES.join(" | ")}] only`;
    return null;
  }

  pack(plain: PlainForm, p: QuantParams): LayoutStorage {
    const op = "UintxLayout.pack";
    const { data, scale, zeroPoint } = plain;
    if (scale.dtype !== "bf16") throw invalid(op, `scales must be bf16 (the layout stores bf16), not ${scale.dtype}`);
    if (zeroPoint === null) throw invalid(op, "uintx weights have zero points");
    const isInt = p.zeroPointDomain === ZeroPointDomain.INT;
    if (isInt && zeroPoint.toArray().some((z) => !(Number.isInteger(z) && z >= 0 && z <= p.quantMax))) {
      throw invalid(op, `INT zero points must be integers in [0, ${p.quantMax}]`);
    }
    if (!isInt && zeroPoint.dtype !== "bf16") throw invalid(op, `FLOAT zero points must be bf16, not ${zeroPoint.dtype}`);
    const zero = isInt ? zeroPoint.cast("bf16") : zeroPoint; // integers up to 127: exact in bf16
    let packed: Tensor;
    try {
      packed = uintxPack(data, uintxBits(p));
    } catch (e) {
      if (zero !== zeroPoint) zero.dispose();
      throw e;
    }
    data.dispose();
    if (zero !== zeroPoint) zeroPoint.dispose();
    return { packed, scale, zero_point: zero };
  }

  unpack(storage: LayoutStorage, p: QuantParams): PlainForm {
    const { packed, scale, zero_point: zero } = storage as Record<string, Tensor>;
    const data = uintxUnpack(packed!, p.shape[0]!, p.shape[1]!, uintxBits(p));
    return { data, scale: scale!.clone(), zeroPoint: p.zeroPointDomain === ZeroPointDomain.INT ? zero!.cast("i32") : zero!.clone() };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    return dequantizeUintx(weightOf(storage, p), dtype);
  }

  storageSpec(p: QuantParams) {
    const [n, k] = p.shape as [number, number], groups = [n, k / p.blockSize[1]!];
    return {
      packed: { shape: uintxPackedShape(n, k, uintxBits(p)), dtypes: ["u8"] as DType[] },
      scale: { shape: groups, dtypes: ["bf16"] as DType[] },
      zero_point: { shape: groups, dtypes: ["bf16"] as DType[] },
    };
  }
}

registerLayout("uintx", () => new UintxLayout());
registerQuantizedLinear({
  name: "uintx: linearUintx (weight decoded on the fly)",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x: Tensor, w: AffineQuantizedTensor) => w.layout.name === "uintx" && x.shape.at(-1) === w.shape[1],
  impl: (x, w, bias, opts) => linearUintx(x, weightOf(w.storage, w.params), bias, opts),
});
registerQuantizedLinear({
  name: "uintx: dequantize + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "uintx",
  impl: dequantizeThenLinear,
});
