/** A cli-progress bar on stderr for the per-layer quantization flows (GPTQ, AWQ, autoquant). */
import cliProgress from "cli-progress";

/** What a flow reports progress through. */
export interface Progress {
  step(layer: string): void;
  stop(): void;
}

/** A bar titled `title` over `total` layers when `show` (default: stderr is a TTY), else a no-op. */
export function layerProgress(title: string, total: number, show = process.stderr.isTTY === true): Progress {
  if (!show) return { step: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({ format: `${title} [{bar}] {value}/{total} {layer}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { layer: "" });
  return { step: (layer) => bar.increment({ layer }), stop: () => bar.stop() };
}
