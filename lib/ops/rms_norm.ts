/** rmsNorm: Llama's RMSNorm (tao_rms_norm). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, into, liveOnOneDevice, requireDtype, requireShape } from "./op_args.ts";

/**
 * y = x · rsqrt(mean(x², last dim) + eps) · weight for x [..., D] and weight [D] of one dtype (f32,
 * f16, bf16): sum of squares and products in f32, one rounding. `out` may be x (in place). eps
 * defaults to 1e-5 (Llama 2 and 3).
 */
export function rmsNorm(x: Tensor, weight: Tensor, opts: { eps?: number; out?: Tensor } = {}): Tensor {
  const op = "rmsNorm";
  const eps = opts.eps ?? 1e-5;
  const device = liveOnOneDevice(op, { x, weight, out: opts.out });
  requireDtype(op, "x", x, FLOAT_DTYPES);
  if (weight.dtype !== x.dtype) throw invalid(op, `weight is ${weight.dtype} but x is ${x.dtype}`);
  if (x.ndim === 0) throw invalid(op, "x must have at least one dim");
  const dim = x.shape[x.ndim - 1]!;
  requireShape(op, "weight", weight, [dim]);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw invalid(op, `eps=${eps} must be finite and >= 0`);
  return into(op, x.dtype, x.shape, device, opts.out, (y) => {
    check(native.tao_rms_norm(x.context.handle(op), x.ptr(op), weight.ptr(op), y.ptr(op), dtypeCode(x.dtype), x.numel / dim, dim, eps), op);
  });
}
