/**
 * Tensor: dtype + shape + device + storage, always contiguous (row-major). Host tensors wrap a
 * TypedArray in place; device tensors own memory from their device's Context. Copies, casts,
 * transposes and slices run in libtao on the tensor's device.
 */
import { native } from "./native/index.ts";
import type { PtrArg } from "./native/symbols.ts";
import { check, ErrorCode, invalid, TaoError } from "./errors.ts";
import { dtypeCode, dtypeSize, isFloat, type DType, type HostArray } from "./dtypes.ts";
import { parseDevice, type Device } from "./device.ts";
import { Context, CopyKind } from "./context.ts";
import { DeviceStorage, HostStorage, type Storage } from "./storage.ts";

/** Checks that every dim is a non-negative integer and returns the element count. */
export function shapeNumel(shape: readonly number[], op: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalid(op, `bad shape [${shape}]: dims must be non-negative integers`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new TaoError(ErrorCode.OUT_OF_MEMORY, op, `shape [${shape}] has too many elements`);
  return n;
}

/** Row-major strides (in elements) of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/** The common device of tensors given to one op; different devices are a TaoError DEVICE_MISMATCH. */
export function commonDevice(op: string, tensors: readonly (Tensor | null | undefined)[]): Device {
  const present = tensors.filter((t): t is Tensor => t != null);
  const device = present[0]!.device;
  const other = present.find((t) => t.device !== device);
  if (other !== undefined) {
    throw new TaoError(ErrorCode.DEVICE_MISMATCH, op, `tensors on different devices: ${device} and ${other.device}`);
  }
  return device;
}

export class Tensor {
  readonly numel: number;
  readonly strides: readonly number[];

  /** Wraps existing storage (no copy, no checks of the storage's size): most code wants the creation functions. */
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly device: Device,
    readonly storage: Storage,
  ) {
    this.numel = shapeNumel(shape, "Tensor");
    this.strides = contiguousStrides(shape);
  }

  get nbytes(): number {
    return this.numel * dtypeSize(this.dtype);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storage.disposed;
  }

  /** The context of the tensor's device. */
  get context(): Context {
    return Context.get(this.device);
  }

  /** Frees device memory now (host: drops the TypedArray). Views from reshape share the storage. */
  dispose(): void {
    this.storage.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * The storage as a pointer argument for a native call, `elementOffset` elements in: a host
   * TypedArray view, or a device address. Throws a TaoError naming `op` if the tensor was disposed.
   */
  ptr(op: string, elementOffset = 0): PtrArg {
    const s = this.storage;
    if (s.disposed) throw invalid(op, "tensor was disposed");
    if (s instanceof HostStorage) return elementOffset === 0 ? s.data : s.data!.subarray(elementOffset);
    return s.address + BigInt(elementOffset * dtypeSize(this.dtype));
  }

  /** The host TypedArray (zero-copy; raw bits for f16/bf16/f8). Host tensors only. */
  hostData(op = "Tensor.hostData"): HostArray {
    this.ptr(op);
    if (!(this.storage instanceof HostStorage)) throw invalid(op, `tensor is on ${this.device}, not the host`);
    return this.storage.data!;
  }

  /** This tensor on `device`: the same tensor when it is already there, else a copy. */
  to(device: string): Tensor {
    const op = "Tensor.to";
    const target = parseDevice(device).device;
    const src = this.ptr(op);
    if (target === this.device) return this;
    if (this.device !== "cpu" && target !== "cpu") {
      using host = this.to("cpu");
      return host.to(target);
    }
    const toHost = target === "cpu";
    return produce(this.dtype, this.shape, target, op, (out) => {
      if (this.nbytes === 0) return;
      const ctx = toHost ? this.context : out.context;
      ctx.copy(out.ptr(op), src, this.nbytes, toHost ? CopyKind.D2H : CopyKind.H2D);
    });
  }

  /** A copy on the same device (device-to-device copy on a GPU, memcpy on the host). */
  clone(): Tensor {
    const op = "Tensor.clone";
    const src = this.ptr(op);
    return produce(this.dtype, this.shape, this.device, op, (out) => {
      if (this.nbytes > 0) this.context.copy(out.ptr(op), src, this.nbytes, CopyKind.D2D);
    });
  }

  /** Copies `src` (same dtype and element count, same device) into this tensor in place; returns this. */
  copyFrom(src: Tensor): this {
    const op = "Tensor.copyFrom";
    commonDevice(op, [this, src]);
    if (src.dtype !== this.dtype || src.numel !== this.numel) {
      throw invalid(op, `source is ${src.dtype}[${src.shape}], destination ${this.dtype}[${this.shape}]`);
    }
    const dst = this.ptr(op), from = src.ptr(op);
    if (this.nbytes > 0) this.context.copy(dst, from, this.nbytes, CopyKind.D2D);
    return this;
  }

  /** A copy converted to `dtype` on the tensor's device (tao_cast: round to nearest even, f8 saturates). */
  cast(dtype: DType): Tensor {
    const op = "Tensor.cast";
    const src = this.ptr(op);
    return produce(dtype, this.shape, this.device, op, (out) => {
      if (this.numel === 0) return;
      check(native.tao_cast(this.context.handle(op), src, dtypeCode(this.dtype), out.ptr(op), dtypeCode(dtype), this.numel), op);
    });
  }

  /** A host copy of the values: float dtypes decoded to a Float32Array, integers in their own array type. */
  toArray(): Float32Array | Int8Array | Uint8Array | Int32Array {
    const host = this.to("cpu");
    try {
      if (!isFloat(this.dtype)) return host.hostData("Tensor.toArray").slice() as Int8Array | Uint8Array | Int32Array;
      return host.cast("f32").hostData("Tensor.toArray") as Float32Array;
    } finally {
      if (host !== this) host.dispose();
    }
  }

  /** A view with a new shape sharing this storage (one dim may be -1: inferred). */
  reshape(...shape: number[]): Tensor {
    const op = "Tensor.reshape";
    this.ptr(op);
    const known = shape.filter((d) => d !== -1);
    const inferred = shape.length - known.length;
    if (inferred > 1) throw invalid(op, "at most one dim may be -1");
    const rest = shapeNumel(known, op);
    const full = inferred === 1 && rest > 0 && this.numel % rest === 0
      ? shape.map((d) => (d === -1 ? this.numel / rest : d))
      : shape;
    if (shapeNumel(full, op) !== this.numel) throw invalid(op, `cannot reshape [${this.shape}] to [${shape}]`);
    return new Tensor(this.dtype, full, this.device, this.storage);
  }

  /** A contiguous copy with dims d0 and d1 swapped (negative dims count from the end). */
  transpose(d0: number, d1: number): Tensor {
    const op = "Tensor.transpose";
    const a = this.#dim(d0, op), b = this.#dim(d1, op);
    const shape = [...this.shape], strides = [...this.strides];
    [shape[a], shape[b]] = [shape[b]!, shape[a]!];
    [strides[a], strides[b]] = [strides[b]!, strides[a]!];
    return this.#gather(op, shape, strides, 0);
  }

  /** A contiguous copy of indices [start, end) along `dim` (negative values count from the end, then clamp). */
  slice(dim: number, start: number, end?: number): Tensor {
    const op = "Tensor.slice";
    const d = this.#dim(dim, op);
    const size = this.shape[d]!;
    const clampIndex = (i: number) => {
      if (!Number.isInteger(i)) throw invalid(op, `index ${i} is not an integer`);
      return Math.min(Math.max(i < 0 ? i + size : i, 0), size);
    };
    const lo = clampIndex(start), hi = Math.max(clampIndex(end ?? size), lo);
    const shape = [...this.shape];
    shape[d] = hi - lo;
    return this.#gather(op, shape, this.strides, lo * this.strides[d]!);
  }

  #dim(dim: number, op: string): number {
    const d = dim < 0 ? dim + this.ndim : dim;
    if (!Number.isInteger(d) || d < 0 || d >= this.ndim) throw invalid(op, `dim ${dim} out of range for ${this.ndim}-D tensor`);
    return d;
  }

  /** tao_strided_copy of `shape` elements read at `strides` from `offset` into a new contiguous tensor. */
  #gather(op: string, shape: number[], strides: readonly number[], offset: number): Tensor {
    const src = this.ptr(op, offset);
    return produce(this.dtype, shape, this.device, op, (out) => {
      if (out.numel === 0) return;
      const shape64 = BigInt64Array.from(shape, BigInt), strides64 = BigInt64Array.from(strides, BigInt);
      check(native.tao_strided_copy(this.context.handle(op), src, out.ptr(op), dtypeCode(this.dtype), shape.length, shape64, strides64), op);
    });
  }
}

/** A new uninitialized tensor (host memory is zeroed; device memory is not). */
export function empty(shape: readonly number[], opts: { dtype?: DType; device?: string } = {}): Tensor {
  return allocate(opts.dtype ?? "f32", shape, opts.device ?? "cpu", "empty");
}

function allocate(dtype: DType, shape: readonly number[], deviceName: string, op: string): Tensor {
  const device = parseDevice(deviceName).device;
  const numel = shapeNumel(shape, op);
  const bytes = numel * dtypeSize(dtype);
  const storage = device === "cpu"
    ? HostStorage.allocate(dtype, numel, op)
    : DeviceStorage.allocate(Context.get(device), bytes, op);
  return new Tensor(dtype, [...shape], device, storage);
}

/** Allocates a tensor and runs `fill` on it; a failing fill frees the new tensor before rethrowing. */
export function produce(
  dtype: DType,
  shape: readonly number[],
  device: string,
  op: string,
  fill: (out: Tensor) => void,
): Tensor {
  const out = allocate(dtype, shape, device, op);
  try {
    fill(out);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
