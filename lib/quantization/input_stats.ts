/**
 * InputStatsObserver: the second-moment statistics GPTQ and AWQ need of a Linear's inputs, kept on
 * the host in float64 — Σ xᵀx over every input row (K×K), Σ |x_j| per input channel, and the row
 * count. Each observed input is copied to the host (x.toArray()); the accumulation is O(rows·K²)
 * there, which suits models whose K is in the thousands at most.
 */
import { invalid } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import type { InputObserver } from "../nn/linear.ts";

/** Accumulates XᵀX, Σ|X_j| and the row count of every input a Linear sees. */
export class InputStatsObserver implements InputObserver {
  /** Σ xᵀx, [k, k] row-major (both triangles filled by gram()). */
  private readonly xtx: Float64Array;
  /** Σ |x_j| per channel. */
  readonly absSum: Float64Array;
  /** Input rows seen. */
  rows = 0;

  constructor(readonly k: number) {
    this.xtx = new Float64Array(k * k);
    this.absSum = new Float64Array(k);
  }

  /** Adds every row of `x` ([..., k], any float dtype and device). */
  observe(x: Tensor): void {
    const k = this.k;
    if (x.shape[x.ndim - 1] !== k) throw invalid("InputStatsObserver.observe", `x is [${x.shape}], the layer takes ${k} features`);
    const data = x.toArray() as Float32Array, n = data.length / k, g = this.xtx;
    for (let r = 0; r < n; r++) {
      const row = r * k;
      for (let i = 0; i < k; i++) {
        const xi = data[row + i]!;
        this.absSum[i]! += Math.abs(xi);
        if (xi === 0) continue;
        const gi = i * k;
        for (let j = i; j < k; j++) g[gi + j]! += xi * data[row + j]!;
      }
    }
    this.rows += n;
  }

  /** XᵀX / rows as a full symmetric [k, k] matrix (float64). TaoError before any input. */
  gram(): Float64Array {
    if (this.rows === 0) throw invalid("InputStatsObserver", "calibration saw no input of this layer");
    const k = this.k, out = new Float64Array(k * k);
    for (let i = 0; i < k; i++) {
      for (let j = i; j < k; j++) out[i * k + j] = out[j * k + i] = this.xtx[i * k + j]! / this.rows;
    }
    return out;
  }

  /** mean |x_j| per channel. */
  absMean(): Float64Array {
    return this.absSum.map((v) => v / Math.max(this.rows, 1));
  }
}
