/**
 * HessianObserver: GPTQ's H = 2·XᵀX / rows of a Linear's inputs, accumulated on the inputs' device by
 * tao_gptq_hessian as a running mean over the batches (the reference implementation's add_batch), so
 * the activations never leave the device and only one [K, K] f32 matrix is kept per layer.
 */
import { invalid } from "../../errors.ts";
import { empty, type Tensor } from "../../tensor.ts";
import type { InputObserver } from "../../nn/linear.ts";
import { gptqHessian } from "../../ops/gptq.ts";

/** Accumulates H = 2·XᵀX / rows of every input a Linear sees. */
export class HessianObserver implements InputObserver {
  #h: Tensor | null = null;
  /** Input rows seen. */
  rows = 0;

  constructor(readonly k: number) {}

  /** Adds every row of `x` ([..., k], f32, f16 or bf16, any device; all inputs on one device). */
  observe(x: Tensor): void {
    const k = this.k;
    if (x.shape[x.ndim - 1] !== k) throw invalid("HessianObserver.observe", `x is [${x.shape}], the layer takes ${k} features`);
    const rows = x.numel / k;
    if (rows === 0) return;
    this.#h ??= empty([k, k], { device: x.device });
    const total = this.rows + rows;
    gptqHessian(x, this.#h, 2 / total, this.rows / total);
    this.rows = total;
  }

  /** H (f32 [k, k], on the inputs' device), handed over to the caller. TaoError naming `op` before any input. */
  take(op: string): Tensor {
    const h = this.#h;
    if (h === null) throw invalid(op, "calibration saw no input of this layer");
    this.#h = null;
    this.rows = 0;
    return h;
  }

  /** Frees H if it was not taken. */
  dispose(): void {
    this.#h?.dispose();
    this.#h = null;
  }
}
