/**
 * Nf4Layout: a [N, K] weight in QLoRA's NF4 (lib/ops/nf4.ts, include/tao.h): 4-bit codes into 16
 * normal-float levels per block of 64 along K, the block absmax double-quantized to 8 bits in groups
 * of 256 blocks. As QuantParams: target uint4 (codes 0..15), blocks [1, 64], zero-point domain NONE.
 * Plain form: data = the codes (u8 [N, K]), scale = the block absmax (f32 [N, K/64]); pack()
 * double-quantizes the absmax, unpack() gives the double-quantized scales back. Storage: packed,
 * qscale, scale2, offset. Linear:
 *   KERNEL   linearNf4 (weight decoded on the fly; CUDA: a fused tensor-core kernel for M <= 32, levels
 *            rounded to x's dtype, else dequantize + cuBLASLt);
 *   FALLBACK dequantize to x's dtype, dense linear.
 */
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { dequantizeNf4, linearNf4, NF4_BLOCK, nf4Pack, nf4Shapes, nf4Unpack, type Nf4Packed } from "../ops/nf4.ts";
import { ZeroPointDomain } from "../quantization/primitives.ts";
import {
  dequantizeThenLinear, registerLayout, type AffineQuantizedTensor, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

/** The packed tensors of an nf4 storage. */
function packedOf(storage: LayoutStorage): Nf4Packed {
  return { packed: storage.packed!, qscale: storage.qscale!, scale2: storage.scale2!, offset: storage.offset! };
}

/** NF4 codes with double-quantized block absmax, packed two codes a byte. */
export class Nf4Layout implements Layout {
  readonly name = "nf4";
  readonly options = {};

  unsupported(p: QuantParams): string | null {
    if (p.targetDtype !== "uint4" || p.quantMin !== 0 || p.quantMax !== 15) return `target ${p.targetDtype} [${p.quantMin}, ${p.quantMax}]: uint4 codes 0..15 only`;
    if (p.zeroPointDomain !== ZeroPointDomain.NONE) return "zero points must be NONE";
    if (p.shape.length !== 2) return `a 2-D [N, K] weight only, not [${p.shape}]`;
    if (p.blockSize[0] !== 1 || p.blockSize[1] !== NF4_BLOCK) return `blocks [${p.blockSize}]: [1, ${NF4_BLOCK}] only`;
    return null;
  }

  pack(plain: PlainForm): LayoutStorage {
    if (plain.zeroPoint !== null) throw new Error("Nf4Layout.pack: NF4 weights have no zero point");
    const packed = nf4Pack({ codes: plain.data, absmax: plain.scale });
    plain.data.dispose();
    plain.scale.dispose();
    return { ...packed };
  }

  unpack(storage: LayoutStorage): PlainForm {
    const { codes, absmax } = nf4Unpack(packedOf(storage));
    return { data: codes, scale: absmax, zeroPoint: null };
  }

  dequantize(storage: LayoutStorage, _p: QuantParams, dtype: DType): Tensor {
    return dequantizeNf4(packedOf(storage), dtype);
  }

  storageSpec(p: QuantParams) {
    const s = nf4Shapes(p.shape[0]!, p.shape[1]!);
    return {
      packed: { shape: s.packed, dtypes: ["u8"] as DType[] },
      qscale: { shape: s.qscale, dtypes: ["i8"] as DType[] },
      scale2: { shape: s.scale2, dtypes: ["f32"] as DType[] },
      offset: { shape: s.offset, dtypes: ["f32"] as DType[] },
    };
  }
}

registerLayout("nf4", () => new Nf4Layout());
registerQuantizedLinear({
  name: "nf4: linearNf4 (weight decoded on the fly)",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x: Tensor, w: AffineQuantizedTensor) => w.layout.name === "nf4" && x.shape.at(-1) === w.shape[1],
  impl: (x, w, bias, opts) => linearNf4(x, packedOf(w.storage), bias, opts),
});
registerQuantizedLinear({
  name: "nf4: dequantize + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "nf4",
  impl: dequantizeThenLinear,
});
