/** Running calibration token sequences through a Llama, for the Linear input observers to see. */
import { fromArray } from "../creation.ts";
import type { Llama } from "./llama.ts";

/** Runs each sequence through the model (batch 1, a fresh cache each); the logits are discarded. */
export function calibrateLlama(model: Llama, calibration: readonly number[][]): void {
  for (const ids of calibration) {
    using cache = model.newCache(1, ids.length);
    using x = fromArray(Int32Array.from(ids), { shape: [1, ids.length] }).to(model.device);
    model.forward(x, cache).dispose();
  }
}
