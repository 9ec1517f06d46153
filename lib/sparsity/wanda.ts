/**
 * Wanda (Sun et al., "A Simple and Effective Pruning Approach for Large Language Models"), 2:4: the
 * score of w[i, j] is |w[i, j]| · ‖X_j‖₂, X_j the j-th input feature over the calibration inputs.
 * prepare(model) attaches a ColumnNormObserver to each selected Linear (the observer mechanism of
 * the calibration flows); run calibration inputs through the model; step() prunes each group of 4
 * along K to its 2 best scores and applies the masks; squashMask() (and dispose()) also detach and
 * dispose the observers.
 */
import { invalid } from "../errors.ts";
import { fromArray, zeros } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import type { InputObserver, Linear, Module } from "../nn/index.ts";
import { columnSqSum } from "../ops/sparse24.ts";
import { attachObservers } from "../quantization/calibration.ts";
import { WeightNormSparsifier, type SparsifierOptions } from "./sparsifier.ts";

/** Sums x[:, j]² over every input a Linear sees (tao_column_sq_sum on the input's device). */
export class ColumnNormObserver implements InputObserver {
  #acc: Tensor | null = null;

  observe(x: Tensor): void {
    const k = x.shape.at(-1)!;
    if (this.#acc !== null && (this.#acc.shape[0] !== k || this.#acc.device !== x.device)) {
      throw invalid("ColumnNormObserver", `inputs changed from [..., ${this.#acc.shape[0]}] on ${this.#acc.device} to [${x.shape}] on ${x.device}`);
    }
    this.#acc ??= zeros([k], { dtype: "f32", device: x.device });
    columnSqSum(x, this.#acc);
  }

  /** ‖X_j‖₂ per input column (f32 [K] on the inputs' device); TaoError before any input was observed. */
  norms(): Tensor {
    if (this.#acc === null) throw invalid("ColumnNormObserver.norms", "no input was observed: run calibration data through the model first");
    const sq = this.#acc.toArray() as Float32Array;
    return fromArray(sq.map(Math.sqrt), { device: this.#acc.device });
  }

  dispose(): void {
    this.#acc?.dispose();
    this.#acc = null;
  }
}

/** 2:4 Wanda pruning of a model's Linear layers (see the file comment). */
export class WandaSparsifier extends WeightNormSparsifier {
  #observers = new Map<string, { linear: Linear; observer: ColumnNormObserver }>();

  /** Registers the layers (WeightNormSparsifier.prepare) and attaches a fresh ColumnNormObserver to each. */
  override prepare(model: Module, opts: SparsifierOptions = {}) {
    const report = super.prepare(model, opts);
    const chosen = new Set(report.prepared);
    const modules = new Map(model.namedModules());
    for (const [name, observer] of attachObservers(model, () => new ColumnNormObserver(), (_m, name) => chosen.has(name))) {
      this.#observers.get(name)?.observer.dispose();
      this.#observers.set(name, { linear: modules.get(name) as Linear, observer });
    }
    return report;
  }

  protected override columnScale(name: string): Tensor | null {
    const o = this.#observers.get(name);
    if (o === undefined) throw invalid("WandaSparsifier.step", `${name} has no observer: call prepare(model) first`);
    return o.observer.norms();
  }

  /** Disposes the masks and the observers and detaches the observers (squashMask ends with it). */
  override dispose(): void {
    super.dispose();
    this.#detach();
  }

  #detach(): void {
    for (const { linear, observer } of this.#observers.values()) {
      if (linear.inputObserver === observer) linear.inputObserver = null;
      observer.dispose();
    }
    this.#observers.clear();
  }
}
