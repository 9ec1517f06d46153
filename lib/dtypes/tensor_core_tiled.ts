/**
 * The tensor-core-tiled int4 layout: PyTorch's tinygemm packing (torch.ops.aten.
 * _convert_weight_to_int4pack), byte for byte, so int4 weights packed by PyTorch or torchao load
 * as they are. Plain form: uint4 values q [N, K] stored one per byte (u8) with bf16 scales and
 * zeros [N, K / groupSize] in the FLOAT zero-point domain (torchao's int4_weight_only). Packed
 * form: int32 [N/8, K/(innerKTiles·16), 32, innerKTiles/2] plus scales_and_zeros bf16
 * [K / groupSize, N, 2]. The word layout is documented in include/tao.h.
 */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";
import { CopyKind } from "../context.ts";

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

function plainSize(op: string, packed: Tensor): [number, number, InnerKTiles] {
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
  const [n, k, tiles] = plainSize(op, packed);
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
  const [n, k, tiles] = plainSize(op, packed);
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
