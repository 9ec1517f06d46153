/**
 * autoquant(model, opts) (torchao's autoquant): picks, per Linear, the fastest candidate whose
 * output is accurate enough, by measuring each on the shapes the layer really sees.
 *   1. Each selected Linear's weight becomes an AutoQuantizableLinearWeight, which records the
 *      shapes of every call.
 *   2. After the model's first forward (or, with manual: true, at finalizeAutoquant(model)), every
 *      candidate is measured on every recorded shape (measure.ts), weighted by its count.
 *   3. Candidates under minSqnr are dropped; each layer gets the fastest of the rest.
 */
import { layerProgress } from "../progress.ts";
import { invalid } from "../../errors.ts";
import { Tensor } from "../../tensor.ts";
import type { Linear, Module } from "../../nn/index.ts";
import type { QuantConfig } from "../quant_api.ts";
import { candidate, DEFAULT_AUTOQUANT_CLASS_LIST, type AutoquantCandidate } from "./candidates.ts";
import { measureLayer, type AutoquantMode, type MeasureContext } from "./measure.ts";
import { recorder, unwrapLinears, wrapLinears, type WrappedLinear } from "./recording_weight.ts";
import type { AutoquantReport } from "./report.ts";
import type { TimerOptions } from "./timer.ts";
import { deviceName, TimingCache } from "./timing_cache.ts";

