/** Element types: names ↔ TAO_* codes, byte sizes, host TypedArray types and float limits. */
import * as C from "./native/constants.ts";
import { invalid } from "./errors.ts";

export type DType = "f32" | "f16" | "bf16" | "f8e4m3fn" | "f8e5m2" | "i8" | "u8" | "i32";

export type HostArray = Float32Array | Uint16Array | Uint8Array | Int8Array | Int32Array;
type HostArrayConstructor =
  | Float32ArrayConstructor
  | Uint16ArrayConstructor
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int32ArrayConstructor;

interface DTypeInfo {
  code: number;
  bytes: number;
  host: HostArrayConstructor;
  isFloat: boolean;
}

const INFO: Record<DType, DTypeInfo> = {
  f32: { code: C.TAO_F32, bytes: 4, host: Float32Array, isFloat: true },
  f16: { code: C.TAO_F16, bytes: 2, host: Uint16Array, isFloat: true },
  bf16: { code: C.TAO_BF16, bytes: 2, host: Uint16Array, isFloat: true },
  f8e4m3fn: { code: C.TAO_F8E4M3FN, bytes: 1, host: Uint8Array, isFloat: true },
  f8e5m2: { code: C.TAO_F8E5M2, bytes: 1, host: Uint8Array, isFloat: true },
  i8: { code: C.TAO_I8, bytes: 1, host: Int8Array, isFloat: false },
  u8: { code: C.TAO_U8, bytes: 1, host: Uint8Array, isFloat: false },
  i32: { code: C.TAO_I32, bytes: 4, host: Int32Array, isFloat: false },
};

/** All dtype names, in TAO_* code order. */
export const DTYPES = Object.keys(INFO) as DType[];

function info(dtype: DType): DTypeInfo {
  const i = INFO[dtype];
  if (i === undefined) throw invalid("dtype", `unknown dtype ${JSON.stringify(dtype)}`);
  return i;
}

/** TAO_* code of a dtype. */
export const dtypeCode = (dtype: DType): number => info(dtype).code;
/** Bytes per element. */
export const dtypeSize = (dtype: DType): number => info(dtype).bytes;
/** TypedArray type holding the dtype's raw bits on the host (f16/bf16 as Uint16Array, f8 as Uint8Array). */
export const hostArrayType = (dtype: DType): HostArrayConstructor => info(dtype).host;
/** True for the floating-point dtypes (f32, f16, bf16, f8*). */
export const isFloat = (dtype: DType): boolean => info(dtype).isFloat;

export interface FInfo {
  /** Difference between 1 and the next representable value. */
  eps: number;
  /** Largest finite value. */
  max: number;
}

const FINFO: Partial<Record<DType, FInfo>> = {
  f32: { eps: 2 ** -23, max: (2 - 2 ** -23) * 2 ** 127 },
  f16: { eps: 2 ** -10, max: 65504 },
  bf16: { eps: 2 ** -7, max: (2 - 2 ** -7) * 2 ** 127 },
  f8e4m3fn: { eps: 2 ** -3, max: 448 },
  f8e5m2: { eps: 2 ** -2, max: 57344 },
};

/** Limits of a float dtype, as torch.finfo. */
export function finfo(dtype: DType): FInfo {
  const f = FINFO[dtype];
  if (f === undefined) throw invalid("finfo", `${dtype} is not a float dtype`);
  return f;
}
