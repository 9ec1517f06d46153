/** A horizontal bar chart as a standalone SVG file under $TAO_BENCH_OUT (bench/out by default). */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Writes `bars` (label, value) as bars scaled to the largest value, titled `title`; returns the path. */
export function barChart(file: string, title: string, bars: [string, number][]): string {
  const rowH = 28, left = 150, width = 640, top = 40, max = Math.max(...bars.map(([, v]) => v), 1e-9);
  const body = bars.map(([label, v], i) => {
    const y = top + i * rowH, w = ((width - left - 90) * v) / max;
    return `<text x="${left - 8}" y="${y + 18}" text-anchor="end">${escape(label)}</text>` +
      `<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="#4e79a7"/>` +
      `<text x="${(left + w + 6).toFixed(1)}" y="${y + 18}">${v.toPrecision(4)}</text>`;
  });
  const height = top + bars.length * rowH + 10;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">` +
    `<text x="10" y="24" font-size="15" font-weight="bold">${escape(title)}</text>${body.join("")}</svg>\n`;
  const dir = process.env.TAO_BENCH_OUT ?? join(dirname(fileURLToPath(import.meta.url)), "out");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, svg);
  return path;
}
