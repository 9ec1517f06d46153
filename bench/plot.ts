/** A horizontal bar chart as a standalone SVG file under $TAO_BENCH_OUT (bench/out by default). */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** One bar: label, value and, optionally, the series it belongs to (one colour per series, with a legend). */
export type Bar = [label: string, value: number, series?: string];

const COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];

/**
 * Writes `bars` as bars scaled to the largest value, titled `title`; returns the path. A bar whose
 * label repeats the previous one's is drawn under it unlabelled (a group: one scheme, several series).
 */
export function barChart(file: string, title: string, bars: Bar[]): string {
  const rowH = 28, left = 150, width = 640, max = Math.max(...bars.map(([, v]) => v), 1e-9);
  const series = [...new Set(bars.map(([, , s]) => s).filter((s) => s !== undefined))];
  const colour = (s: string | undefined) => COLOURS[Math.max(series.indexOf(s!), 0) % COLOURS.length];
  const legend = series.length > 1 ? series.map((s, i) =>
    `<rect x="${left + i * 200}" y="34" width="12" height="12" fill="${colour(s)}"/><text x="${left + i * 200 + 18}" y="45">${escape(s)}</text>`).join("") : "";
  const top = legend ? 56 : 40;
  const body = bars.map(([label, v, s], i) => {
    const y = top + i * rowH, w = ((width - left - 90) * v) / max;
    const name = i > 0 && bars[i - 1]![0] === label ? "" : `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${escape(label)}</text>`;
    return name + `<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colour(s)}"/>` +
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 18}">${v.toPrecision(4)}</text>`;
  });
  const height = top + bars.length * rowH + 10;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">` +
    `<text x="10" y="24" font-size="15" font-weight="bold">${escape(title)}</text>${legend}${body.join("")}</svg>\n`;
  const dir = process.env.TAO_BENCH_OUT ?? join(dirname(fileURLToPath(import.meta.url)), "out");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, svg);
  return path;
}
