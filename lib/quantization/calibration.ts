/**
 * The part the calibration flows share: attaching a fresh observer to each selected Linear's input
 * (torchao's insert_observers_), finding the layers that carry one of a kind afterwards, and
 * quantizing each of them with its own config.
 */
import { Linear, type InputObserver, type Module } from "../nn/index.ts";
import { quantize, type QuantConfig, type QuantizeReport } from "./quant_api.ts";

/** Which Linear layers get an observer, asked with the module and its qualified name (default: all). */
export type LinearFilter = (module: Linear, name: string) => boolean;

/** Sets `linear.inputObserver = make()` on every Linear `filter` accepts; returns the observers by qualified name. */
export function attachObservers<O extends InputObserver>(model: Module, make: () => O, filter?: LinearFilter): Map<string, O> {
  const out = new Map<string, O>();
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || (filter && !filter(m, name))) continue;
    const observer = make();
    m.inputObserver = observer;
    out.set(name, observer);
  }
  return out;
}

/** The Linears of `model` whose inputObserver is an instance of `kind`, with their names and observers. */
export function observedLinears<O extends InputObserver>(
  model: Module, kind: abstract new (...args: never[]) => O,
): { name: string; linear: Linear; observer: O }[] {
  return model.namedModules().flatMap(([name, m]) =>
    m instanceof Linear && m.inputObserver instanceof kind ? [{ name, linear: m, observer: m.inputObserver as O }] : []);
}

/**
 * quantize(model, config) for each layer with its own config, in order; a layer it quantized loses
 * its input observer. On a failure, the layers before it stay converted.
 */
export function quantizeEach(model: Module, layers: readonly { linear: Linear; config: QuantConfig }[]): QuantizeReport {
  const report: QuantizeReport = { quantized: [], skipped: [] };
  for (const { linear, config } of layers) {
    const one = quantize(model, config, { filter: (m) => m === linear });
    report.quantized.push(...one.quantized);
    report.skipped.push(...one.skipped);
    if (one.quantized.length > 0) linear.inputObserver = null;
  }
  return report;
}
