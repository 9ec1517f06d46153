/** Module: the base of every layer, a tree of named parameters and child modules (torch.nn.Module). */
import { invalid } from "../errors.ts";
import { parseDevice } from "../device.ts";
import { Tensor } from "../tensor.ts";
import type { AffineQuantizedTensor } from "../dtypes/affine_quantized_tensor.ts";

/** What a parameter slot holds: a dense Tensor, or a quantized weight (what quantize() puts in). */
export type Parameter = Tensor | AffineQuantizedTensor;

/**
 * A layer: named parameters (tensors, or null for an absent one such as a disabled bias) and named
 * child modules, registered in order by the subclass's constructor. Fully qualified names join the
 * path with dots ("layers.0.fc1.weight"); the root module's own name is "".
 *
 * The module owns its parameters: `dispose()` (or `using`) disposes them all, and `to(device)`
 * disposes the tensors it replaced.
 */
export abstract class Module {
  readonly #params = new Map<string, Parameter | null>();
  readonly #children = new Map<string, Module>();

  /** The layer's computation. Subclasses narrow the signature (Linear: `forward(x: Tensor): Tensor`). */
  abstract forward(...inputs: never): unknown;

  /** Adds parameter `name` (a new name without dots); returns the tensor. */
  protected registerParameter<T extends Parameter | null>(name: string, tensor: T): T {
    this.#checkNewName(name, "Module.registerParameter");
    this.#params.set(name, tensor);
    return tensor;
  }

  /** Adds child module `name` (a new name without dots); returns the module. */
  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkNewName(name, "Module.registerModule");
    this.#children.set(name, module);
    return module;
  }

  #checkNewName(name: string, op: string): void {
    if (name === "" || name.includes(".")) throw invalid(op, `bad name ${JSON.stringify(name)}: non-empty, without dots`);
    if (this.#params.has(name) || this.#children.has(name)) throw invalid(op, `${JSON.stringify(name)} is already registered`);
  }

  /** This module's own parameter `name` (null when registered as absent). */
  getParameter(name: string): Parameter | null {
    if (!this.#params.has(name)) throw invalid("Module.getParameter", `no parameter ${JSON.stringify(name)}`);
    return this.#params.get(name)!;
  }

  /** This module's own child `name`. */
  getModule(name: string): Module {
    const m = this.#children.get(name);
    if (m === undefined) throw invalid("Module.getModule", `no child module ${JSON.stringify(name)}`);
    return m;
  }

  /**
   * Replaces this module's own registered parameter `name` (what quantize() does to a weight);
   * forward sees the new tensor at once. Returns the previous tensor, which the caller now owns.
   */
  setParameter(name: string, tensor: Parameter | null): Parameter | null {
    const previous = this.getParameter(name);
    this.#params.set(name, tensor);
    return previous;
  }

  /** Replaces this module's own registered child `name`. Returns the previous child, which the caller now owns. */
  setModule(name: string, module: Module): Module {
    const previous = this.getModule(name);
    this.#children.set(name, module);
    return previous;
  }

  /** Every module of the tree with its qualified name, depth first in registration order; the root is "". */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [["", this]];
    for (const [name, child] of this.#children) {
      for (const [sub, m] of child.namedModules()) out.push([sub === "" ? name : `${name}.${sub}`, m]);
    }
    return out;
  }

  /** Every present parameter of the tree with its qualified name ("fc1.weight"), in registration order. */
  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of m.#params) if (t !== null) out.push([prefix === "" ? name : `${prefix}.${name}`, t]);
    }
    return out;
  }

  /** Every present parameter of the tree. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Qualified name -> parameter, the tensors themselves (no copies). */
  stateDict(): Record<string, Parameter> {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Copies the values of `dict` (qualified name -> tensor, as stateDict gives) into the existing
   * parameters, moving them across devices where needed. Every shape and dtype is checked before
   * anything is copied. strict (default): a parameter missing from `dict` or a key of `dict` that
   * names no parameter is a TaoError; otherwise both are only reported. A quantized parameter or
   * value cannot be loaded this way (a TaoError): quantized checkpoints load with loadInto.
   */
  loadStateDict(
    dict: Readonly<Record<string, Parameter>>,
    opts: { strict?: boolean } = {},
  ): { missingKeys: string[]; unexpectedKeys: string[] } {
    const op = "Module.loadStateDict";
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(dict, k));
    const unexpectedKeys = Object.keys(dict).filter((k) => !Object.hasOwn(own, k));
    if ((opts.strict ?? true) && missingKeys.length + unexpectedKeys.length > 0) {
      throw invalid(op, `missing keys [${missingKeys.join(", ")}], unexpected keys [${unexpectedKeys.join(", ")}]`);
    }
    const pairs = Object.entries(own).flatMap(([k, param]) => {
      if (!Object.hasOwn(dict, k)) return [];
      if (!(param instanceof Tensor)) throw invalid(op, `${k} is a quantized weight (${param.layout.name} layout)`);
      const value = dict[k]!;
      if (!(value instanceof Tensor)) throw invalid(op, `${k}: the state dict holds a quantized weight (${value.layout.name} layout)`);
      return [[k, param, value] as const];
    });
    for (const [k, param, value] of pairs) {
      if (value.dtype !== param.dtype || value.shape.join() !== param.shape.join()) {
        throw invalid(op, `${k}: the module has ${param.dtype}[${param.shape}], the state dict ${value.dtype}[${value.shape}]`);
      }
    }
    for (const [, param, value] of pairs) {
      if (value.device === param.device) {
        param.copyFrom(value);
      } else {
        using moved = value.to(param.device);
        param.copyFrom(moved);
      }
    }
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Moves every parameter to `device` (a tensor shared by several slots moves once) and disposes the
   * tensors it replaced; parameters already there stay as they are. All copies are made before
   * anything is replaced, so a failure leaves the module unchanged. Returns this.
   */
  to(device: string): this {
    const target = parseDevice(device).device;
    const moved = new Map<Parameter, Parameter>();
    try {
      for (const t of this.parameters()) if (t.device !== target && !moved.has(t)) moved.set(t, t.to(target));
    } catch (e) {
      for (const t of moved.values()) t.dispose();
      throw e;
    }
    for (const [, m] of this.namedModules()) {
      for (const [name, t] of m.#params) if (t !== null && moved.has(t)) m.#params.set(name, moved.get(t)!);
    }
    for (const t of moved.keys()) t.dispose();
    return this;
  }

  /** Disposes every parameter of the tree (idempotent). */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
