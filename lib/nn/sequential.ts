/** Sequential: modules applied one after the other (torch.nn.Sequential). */
import type { Tensor } from "../tensor.ts";
import { Module } from "./module.ts";

/** A module that maps one tensor to one tensor, what Sequential chains. */
export type TensorModule = Module & { forward(x: Tensor): Tensor };

/**
 * Children "0", "1", ... applied in order: forward(x) = m_last(...m1(m0(x))). Intermediate results
 * are disposed once the next module has produced its output (unless that output shares their
 * storage, as a reshape view does); the input, views of it and the final output are left alone.
 */
export class Sequential extends Module {
  /** Number of children. */
  readonly length: number;

  constructor(...modules: TensorModule[]) {
    super();
    modules.forEach((m, i) => this.registerModule(String(i), m));
    this.length = modules.length;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.length; i++) {
      const next = (this.getModule(String(i)) as TensorModule).forward(y);
      if (y.storage !== x.storage && next.storage !== y.storage) y.dispose();
      y = next;
    }
    return y;
  }
}
