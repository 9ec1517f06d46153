/** Argument checks and output handling shared by the transformer ops (embedding, rmsNorm, rope, attention, ...). */
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import type { Device } from "../device.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";
import { addressOf } from "../native/index.ts";

export const FLOAT_DTYPES: readonly DType[] = ["f32", "f16", "bf16"];

/** Checks that no given tensor is disposed and all share one device (DEVICE_MISMATCH otherwise); returns it. */
export function liveOnOneDevice(op: string, named: Record<string, Tensor | null | undefined>): Device {
  for (const [name, t] of Object.entries(named)) if (t?.disposed) throw invalid(op, `${name} was disposed`);
  return commonDevice(op, Object.values(named));
}

/**
 * The address of t's data for an argument struct of words (0n for no tensor): a device pointer as it
 * is, a host tensor's own TypedArray (offset 0), alive with the tensor for the whole call.
 */
export function tensorAddress(op: string, t: Tensor | null | undefined): bigint {
  const p = t?.ptr(op) ?? null;
  return typeof p === "bigint" ? p : p === null ? 0n : addressOf(p);
}

/** Throws unless t has `dtype` (or one of `dtypes`). */
export function requireDtype(op: string, name: string, t: Tensor, dtypes: DType | readonly DType[]): void {
  const allowed = typeof dtypes === "string" ? [dtypes] : dtypes;
  if (!allowed.includes(t.dtype)) throw invalid(op, `${name} is ${t.dtype}; ${op} takes ${allowed.join(", ")}`);
}

/** Throws unless t's shape is `shape` (entries of -1 match anything). */
export function requireShape(op: string, name: string, t: Tensor, shape: readonly number[]): void {
  if (t.ndim !== shape.length || shape.some((d, i) => d !== -1 && d !== t.shape[i])) {
    throw invalid(op, `${name} must be [${shape.map((d) => (d === -1 ? "*" : d))}], not [${t.shape}]`);
  }
}

/** Throws unless `value` is an integer in [lo, hi]. */
export function requireInt(op: string, name: string, value: number, lo: number, hi: number): void {
  if (!Number.isInteger(value) || value < lo || value > hi) throw invalid(op, `${name}=${value} must be an integer in ${lo}..${hi}`);
}

/** A position buffer: a live int32 tensor of one element on `device` (read by the kernel when it runs). */
export function requirePosition(op: string, position: Tensor | undefined, device: Device): void {
  if (position === undefined) return;
  if (position.disposed) throw invalid(op, "position was disposed");
  if (position.dtype !== "i32" || position.numel !== 1) throw invalid(op, `position must be i32 with one element, not ${position.dtype} [${position.shape}]`);
  requireDevice(op, "position", position, device);
}

/** Throws DEVICE_MISMATCH unless t is on `device`. */
export function requireDevice(op: string, name: string, t: Tensor, device: Device): void {
  if (t.device !== device) throw new TaoError(ErrorCode.DEVICE_MISMATCH, op, `${name} is on ${t.device}, the other tensors on ${device}`);
}

/**
 * The result: `out` when given (checked: dtype, shape, and device; `fill` writes it), else a new
 * tensor. `fill` is not called for an empty result.
 */
export function into(op: string, dtype: DType, shape: readonly number[], device: Device, out: Tensor | undefined, fill: (y: Tensor) => void): Tensor {
  const run = (y: Tensor) => {
    if (y.numel > 0) fill(y);
  };
  if (out === undefined) return produce(dtype, shape, device, op, run);
  if (out.disposed) throw invalid(op, "out was disposed");
  if (out.dtype !== dtype) throw invalid(op, `out is ${out.dtype}, expected ${dtype}`);
  requireShape(op, "out", out, shape);
  requireDevice(op, "out", out, device);
  run(out);
  return out;
}
