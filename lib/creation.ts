/** Tensor creation: zeros, full, fromArray, rand, randn (empty lives in tensor.ts). */
import * as C from "./native/constants.ts";
import { native } from "./native/index.ts";
import { check, invalid } from "./errors.ts";
import { dtypeCode, hostArrayType, isFloat, type DType, type HostArray } from "./dtypes.ts";
import { Context } from "./context.ts";
import { HostStorage } from "./storage.ts";
import { empty, produce, shapeNumel, Tensor } from "./tensor.ts";

export interface CreateOptions {
  dtype?: DType;
  device?: string;
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  const t = empty(shape, opts);
  if (t.device !== "cpu" && t.nbytes > 0) t.context.memset(t.ptr("zeros"), 0, t.nbytes);
  return t;
}

/** A tensor filled with `value` (converted as tao_cast does, from f64 through f32). */
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const op = "full";
  return produce(opts.dtype ?? "f32", shape, opts.device ?? "cpu", op, (t) => {
    if (t.numel > 0) check(native.tao_fill(t.context.handle(op), t.ptr(op), dtypeCode(t.dtype), t.numel, value), op);
  });
}

const INFERRED: [abstract new (...args: never[]) => unknown, DType][] = [
  [Float32Array, "f32"],
  [Int8Array, "i8"],
  [Uint8Array, "u8"],
  [Int32Array, "i32"],
];

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  i8: [-128, 127],
  u8: [0, 255],
  i32: [-(2 ** 31), 2 ** 31 - 1],
};

/** Host storage holding `values` as `dtype`: floats through f32 (then tao_cast), integers checked exactly. */
function convert(values: ArrayLike<number>, dtype: DType, op: string): HostArray {
  const range = INT_RANGE[dtype];
  if (range !== undefined) {
    const bad = Array.prototype.find.call(values, (v: number) => !Number.isInteger(v) || v < range[0] || v > range[1]);
    if (bad !== undefined) throw invalid(op, `${bad} is not a ${dtype} value`);
    return new (hostArrayType(dtype))(values);
  }
  const f32 = Float32Array.from(values);
  if (dtype === "f32") return f32;
  const out = new (hostArrayType(dtype))(f32.length);
  if (f32.length > 0) check(native.tao_cast(Context.get("cpu").handle(op), f32, C.TAO_F32, out, dtypeCode(dtype), f32.length), op);
  return out;
}

/**
 * A tensor from values. A TypedArray of the dtype's host type (see hostArrayType: Float32Array for
 * f32, Uint16Array of raw bits for f16/bf16, Uint8Array of raw bits for f8 and u8, Int8Array,
 * Int32Array) is wrapped without copying on the CPU, so later writes to it are visible. Other
 * arrays are converted. dtype defaults from the array type (Float32Array/Int8Array/Uint8Array/
 * Int32Array) or f32; shape defaults to [data.length]; a non-CPU device gets a copy.
 */
export function fromArray(
  data: ArrayLike<number>,
  opts: CreateOptions & { shape?: readonly number[] } = {},
): Tensor {
  const op = "fromArray";
  if (opts.dtype === undefined && data instanceof Uint16Array) {
    throw invalid(op, "a Uint16Array holds f16 or bf16 bits: pass dtype");
  }
  const dtype = opts.dtype ?? INFERRED.find(([ctor]) => data instanceof ctor)?.[1] ?? "f32";
  const shape = opts.shape ?? [data.length];
  if (shapeNumel(shape, op) !== data.length) throw invalid(op, `shape [${shape}] does not hold ${data.length} values`);
  const host = data instanceof hostArrayType(dtype) ? (data as HostArray) : convert(data, dtype, op);
  const t = new Tensor(dtype, [...shape], "cpu", new HostStorage(host));
  return t.to(opts.device ?? "cpu");
}

export interface RandomOptions extends CreateOptions {
  /** Stream id (default 0). The same seed gives the same values on every device. */
  seed?: number | bigint;
  /**
   * Position in the stream (default 0): element i is draw `offset + i`. To continue a stream, pass
   * the previous offset plus the previous tensor's numel.
   */
  offset?: number | bigint;
}

function fillRandom(shape: readonly number[], distribution: number, a: number, b: number, opts: RandomOptions, op: string): Tensor {
  const dtype = opts.dtype ?? "f32";
  if (!isFloat(dtype)) throw invalid(op, `random fills need a float dtype, not ${dtype}`);
  return produce(dtype, shape, opts.device ?? "cpu", op, (t) => {
    if (t.numel === 0) return;
    const seed = BigInt(opts.seed ?? 0), offset = BigInt(opts.offset ?? 0);
    check(native.tao_fill_random(t.context.handle(op), t.ptr(op), dtypeCode(dtype), t.numel, seed, offset, distribution, a, b), op);
  });
}

/** Normal samples mean + std * z (Philox counter-based, bit-identical on CPU and CUDA). */
export function randn(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  return fillRandom(shape, C.TAO_RANDOM_NORMAL, opts.mean ?? 0, opts.std ?? 1, opts, "randn");
}

/** Uniform samples low + (high - low) * u, u in [0, 1) (Philox counter-based, bit-identical on CPU and CUDA). */
export function rand(shape: readonly number[], opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return fillRandom(shape, C.TAO_RANDOM_UNIFORM, opts.low ?? 0, opts.high ?? 1, opts, "rand");
}
