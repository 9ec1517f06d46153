/** Test helper of the calibrating int4 flows (GPTQ, AWQ): save → load of a quantized Llama. */
import { expect } from "bun:test";
import { fromArray, loadInto, save, type Llama } from "../lib/index.ts";

/** Logits [T, V] (host f32) of a teacher-forced forward of `ids` in a fresh cache. */
export function allLogits(m: Llama, ids: number[]): Float32Array {
  using cache = m.newCache(1, ids.length);
  using x = fromArray(Int32Array.from(ids), { shape: [1, ids.length] });
  using y = m.forward(x, cache, { logits: "all" });
  return y.toArray() as Float32Array;
}

/**
 * Saves `model` to `path`, loads it into a fresh model from `open` and expects the same logits on
 * `ids`; returns the names loadInto reports quantized.
 */
export function expectSameAfterReload(model: Llama, open: () => Llama, ids: number[], path: string): string[] {
  save(model, path);
  using fresh = open();
  const { quantized } = loadInto(fresh, path);
  expect(allLogits(fresh, ids)).toEqual(allLogits(model, ids));
  return quantized;
}
