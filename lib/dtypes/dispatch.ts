/**
 * Quantized linear dispatch (torchao's register_aqt_quantized_linear_dispatch): linear(x, w, bias)
 * with an AffineQuantizedTensor w runs the first entry of one flat table whose condition holds.
 * Each layout registers its entries from its own file; nothing here names a layout, so adding a
 * kernel is adding an entry, never editing a switch.
 *
 * Order: higher priority first, then registration order. The priorities in use:
 *   KERNEL (100)    a fused kernel for some layout, devices, dtypes or shapes (its condition says which)
 *   FALLBACK (0)    dequantize with the layout's own dequantization, then dense linear: one per
 *                   layout, so every quantized weight has an implementation
 * quantizedLinearTable() lists the table in that order.
 */
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import { commonDevice, type Tensor } from "../tensor.ts";
import type { LinearOptions } from "../ops/linear.ts";
import type { AffineQuantizedTensor } from "./affine_quantized_tensor.ts";

/** Priority levels of the table, highest first. */
export const QuantizedLinearPriority = { KERNEL: 100, FALLBACK: 0 } as const;

/** One implementation of linear(x, w, bias) for quantized weights, and when it applies. */
export interface QuantizedLinearEntry {
  /** Unique; shown by quantizedLinearTable() and in errors ("tensor_core_tiled: dequantize + linear"). */
  readonly name: string;
  /** Higher runs first (QuantizedLinearPriority). */
  readonly priority: number;
  /** Whether impl handles these arguments (layout, dtypes, device, shapes). */
  condition(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null): boolean;
  /** y = x · wᵀ + bias, as linear() documents (x [..., K], y [..., N] in x's dtype, opts.out honoured). */
  impl(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions): Tensor;
}

const table: QuantizedLinearEntry[] = [];

/** Adds an entry after every entry of its priority or higher; returns a function that removes it again. */
export function registerQuantizedLinear(entry: QuantizedLinearEntry): () => void {
  if (table.some((e) => e.name === entry.name)) throw invalid("registerQuantizedLinear", `${JSON.stringify(entry.name)} is already registered`);
  const at = table.findIndex((e) => e.priority < entry.priority);
  table.splice(at === -1 ? table.length : at, 0, entry);
  return () => {
    const i = table.indexOf(entry);
    if (i !== -1) table.splice(i, 1);
  };
}

/** The table in dispatch order: name and priority of each entry. */
export function quantizedLinearTable(): { name: string; priority: number }[] {
  return table.map(({ name, priority }) => ({ name, priority }));
}

/** The entry linear(x, w, bias) runs: the first whose condition holds (TaoError UNSUPPORTED if none). */
export function quantizedLinearImpl(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null = null): QuantizedLinearEntry {
  const entry = table.find((e) => e.condition(x, w, bias));
  if (entry === undefined) {
    throw new TaoError(ErrorCode.UNSUPPORTED, "linear", `no quantized linear for a ${w.layout.name} weight and ${x.dtype} x on ${x.device}`);
  }
  return entry;
}

/** linear() for a quantized weight: checks what every entry relies on, then runs quantizedLinearImpl's entry. */
export function quantizedLinear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions): Tensor {
  const op = "linear";
  if (x.disposed || w.disposed) throw invalid(op, `${x.disposed ? "x" : "weight"} was disposed`);
  if (!["f32", "f16", "bf16"].includes(x.dtype)) throw invalid(op, `x is ${x.dtype}; linear takes f32, f16, bf16`);
  commonDevice(op, [x, ...Object.values(w.storage)]);
  return quantizedLinearImpl(x, w, bias).impl(x, w, bias, opts);
}
