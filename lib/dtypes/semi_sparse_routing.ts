/**
 * Where a 2:4 float weight that keeps its dense copy (semiSparseWeight({ denseFallback: true }), the
 * default on CUDA) runs its CUDA linear: the sparse path (cuSPARSELt, or the small-m kernel over values
 * + meta) or cuBLASLt on the dense copy, whichever is faster for x's row count. Sparse wins at large M
 * (1.3-1.6x at M >= 2048 on an H100) but loses at some small and middle M (0.48-0.95x), which the
 * issue forbids beyond 5 %. The choice is measured once per (device, N, K, dtype, bias or not, rows
 * rounded up to a power of two) by timing both on the real call (L2 flushed before each sample,
 * alternating, median of 5 after 2 warm-up calls each) and kept for the process. Inside a CUDA graph
 * capture nothing can be timed: an undecided bucket then takes the sparse path.
 */
import { Context } from "../context.ts";
import { isCapturing } from "../graph.ts";
import { median, sampleMicros } from "../gpu_timing.ts";
import type { Tensor } from "../tensor.ts";
import type { LinearOptions } from "../ops/linear.ts";

/** One of the two ways to compute the linear, honouring opts.out. */
export type LinearPath = (opts: LinearOptions) => Tensor;

const choices = new Map<string, "sparse" | "dense">();

/** The decisions made so far: key "device n k dtype bias rows-bucket" -> path (for reports and tests). */
export function semiSparseRoutes(): ReadonlyMap<string, "sparse" | "dense"> {
  return choices;
}

/**
 * y = x · Wᵀ + bias for a [n, k] weight on CUDA by `sparse` or `dense`, as measured for this shape
 * (see the file comment).
 */
export function routeSemiSparse(x: Tensor, n: number, k: number, bias: Tensor | null, opts: LinearOptions, sparse: LinearPath, dense: LinearPath): Tensor {
  const rows = Math.max(1, x.numel / k);
  const key = [x.device, n, k, x.dtype, bias !== null, 2 ** Math.ceil(Math.log2(rows))].join(" ");
  let choice = choices.get(key);
  if (choice === undefined) {
    const ctx = Context.get(x.device);
    if (isCapturing(ctx)) return sparse(opts);
    // Both paths timed alternately (2 warm-up calls and 5 samples each, outputs disposed).
    const [s, d] = sampleMicros(ctx, [sparse, dense].map((p) => () => p({}).dispose()), { warmup: 2, samples: 5 }).map(median);
    choice = d! < s! ? "dense" : "sparse";
    choices.set(key, choice);
  }
  return choice === "dense" ? dense(opts) : sparse(opts);
}
