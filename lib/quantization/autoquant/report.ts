/** What autoquant measured and chose (AutoquantReport), and its text form (formatAutoquantReport). */
import type { RecordedShape } from "./recording_weight.ts";

/** One candidate on one layer. */
export interface CandidateResult {
  name: string;
  /** Median µs per call for each recorded shape (report.layers[i].shapes order); null where not timed. */
  shapeUs: (number | null)[];
  /** Σ count · µs over the shapes: the layer's time for the recorded calls; null when excluded. */
  totalUs: number | null;
  /** SQNR (dB) of the candidate's output against the float layer's, on the recorded shape with the fewest rows; null if not computed. */
  sqnr: number | null;
  /** Why it cannot be chosen (under minSqnr, config declines the weight, device lacks it, failed), or null. */
  excluded: string | null;
}

/** One autoquantized layer. */
export interface LayerReport {
  name: string;
  /** Every distinct call shape with its count. */
  shapes: RecordedShape[];
  candidates: CandidateResult[];
  /** The candidate chosen: the smallest totalUs among those not excluded ("none" if nothing qualified). */
  choice: string;
}

/** What autoquant did. */
export interface AutoquantReport {
  device: string;
  /** The device name in cache keys ("NVIDIA H100 80GB HBM3 sm90"). */
  deviceName: string;
  /** "relu" or "interpolate 0.85". */
  mode: string;
  minSqnr: number | null;
  /** Timings measured in this run. */
  measured: number;
  /** Timings taken from the cache (memory or file). */
  fromCache: number;
  cachePath: string | null;
  layers: LayerReport[];
  /** Layers the filter chose that never ran, left unquantized. */
  unseen: string[];
}

const fmt = (us: number | null) => (us === null ? "-" : us >= 1000 ? `${(us / 1000).toFixed(2)}ms` : `${us.toFixed(1)}us`);

/** The report as text: a header, then per layer its shapes and a row per candidate (the choice marked "*"). */
export function formatAutoquantReport(r: AutoquantReport): string {
  const source = r.measured === 0 ? `nothing measured: all ${r.fromCache} timings from the cache` : `${r.measured} timings measured, ${r.fromCache} from the cache`;
  const lines = [
    `autoquant on ${r.device} (${r.deviceName}), mode ${r.mode}, minSqnr ${r.minSqnr ?? "none"}: ${source}` +
      (r.cachePath ? ` (${r.cachePath})` : ""),
  ];
  for (const l of r.layers) {
    const shapes = l.shapes.map((s) => `${s.x[0]}x${s.x[1]}·${s.weight[0]} ×${s.count}`).join(", ");
    lines.push(`${l.name || "(model)"}: ${shapes} -> ${l.choice}`);
    for (const c of l.candidates) {
      const mark = c.name === l.choice ? "*" : " ";
      const sq = c.sqnr === null ? "-" : Number.isFinite(c.sqnr) ? `${c.sqnr.toFixed(1)}dB` : "inf";
      lines.push(`  ${mark} ${c.name.padEnd(14)} ${fmt(c.totalUs).padStart(9)}  sqnr ${sq.padStart(7)}` + (c.excluded ? `  (${c.excluded})` : ""));
    }
  }
  if (r.unseen.length > 0) lines.push(`never ran, left unquantized: ${r.unseen.join(", ")}`);
  return lines.join("\n");
}
