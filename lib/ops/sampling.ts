/** Token selection: argmax and top-k/temperature sampling over the last dim (tao_argmax, tao_sample). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, into, liveOnOneDevice, requireDtype, requireInt, requirePosition } from "./op_args.ts";

function rowsOf(op: string, x: Tensor): [number[], number] {
  requireDtype(op, "x", x, FLOAT_DTYPES);
  if (x.ndim === 0 || x.shape[x.ndim - 1] === 0) throw invalid(op, `x must be [..., V] with V >= 1, not [${x.shape}]`);
  return [x.shape.slice(0, -1), x.shape[x.ndim - 1]!];
}

/** int32 [...] index of the largest value of each row of x [..., V]; ties to the lowest index, NaN counts as largest. */
export function argmax(x: Tensor, opts: { out?: Tensor } = {}): Tensor {
  const op = "argmax";
  const device = liveOnOneDevice(op, { x, out: opts.out });
  const [shape, n] = rowsOf(op, x);
  return into(op, "i32", shape, device, opts.out, (y) => {
    check(native.tao_argmax(x.context.handle(op), x.ptr(op), dtypeCode(x.dtype), x.numel / n, n, y.ptr(op)), op);
  });
}

export interface SampleOptions {
  /** Softmax temperature (default 1); <= 0 is argmax. */
  temperature?: number;
  /** Keep the topK largest logits (ties with the k-th kept too); 0 (default) keeps all. */
  topK?: number;
  /** Philox key (default 0): the same logits, seed and step give the same token on every backend. */
  seed?: number | bigint;
  /** Position buffer whose value is the step (mixed into the random counter); a replayed graph draws anew each step. */
  position?: Tensor;
  out?: Tensor;
}

/**
 * int32 [...] token per row of logits [..., V], drawn from softmax(logits / temperature) over the
 * topK largest logits by the Gumbel-max rule with Philox noise (include/tao.h, tao_sample):
 * deterministic per (seed, step), the same token on the CPU and CUDA.
 */
export function sample(logits: Tensor, opts: SampleOptions = {}): Tensor {
  const op = "sample";
  const { temperature = 1, topK = 0, seed = 0, position } = opts;
  const device = liveOnOneDevice(op, { logits, out: opts.out });
  const [shape, vocab] = rowsOf(op, logits);
  if (!Number.isFinite(temperature)) throw invalid(op, `temperature=${temperature} must be finite`);
  requireInt(op, "topK", topK, 0, 2 ** 31 - 1);
  const seed64 = BigInt.asUintN(64, BigInt(seed));
  requirePosition(op, position, device);
  return into(op, "i32", shape, device, opts.out, (y) => {
    check(native.tao_sample(logits.context.handle(op), logits.ptr(op), dtypeCode(logits.dtype), logits.numel / vocab, vocab, temperature, topK,
      seed64, position?.ptr(op) ?? null, y.ptr(op)), op);
  });
}
