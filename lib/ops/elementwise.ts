/** Elementwise binary ops of a decoder: add (residual), mul, siluMul and swiglu (SwiGLU) over tao_binary(_rows). */
import * as C from "../native/constants.ts";
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, into, liveOnOneDevice, requireDtype } from "./op_args.ts";

function binary(op: string, code: number, a: Tensor, b: Tensor, out: Tensor | undefined): Tensor {
  const device = liveOnOneDevice(op, { a, b, out });
  requireDtype(op, "a", a, FLOAT_DTYPES);
  if (b.dtype !== a.dtype) throw invalid(op, `b is ${b.dtype} but a is ${a.dtype}`);
  if (b.shape.join() !== a.shape.join()) throw invalid(op, `a [${a.shape}] and b [${b.shape}] must have one shape`);
  return into(op, a.dtype, a.shape, device, out, (y) => {
    check(native.tao_binary(a.context.handle(op), code, a.ptr(op), b.ptr(op), y.ptr(op), dtypeCode(a.dtype), a.numel), op);
  });
}

/** a + b elementwise (same shape and float dtype), f32 sum rounded once; `out` may be a or b. */
export function add(a: Tensor, b: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return binary("add", C.TAO_BINARY_ADD, a, b, opts.out);
}

/** a · b elementwise, f32 product rounded once; `out` may be a or b. */
export function mul(a: Tensor, b: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return binary("mul", C.TAO_BINARY_MUL, a, b, opts.out);
}

/** silu(gate) · up elementwise (SwiGLU): gate / (1 + exp(−gate)) · up in f32, rounded once; `out` may be an input. */
export function siluMul(gate: Tensor, up: Tensor, opts: { out?: Tensor } = {}): Tensor {
  return binary("siluMul", C.TAO_BINARY_SILU_MUL, gate, up, opts.out);
}

/**
 * SwiGLU of a fused gate|up projection's output: out [..., I] = silu(gateUp[..., :I]) · gateUp[..., I:]
 * for gateUp [..., 2·I] (siluMul's arithmetic), both halves read in place (tao_binary_rows).
 */
export function swiglu(gateUp: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const op = "swiglu";
  const device = liveOnOneDevice(op, { gateUp, out: opts.out });
  requireDtype(op, "gateUp", gateUp, FLOAT_DTYPES);
  const width = gateUp.shape.at(-1) ?? 1;
  if (gateUp.ndim === 0 || width % 2 !== 0) throw invalid(op, `gateUp must be [..., 2·I], not [${gateUp.shape}]`);
  const cols = width / 2;
  return into(op, gateUp.dtype, [...gateUp.shape.slice(0, -1), cols], device, opts.out, (y) => {
    check(native.tao_binary_rows(gateUp.context.handle(op), C.TAO_BINARY_SILU_MUL, gateUp.ptr(op), gateUp.ptr(op, cols), y.ptr(op),
      dtypeCode(gateUp.dtype), gateUp.numel / width, cols, width, width, cols), op);
  });
}
