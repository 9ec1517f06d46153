/**
 * A module tree built from a flat map of named weights, so quantize() and save() can work on a
 * checkpoint without its model class: every name "a.b.c.weight" chosen as a Linear weight becomes a
 * Linear at "a.b.c" (with "a.b.c.bias" as its bias when present), every other tensor a parameter of
 * a plain container module at its path. Parameter names come out as they went in.
 */
import { invalid } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { Linear, Module } from "../nn/index.ts";

/** A module that only holds parameters and children (no forward). */
export class WeightTree extends Module {
  readonly #children = new Map<string, Module>();

  forward(): never {
    throw invalid("WeightTree.forward", "a tree of loaded weights has no forward");
  }

  /** Adds a parameter (see Module.registerParameter). */
  addParameter(name: string, t: Tensor): void {
    this.registerParameter(name, t);
  }

  /** Adds child module `name` (see Module.registerModule). */
  addModule(name: string, m: Module): void {
    this.#children.set(name, this.registerModule(name, m));
  }

  /** The child container `name`, created when absent; a child of another kind is a TaoError. */
  child(name: string, op: string): WeightTree {
    const existing = this.#children.get(name);
    if (existing === undefined) {
      const made = new WeightTree();
      this.addModule(name, made);
      return made;
    }
    if (!(existing instanceof WeightTree)) throw invalid(op, `"${name}" is both a Linear layer and a container`);
    return existing;
  }
}

const splitLast = (name: string): [string, string] => {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? ["", name] : [name.slice(0, dot), name.slice(dot + 1)];
};

/**
 * The tree of `weights` (the tensors are taken over, not copied): the names for which
 * `isLinearWeight(name, tensor)` holds (2-D [out, in] tensors named "<path>.weight") become Linear
 * layers. A name that would be both a layer and a container is a TaoError.
 */
export function weightTree(weights: Map<string, Tensor>, isLinearWeight: (name: string, t: Tensor) => boolean): WeightTree {
  const op = "weightTree";
  const linearPaths = new Set<string>();
  for (const [name, t] of weights) {
    const [path, leaf] = splitLast(name);
    if (leaf === "weight" && path !== "" && t.ndim === 2 && isLinearWeight(name, t)) linearPaths.add(path);
  }
  const root = new WeightTree();
  const at = (path: string) => (path === "" ? root : path.split(".").reduce((m, part) => m.child(part, op), root));
  for (const [name, t] of weights) {
    const [path, leaf] = splitLast(name);
    if (linearPaths.has(path) && (leaf === "weight" || leaf === "bias")) continue;
    at(path).addParameter(leaf, t);
  }
  for (const path of linearPaths) {
    const w = weights.get(`${path}.weight`)!, bias = weights.get(`${path}.bias`) ?? null;
    const [out, inF] = w.shape as [number, number];
    if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== out)) throw invalid(op, `${path}.bias is [${bias.shape}], not [${out}]`);
    const layer = new Linear(inF, out, { weight: w, bias: bias ?? false });
    const [parent, leaf] = splitLast(path);
    at(parent).addModule(leaf, layer);
  }
  return root;
}
