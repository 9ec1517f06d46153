// `tao bench`: a bad benchmark name is a usage error (exit 2); `tao bench llama` on the CPU with the
// tiny preset runs bench/llama.ts and prints its table.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const out = mkdtempSync(join(tmpdir(), "tao-bench-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const tao = (...args: string[]) =>
  Bun.spawnSync([process.execPath, join(import.meta.dir, "..", "bin", "tao.ts"), ...args], { stderr: "pipe", env: { ...process.env, TAO_BENCH_OUT: out } });

test("tao bench: unknown benchmark exits 2 with one line", () => {
  const r = tao("bench", "nope");
  expect(r.exitCode).toBe(2);
  expect(r.stderr.toString().trim().split("\n")).toHaveLength(1);
  expect(r.stderr.toString()).toMatch(/unknown benchmark "nope"/);
});

test("tao bench llama runs the decode benchmark (CPU, tiny preset)", () => {
  const r = tao("bench", "llama", "--device", "cpu", "--preset", "tiny", "--schemes", "f32,int8wo", "--batches", "1", "--steps", "4", "--peer", "off");
  expect(r.exitCode).toBe(0);
  const out = r.stdout.toString();
  expect(out).toMatch(/Llama decode \(cpu, tiny shapes/);
  expect(out).toMatch(/int8wo/);
  expect(out).toMatch(/PyTorch peer not run \(--peer off\)/);
});