/** Options of autoquant(). */
export interface AutoquantOptions {
  /** Arguments of one model.forward to record shapes from, then finalize (unless manual). */
  exampleInputs?: readonly unknown[];
  /** Candidates (a class list, or configs named by their record); default DEFAULT_AUTOQUANT_CLASS_LIST. */
  classList?: readonly (AutoquantCandidate | QuantConfig)[];
  /** Which Linear layers take part, asked with the module and its qualified name (default: all). */
  filter?: (module: Linear, name: string) => boolean;
  /** Default ["interpolate", 0.85], torchao's default. */
  mode?: AutoquantMode;
  /** Minimum SQNR (dB) of a candidate's output against the float layer's; default none. */
  minSqnr?: number | null;
  /** Record over several forwards until finalizeAutoquant(model) (default false: finalize after the first). */
  manual?: boolean;
  /** A JSON file of timings, read if present and written back (default: the process's memory only). */
  cachePath?: string;
  /** A failing candidate: "skip" (default; a warning, and the report says why) or "throw". */
  onError?: "skip" | "throw";
  /** Warm-up and sample counts of each timing. */
  timer?: TimerOptions;
  /** Show a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
}

/** An autoquant in progress: its report once finalized. */
export interface AutoquantHandle {
  /** null until the layers are finalized. */
  readonly report: AutoquantReport | null;
}

interface Session extends AutoquantHandle {
  report: AutoquantReport | null;
  finalize(): AutoquantReport;
}

const sessions = new WeakMap<Module, Session>();

/** The options' candidates, checked: unique names. */
function candidateList(list: readonly (AutoquantCandidate | QuantConfig)[]): AutoquantCandidate[] {
  const out = list.map((c) => ("record" in c ? candidate(c) : c));
  const names = out.map((c) => c.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (out.length === 0 || dup !== undefined) throw invalid("autoquant", out.length === 0 ? "classList is empty" : `classList names ${JSON.stringify(dup)} twice`);
  return out;
}

function checkOptions(opts: AutoquantOptions): void {
  const { mode = "relu", minSqnr = null, onError = "skip" } = opts;
  const interp = Array.isArray(mode) && mode.length === 2 && mode[0] === "interpolate" && mode[1] >= 0 && mode[1] < 1;
  if (mode !== "relu" && !interp) throw invalid("autoquant", `mode must be "relu" or ["interpolate", c] with 0 <= c < 1, not ${JSON.stringify(mode)}`);
  if (minSqnr !== null && !Number.isFinite(minSqnr)) throw invalid("autoquant", `minSqnr must be a finite number, not ${minSqnr}`);
  if (onError !== "skip" && onError !== "throw") throw invalid("autoquant", `onError must be "skip" or "throw", not ${JSON.stringify(onError)}`);
}

/**
 * Starts autoquant on `model`: wraps the weights of the selected float Linears (layers already
 * quantized stay out) and returns the handle whose report appears when the layers are finalized:
 * at once when `exampleInputs` are given (and not manual), else after the model's next forward
 * (manual: at finalizeAutoquant(model)). That forward itself computes with the float weights.
 */
export function autoquant(model: Module, opts: AutoquantOptions = {}): AutoquantHandle {
  checkOptions(opts);
  if (sessions.has(model)) throw invalid("autoquant", "this model is already being autoquantized; finalize it first");
  const candidates = candidateList(opts.classList ?? DEFAULT_AUTOQUANT_CLASS_LIST);
  const layers = wrapLinears(model, opts.filter);
  const forward = model.forward;
  const session: Session = {
    report: null,
    finalize() {
      sessions.delete(model);
      if (!opts.manual) delete (model as { forward?: unknown }).forward;
      session.report = finalizeLayers(layers, candidates, opts);
      return session.report;
    },
  };
  sessions.set(model, session);
  if (!opts.manual) {
    Object.defineProperty(model, "forward", {
      configurable: true, writable: true,
      value: (...args: unknown[]) => {
        const y = (forward as (...a: unknown[]) => unknown).apply(model, args);
        session.finalize();
        return y;
      },
    });
  }
  if (opts.exampleInputs !== undefined) {
    const y = (model.forward as (...a: unknown[]) => unknown)(...opts.exampleInputs);
    if (y instanceof Tensor) y.dispose();
  }
  return session;
}

/** Measures and quantizes the recorded layers of an autoquant started with manual: true (or not yet run); returns the report. */
export function finalizeAutoquant(model: Module): AutoquantReport {
  const session = sessions.get(model);
  if (session === undefined) throw invalid("finalizeAutoquant", "autoquant(model) was not called, or the model is already finalized");
  return session.finalize();
}

/** Step 2 and 3 for every wrapped layer; any layer left wrapped (a throw) gets its float weight back. */
function finalizeLayers(layers: WrappedLinear[], candidates: AutoquantCandidate[], opts: AutoquantOptions): AutoquantReport {
  const device = layers.find((l) => recorder(l) !== null)?.linear.weight.device ?? "cpu";
  const cache = new TimingCache(opts.cachePath ?? null);
  const mode = opts.mode ?? ["interpolate", 0.85];
  const report: AutoquantReport = {
    device, deviceName: deviceName(device), mode: mode === "relu" ? "relu" : mode.join(" "), minSqnr: opts.minSqnr ?? null,
    measured: 0, fromCache: 0, cachePath: opts.cachePath ?? null, layers: [], unseen: [],
  };
  const seen = layers.filter((l) => (recorder(l)?.recorded.length ?? 0) > 0);
  const bar = layerProgress("autoquant", seen.length * candidates.length, opts.progress ?? process.stderr.isTTY === true);
  let current = "";
  const ctx: MeasureContext = {
    candidates, mode, minSqnr: opts.minSqnr ?? null, onError: opts.onError ?? "skip", cache, timer: opts.timer ?? {},
    counts: report, step: () => bar.step(current),
  };
  try {
    for (const layer of layers) {
      const { name, linear } = layer, w = recorder(layer);
      if (w === null) continue; // replaced since autoquant() wrapped it
      if (w.recorded.length === 0) {
        report.unseen.push(name);
        continue;
      }
      current = name;
      const result = measureLayer(name, w.weight, linear.bias, w.recorded, ctx);
      report.layers.push(result);
      const config = candidates.find((c) => c.name === result.choice)?.config ?? null;
      if (config === null) continue;
      linear.setParameter("weight", config.quantizeWeight(w.weight));
      w.dispose();
    }
  } finally {
    unwrapLinears(layers);
    bar.stop();
    cache.save();
  }
  return report;
}
