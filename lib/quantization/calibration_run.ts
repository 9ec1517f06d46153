/** How the calibrating weight-only flows (GPTQ, AWQ) are given their calibration data. */
import { invalid } from "../errors.ts";
import type { Module } from "../nn/index.ts";
import { Llama } from "../models/llama.ts";
import { calibrateLlama } from "../models/calibrate.ts";

/** A function that runs calibration inputs through the model, or token sequences for a Llama. */
export type Calibration = ((model: Module) => void) | readonly number[][];

/** Runs `calibration` through `model` (token sequences need a Llama; TaoError naming `op` otherwise, or when there are none). */
export function runCalibration(model: Module, calibration: Calibration, op: string): void {
  if (typeof calibration === "function") return calibration(model);
  if (!Array.isArray(calibration) || calibration.length === 0) throw invalid(op, "calibration must be a function or a non-empty list of token sequences");
  if (!(model instanceof Llama)) throw invalid(op, "token-sequence calibration needs a Llama; pass a function that runs the model");
  calibrateLlama(model, calibration);
}
