/** Runs the kernel benchmarks of this folder in sequence: `bun bench/run.ts` (npm run bench, tao bench kernels). */
const here = new URL(".", import.meta.url).pathname;
const scripts = ["ffi.ts", "quant.ts", "linear.ts", "linear_weight_only.ts", "linear_w8a8.ts", "linear_float8.ts", "linear_sparse.ts", "llama_ops.ts"];
for (const script of scripts) {
  const p = Bun.spawnSync([process.execPath, `${here}${script}`, ...process.argv.slice(2)], { stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) process.exit(p.exitCode ?? 1);
}
