/** The argument checks and output handling that every linear op shares (dense, int4, int8). */
import { invalid } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";

/** A linear op's tensors: x, its weight tensors by name, the optional bias and out. */
export interface LinearArgs {
  x: Tensor;
  weights: Readonly<Record<string, Tensor>>;
  bias: Tensor | null;
  out: Tensor | undefined;
}

/**
 * Checks what every linear op requires and returns y's shape [..., N]: no tensor disposed, all on
 * one device, x of one of `dtypes` and ending in K (K >= 1), bias [N] and out [..., N] in x's
 * dtype, out sharing no storage with an input. The weights' dtypes and shapes are the op's to check.
 */
export function checkLinearArgs(op: string, args: LinearArgs, n: number, k: number, dtypes: readonly DType[]): number[] {
  const { x, weights, bias, out } = args;
  const named: [string, Tensor | null | undefined][] = [["x", x], ...Object.entries(weights), ["bias", bias], ["out", out]];
  for (const [name, t] of named) if (t?.disposed) throw invalid(op, `${name} was disposed`);
  commonDevice(op, named.map(([, t]) => t));
  if (!dtypes.includes(x.dtype)) throw invalid(op, `x is ${x.dtype}; ${op} takes ${dtypes.join(", ")}`);
  for (const [name, t] of [["bias", bias], ["out", out]] as const) {
    if (t && t.dtype !== x.dtype) throw invalid(op, `${name} is ${t.dtype} but x is ${x.dtype}: x, bias and out need one dtype`);
  }
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== k) throw invalid(op, `x [${x.shape}] must end in K = ${k}`);
  if (k === 0) throw invalid(op, "K must be at least 1");
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== n)) throw invalid(op, `bias must be [${n}], not [${bias.shape}]`);
  const shape = [...x.shape.slice(0, -1), n];
  if (out !== undefined) {
    if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
      throw invalid(op, `out must be [${shape}], not [${out.shape}]`);
    }
    if ([x, ...Object.values(weights), bias].some((t) => t?.storage === out.storage)) {
      throw invalid(op, "out must not share storage with an input");
    }
  }
  return shape;
}

/**
 * y: `out` if given, else a new tensor of x's dtype and device shaped `shape`; `fill` writes it
 * (not called when y is empty).
 */
export function linearOutput(op: string, x: Tensor, shape: readonly number[], out: Tensor | undefined, fill: (y: Tensor) => void): Tensor {
  const run = (y: Tensor) => {
    if (y.numel > 0) fill(y);
  };
  if (out === undefined) return produce(x.dtype, shape, x.device, op, run);
  run(out);
  return out;
}
