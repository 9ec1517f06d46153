/**
 * recordLinearShapes(model, run): the op-and-shape printer of torchao's developer guide. Runs
 * `run` with every float Linear recording its calls, then lists each linear (M, K, N) with counts,
 * for pasting into microbenchmarks.
 */
import type { DType } from "../../dtypes.ts";
import type { Module } from "../../nn/index.ts";
import { recorder, unwrapLinears, wrapLinears } from "./recording_weight.ts";

/** One distinct call of one layer: y [M, N] = x [M, K] · Wᵀ (+ bias), seen `count` times. */
export interface LinearShape {
  layer: string;
  m: number;
  k: number;
  n: number;
  bias: boolean;
  dtype: DType;
  count: number;
}

/**
 * Runs `run()` (which calls the model) and returns every (layer, M, K, N, bias, dtype) it
 * computed, with counts, in first-seen order. The weights are the model's own throughout and are
 * restored afterwards, also when `run` throws. With print: true, also prints the distinct
 * (M, K, N, dtype) with their total counts.
 */
export function recordLinearShapes(model: Module, run: () => void, opts: { print?: boolean } = {}): LinearShape[] {
  const layers = wrapLinears(model);
  const shapes: LinearShape[] = [];
  try {
    run();
    for (const layer of layers) {
      for (const s of recorder(layer)?.recorded ?? []) {
        shapes.push({ layer: layer.name, m: s.x[0], k: s.x[1], n: s.weight[0], bias: s.bias !== null, dtype: s.dtype, count: s.count });
      }
    }
  } finally {
    unwrapLinears(layers);
  }
  if (opts.print) console.log(formatLinearShapes(shapes));
  return shapes;
}

/** The distinct (M, K, N, dtype) of `shapes`, one line each with its total count and layer count. */
export function formatLinearShapes(shapes: LinearShape[]): string {
  const rows = new Map<string, { count: number; layers: number }>();
  for (const s of shapes) {
    const key = `M=${s.m} K=${s.k} N=${s.n} ${s.dtype}${s.bias ? " +bias" : ""}`;
    const row = rows.get(key) ?? { count: 0, layers: 0 };
    rows.set(key, { count: row.count + s.count, layers: row.layers + 1 });
  }
  return [...rows].map(([key, r]) => `linear ${key}: ${r.count} calls over ${r.layers} layers`).join("\n");
}
