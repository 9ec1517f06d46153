/** rope: rotary position embedding (tao_rope). */
import * as C from "../native/constants.ts";
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, into, liveOnOneDevice, requireDtype, requireInt, requirePosition, requireShape } from "./op_args.ts";

export interface RopeOptions {
  /** Base of the frequencies theta^(-2i/Dh) (default 10000; Llama 3 uses 500000). */
  theta?: number;
  /** "interleaved" (default): pairs (2i, 2i+1), Meta's llama and llama2.c; "half": pairs (i, i + Dh/2), Hugging Face. */
  style?: "interleaved" | "half";
  /** int32 [B, T]: each token's position. */
  positions?: Tensor;
  /** Position buffer (int32, one element, on x's device): token t sits at position[0] + offset + t. */
  position?: Tensor;
  /** Added to the position buffer (or the position itself without one). Default 0. */
  offset?: number;
  /**
   * Rotate only heads [0, heads) of each token (default all), in place (out must be x): the q and k
   * heads of a fused q|k|v projection's output [B, T, Hq + 2·Hkv, Dh] in one call, heads = Hq + Hkv.
   */
  heads?: number;
  /** Where to write; may be x itself (in place). */
  out?: Tensor;
}

/**
 * Rotates each pair of x [B, T, H, Dh] (Dh even; f32, f16, bf16) by pos · theta^(-2i/Dh), with the
 * angle and its cos/sin in f64, the rotation in f32, one rounding. The position comes from
 * `positions`, or from the `position` buffer read when the kernel runs (so a captured CUDA graph
 * follows it) plus `offset` plus t.
 */
export function rope(x: Tensor, opts: RopeOptions = {}): Tensor {
  const op = "rope";
  const { positions, position, offset = 0, theta = 10000, style = "interleaved" } = opts;
  const device = liveOnOneDevice(op, { x, positions, out: opts.out });
  requireDtype(op, "x", x, FLOAT_DTYPES);
  if (x.ndim !== 4 || x.shape[3]! % 2 !== 0) throw invalid(op, `x must be [B, T, H, Dh] with Dh even, not [${x.shape}]`);
  const [b, t, h, dh] = x.shape as [number, number, number, number];
  if (positions) {
    requireDtype(op, "positions", positions, "i32");
    requireShape(op, "positions", positions, [b, t]);
  }
  requirePosition(op, position, device);
  requireInt(op, "offset", offset, 0, 2 ** 31);
  if (style !== "interleaved" && style !== "half") throw invalid(op, `style must be "interleaved" or "half", not ${JSON.stringify(style)}`);
  const heads = opts.heads ?? h;
  requireInt(op, "heads", heads, 1, h);
  if (heads < h && opts.out !== x) throw invalid(op, `rotating ${heads} of x's ${h} heads works in place only (out: x)`);
  const code = style === "interleaved" ? C.TAO_ROPE_INTERLEAVED : C.TAO_ROPE_HALF;
  return into(op, x.dtype, x.shape, device, opts.out, (y) => {
    check(native.tao_rope(x.context.handle(op), x.ptr(op), y.ptr(op), dtypeCode(x.dtype), b, t, heads, dh, h * dh,
      positions?.ptr(op) ?? null, position?.ptr(op) ?? null, offset, theta, code), op);
  });
}
