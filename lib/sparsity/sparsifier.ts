/**
 * 2:4 magnitude pruning with the semantics of PyTorch's
 * WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2): every
 * block of 4 consecutive weights of a row (along K, the input features) loses its 2 smallest |w|.
 * prepare(model) picks the Linear layers, step() computes each layer's mask from its current weight
 * and applies it (the forward then sees the masked weight, as PyTorch's FakeSparsity
 * parametrization shows it), applyMasks() re-applies the masks after the weights were updated, and
 * squashMask() applies them a last time and forgets them (the zeros stay in the weights).
 * Subclasses change the score by a per-input-column scale (WandaSparsifier). Masks are computed by
 * the tao_sparse24_mask kernel on the weight's device.
 */
import { invalid } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { Linear, type Module } from "../nn/index.ts";
import { applyMask, sparse24Mask } from "../ops/sparse24.ts";
import type { LinearFilter } from "../quantization/calibration.ts";

/** Options of prepare(). */
export interface SparsifierOptions {
  /** Which Linear layers to prune, asked with the module and its qualified name (default: all). */
  filter?: LinearFilter;
}

/** A 2:4 sparsifier over a model's Linear layers, scoring weights by |w| (times colScale when a subclass gives one). */
export class WeightNormSparsifier {
  readonly #layers = new Map<string, { linear: Linear; mask: Tensor | null }>();

  /**
   * Registers every Linear `opts.filter` accepts whose weight is a float Tensor with K a multiple of 4
   * (others are skipped and listed). Returns the registered and skipped layer names.
   */
  prepare(model: Module, opts: SparsifierOptions = {}): { prepared: string[]; skipped: { name: string; reason: string }[] } {
    const prepared: string[] = [], skipped: { name: string; reason: string }[] = [];
    for (const [name, m] of model.namedModules()) {
      if (!(m instanceof Linear) || (opts.filter && !opts.filter(m, name))) continue;
      const w = m.weight;
      const reason = !(w instanceof Tensor) ? "its weight is quantized" : w.shape[1]! % 4 !== 0 ? `K = ${w.shape[1]} is not a multiple of 4` : null;
      if (reason !== null) {
        skipped.push({ name, reason });
        continue;
      }
      this.#layers.get(name)?.mask?.dispose();
      this.#layers.set(name, { linear: m, mask: null });
      prepared.push(name);
    }
    return { prepared, skipped };
  }

  /** The per-input-column scale of a layer's scores (f32 [K] on the weight's device), or null for |w| alone. */
  protected columnScale(_name: string, _linear: Linear): Tensor | null {
    return null;
  }

  /** Computes every registered layer's 2:4 mask from its current weight and applies it. */
  step(): void {
    for (const [name, layer] of this.#layers) {
      const w = this.#weight(name, layer.linear);
      using scale = this.columnScale(name, layer.linear);
      const mask = sparse24Mask(w, { colScale: scale });
      layer.mask?.dispose();
      layer.mask = mask;
      applyMask(w, mask);
    }
  }

  /** Re-applies the masks of the last step() (after an optimizer changed the weights). */
  applyMasks(): void {
    for (const [name, layer] of this.#layers) if (layer.mask) applyMask(this.#weight(name, layer.linear), layer.mask);
  }

  /** The masks of the last step() by layer name (u8 [N, K], 1 = kept); owned by the sparsifier. */
  get masks(): ReadonlyMap<string, Tensor> {
    return new Map([...this.#layers].flatMap(([name, l]) => (l.mask ? [[name, l.mask] as const] : [])));
  }

  /** Applies the masks a last time, disposes them and forgets the layers; returns the layer names. */
  squashMask(): string[] {
    this.applyMasks();
    const names = [...this.#layers.keys()];
    this.dispose();
    return names;
  }

  /** Disposes the masks and forgets the layers (the weights keep their current values). */
  dispose(): void {
    for (const l of this.#layers.values()) l.mask?.dispose();
    this.#layers.clear();
  }

  #weight(name: string, linear: Linear): Tensor {
    const w = linear.weight;
    if (!(w instanceof Tensor) || w.disposed) throw invalid("WeightNormSparsifier", `${name}: the weight is no longer a live float Tensor`);
    return w;
  }
}
