/** Prints benchmark rows as an aligned table and writes them as JSON under bench/out/. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { capabilities } from "../lib/index.ts";

export type Row = Record<string, string | number>;

const fmt = (v: string | number): string =>
  typeof v === "number" ? (Number.isInteger(v) ? String(v) : v >= 100 ? v.toFixed(1) : v.toPrecision(3)) : v;

/** Renders rows (same keys) as a text table. */
export function table(rows: Row[]): string {
  if (rows.length === 0) return "(no rows)";
  const keys = Object.keys(rows[0]!);
  const cells = [keys, ...rows.map((r) => keys.map((k) => fmt(r[k] ?? "")))];
  const widths = keys.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => s.padStart(widths[i]!)).join("  ");
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

/** Prints `title` and the table, and writes {title, device info, rows} to bench/out/<name>.json. */
export function report(name: string, title: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  console.log(`\n## ${title}\n`);
  console.log(table(rows));
  const dir = process.env.TAO_BENCH_OUT ?? join(dirname(fileURLToPath(import.meta.url)), "out");
  mkdirSync(dir, { recursive: true });
  const caps = capabilities();
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ title, date: new Date().toISOString(), devices: caps.cuda.devices, cpu: caps.cpu, ...extra, rows }, null, 2));
  console.log(`\n(written to ${file})`);
}
