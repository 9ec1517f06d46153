// The README's usage example runs as written (import rewritten to this checkout) and prints the
// SQNR it claims, so the front door cannot drift from the code.
import { expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

test("README example runs and reports the documented SQNR", () => {
  const root = join(import.meta.dir, "..");
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const file = join(root, "test", `.readme-example-${process.pid}.ts`);
  writeFileSync(file, code!.replace(/from "tao"/g, 'from "../lib/index.ts"'));
  try {
    const run = Bun.spawnSync([process.execPath, file], { stderr: "pipe" });
    const out = run.stdout.toString();
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
    expect(out).toContain("SQNR 20.0 dB");
  } finally {
    rmSync(file, { force: true });
  }
});
