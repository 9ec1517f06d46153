/** Runs every benchmark in this folder in sequence: `bun bench/run.ts` (npm run bench). */
const here = new URL(".", import.meta.url).pathname;
for (const script of ["ffi.ts", "quant.ts"]) {
  const p = Bun.spawnSync([process.execPath, `${here}${script}`, ...process.argv.slice(2)], { stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) process.exit(p.exitCode ?? 1);
}
