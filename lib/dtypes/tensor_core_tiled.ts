/**
 * The tensor-core-tiled int4 layout: PyTorch's tinygemm packing (torch.ops.aten.
 * _convert_weight_to_int4pack), byte for byte, so int4 weights packed by PyTorch or torchao load
 * as they are. Plain form: uint4 values q [N, K] stored one per byte (u8) with bf16 scales and
 * zeros [N, K / groupSize] in the FLOAT zero-point domain (torchao's int4_weight_only). Packed
 * form: int32 [N/8, K/(innerKTiles·16), 32, innerKTiles/2] plus scales_and_zeros bf16
 * [K / groupSize, N, 2]. The word layout is documented in include/tao.h. TensorCoreTiledLayout
 * (at the end) is the layout built on these functions, with its dispatch entries.
 */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";
import { CopyKind } from "../context.ts";
import { ZeroPointDomain } from "../quantization/primitives.ts";
import {
  dequantizeThenLinear, disposePlain, registerLayout, type Layout, type LayoutStorage, type PlainForm, type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";
import { linearInt4TensorCoreTiled } from "../ops/linear_int4.ts";

export type InnerKTiles = 2 | 4 | 8;

function checkPlain(op: string, q: Tensor, innerKTiles: number): [number, number] {
  if (q.dtype !== "u8" || q.ndim !== 2) throw invalid(op, `q must be a u8 [N, K] tensor, not ${q.dtype} [${q.shape}]`);
  if (![2, 4, 8].includes(innerKTiles)) throw invalid(op, `innerKTiles=${innerKTiles} must be 2, 4 or 8`);
  return [q.shape[0]!, q.shape[1]!];
}

/** Shape of the packed int32 tensor for an N × K weight. */
export function int4TiledShape(n: number, k: number, innerKTiles: InnerKTiles): number[] {
  return [n / 8, k / (innerKTiles * 16), 32, innerKTiles / 2];
}

/** [N, K, innerKTiles] of a packed weight (TaoError naming `op` unless packed is i32 [N/8, K/(T·16), 32, T/2]). */
export function int4TiledGeometry(op: string, packed: Tensor): [number, number, InnerKTiles] {
  const [nt, ko, lanes, half] = packed.shape;
  if (packed.dtype !== "i32" || packed.ndim !== 4 || lanes !== 32 || ![1, 2, 4].includes(half!)) {
    throw invalid(op, `packed must be i32 [N/8, K/(T*16), 32, T/2] with T in 2, 4, 8, not ${packed.dtype} [${packed.shape}]`);
  }
  const tiles = (half! * 2) as InnerKTiles;
  return [nt! * 8, ko! * tiles * 16, tiles];
}

/** Packs plain uint4 values q (u8 [N, K], N % 8 == 0, K % (innerKTiles·16) == 0) on q's device. */
export function packInt4TensorCoreTiled(q: Tensor, innerKTiles: InnerKTiles = 8): Tensor {
  const op = "packInt4TensorCoreTiled";
  const [n, k] = checkPlain(op, q, innerKTiles);
  const src = q.ptr(op);
  return produce("i32", int4TiledShape(n, k, innerKTiles), q.device, op, (out) => {
    check(native.tao_pack_int4_tensor_core_tiled(q.context.handle(op), src, out.ptr(op), n, k, innerKTiles), op);
  });
}

/** The plain uint4 values (u8 [N, K]) of a packed weight. */
export function unpackInt4TensorCoreTiled(packed: Tensor): Tensor {
  const op = "unpackInt4TensorCoreTiled";
  const [n, k, tiles] = int4TiledGeometry(op, packed);
  const src = packed.ptr(op);
  return produce("u8", [n, k], packed.device, op, (out) => {
    check(native.tao_unpack_int4_tensor_core_tiled(packed.context.handle(op), src, out.ptr(op), n, k, tiles), op);
  });
}

/**
 * bf16 [N, K] weight of a packed int4 weight: bf16((q − 8)·scale + zero) with one f32 fused
 * multiply-add, as tinygemm dequantizes (and as dequantizeAffine in the FLOAT domain).
 */
export function dequantizeInt4TensorCoreTiled(packed: Tensor, scalesAndZeros: Tensor, groupSize: number): Tensor {
  const op = "dequantizeInt4TensorCoreTiled";
  const [n, k, tiles] = int4TiledGeometry(op, packed);
  commonDevice(op, [packed, scalesAndZeros]);
  const want = [k / groupSize, n, 2];
  if (scalesAndZeros.dtype !== "bf16" || scalesAndZeros.shape.join() !== want.join()) {
    throw invalid(op, `scalesAndZeros must be bf16 [${want}], not ${scalesAndZeros.dtype} [${scalesAndZeros.shape}]`);
  }
  const src = packed.ptr(op), sz = scalesAndZeros.ptr(op);
  return produce("bf16", [n, k], packed.device, op, (out) => {
    check(native.tao_dequantize_int4_tensor_core_tiled(packed.context.handle(op), src, sz, out.ptr(op), n, k, tiles, groupSize), op);
  });
}

/**
 * torchao's pack_tinygemm_scales_and_zeros: scales and zeros (bf16 [N, G]) interleaved and
 * transposed to [G, N, 2] (out[g][n] = [scale[n][g], zero[n][g]]).
 */
export function packTinygemmScalesAndZeros(scales: Tensor, zeros: Tensor): Tensor {
  const op = "packTinygemmScalesAndZeros";
  commonDevice(op, [scales, zeros]);
  if (scales.dtype !== "bf16" || zeros.dtype !== "bf16" || scales.ndim !== 2 || scales.shape.join() !== zeros.shape.join()) {
    throw invalid(op, `scales and zeros must be bf16 [N, G] of one shape, not [${scales.shape}] and [${zeros.shape}]`);
  }
  const [n, g] = [scales.shape[0]!, scales.shape[1]!];
  // Stack [scales; zeros] as [2, N, G], then gather out[g][n][c] = stack[c][n][g].
  using stack = produce("bf16", [2, n, g], scales.device, op, (s) => {
    const bytes = n * g * 2;
    s.context.copy(s.ptr(op), scales.ptr(op), bytes, CopyKind.D2D);
    s.context.copy(s.ptr(op, n * g), zeros.ptr(op), bytes, CopyKind.D2D);
  });
  const src = stack.ptr(op);
  return produce("bf16", [g, n, 2], scales.device, op, (out) => {
    const shape = BigInt64Array.of(BigInt(g), BigInt(n), 2n), strides = BigInt64Array.of(1n, BigInt(g), BigInt(n * g));
    check(native.tao_strided_copy(scales.context.handle(op), src, out.ptr(op), dtypeCode("bf16"), 3, shape, strides), op);
  });
}

/** Group sizes tinygemm's dequantization supports. */
export const TINYGEMM_GROUP_SIZES: readonly number[] = [32, 64, 128, 256];

/**
 * torchao's TensorCoreTiledLayout(inner_k_tiles): uint4 weights packed by packInt4TensorCoreTiled
 * with scales and zeros packed by packTinygemmScalesAndZeros. Holds 2-D [N, K] weights quantized
 * to uint4 [0, 15] in the FLOAT zero-point domain with bf16 scales and zeros, per-group blocks
 * [1, g] with g in 32, 64, 128, 256, N % 8 == 0 and K % (innerKTiles·16) == 0. Storage:
 * packed_weight (i32 [N/8, K/(innerKTiles·16), 32, innerKTiles/2]) and scale_and_zero (bf16
 * [K/g, N, 2]). Its values are tinygemm's bf16 dequantization (dequantizeInt4TensorCoreTiled);
 * dequantize to f32 or f16 casts those. Its linear runs the fused kernel (linearInt4TensorCoreTiled)
 * for bf16 and f16 x; f32 x dequantizes, then runs dense linear.
 */
export class TensorCoreTiledLayout implements Layout {
  readonly name = "tensor_core_tiled";

  constructor(readonly innerKTiles: InnerKTiles = 8) {
    if (![2, 4, 8].includes(innerKTiles)) throw invalid("TensorCoreTiledLayout", `innerKTiles=${innerKTiles} must be 2, 4 or 8`);
  }

  get options(): { innerKTiles: InnerKTiles } {
    return { innerKTiles: this.innerKTiles };
  }

  unsupported(p: QuantParams): string | null {
    const [n, k] = p.shape as [number, number], group = p.blockSize[1]!, kTile = this.innerKTiles * 16;
    if (p.shape.length !== 2) return `it holds 2-D weights, not [${p.shape}]`;
    if (p.targetDtype !== "uint4" || p.quantMin !== 0 || p.quantMax !== 15) return "it holds uint4 values in [0, 15] only";
    if (p.zeroPointDomain !== ZeroPointDomain.FLOAT) return "it needs the FLOAT zero-point domain (tinygemm's (q - 8)·s + z)";
    if (p.blockSize[0] !== 1 || !TINYGEMM_GROUP_SIZES.includes(group)) {
      return `it needs blocks [1, g] with g in ${TINYGEMM_GROUP_SIZES.join(", ")}, not [${p.blockSize}]`;
    }
    if (n % 8 !== 0) return `N = ${n} is not a multiple of 8`;
    if (k % kTile !== 0) return `K = ${k} is not a multiple of innerKTiles·16 = ${kTile}`;
    return null;
  }

  pack(plain: PlainForm): LayoutStorage {
    const packed = packInt4TensorCoreTiled(plain.data, this.innerKTiles);
    let scaleAndZero: Tensor;
    try {
      scaleAndZero = packTinygemmScalesAndZeros(plain.scale, plain.zeroPoint!);
    } catch (e) {
      packed.dispose();
      throw e;
    }
    disposePlain(plain);
    return { packed_weight: packed, scale_and_zero: scaleAndZero };
  }

  unpack(storage: LayoutStorage): PlainForm {
    const [groups, n] = storage.scale_and_zero!.shape as [number, number];
    using planes = storage.scale_and_zero!.transpose(0, 2); // [2, N, G]: the scales, then the zeros
    const parts: Tensor[] = [];
    try {
      parts.push(unpackInt4TensorCoreTiled(storage.packed_weight!));
      for (const i of [0, 1]) parts.push(planes.slice(0, i, i + 1).reshape(n, groups));
    } catch (e) {
      for (const t of parts) t.dispose();
      throw e;
    }
    return { data: parts[0]!, scale: parts[1]!, zeroPoint: parts[2]! };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    const w = dequantizeInt4TensorCoreTiled(storage.packed_weight!, storage.scale_and_zero!, p.blockSize[1]!);
    if (dtype === "bf16") return w;
    using bf16 = w;
    return bf16.cast(dtype);
  }

  storageSpec(p: QuantParams) {
    const [n, k] = p.shape as [number, number];
    return {
      packed_weight: { shape: int4TiledShape(n, k, this.innerKTiles), dtypes: ["i32"] as DType[] },
      scale_and_zero: { shape: [k / p.blockSize[1]!, n, 2], dtypes: ["bf16"] as DType[] },
    };
  }
}

registerLayout("tensor_core_tiled", (options) => new TensorCoreTiledLayout(options.innerKTiles as InnerKTiles));
registerQuantizedLinear({
  name: "tensor_core_tiled: fused int4 kernel",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x, w) => w.layout.name === "tensor_core_tiled" && (x.dtype === "bf16" || x.dtype === "f16") && x.shape.at(-1) === w.shape[1],
  impl: (x, w, bias, opts) =>
    linearInt4TensorCoreTiled(x, w.storage.packed_weight!, w.storage.scale_and_zero!, w.params.blockSize[1]!, bias, opts),
});
registerQuantizedLinear({
  name: "tensor_core_tiled: tinygemm dequantize (bf16) + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "tensor_core_tiled",
  impl: dequantizeThenLinear,
});
