#!/usr/bin/env node
// Builds build/libtao.so with CMake (run by `npm install` and `npm run build`).
// CUDA is built when nvcc is found (TAO_CUDA=auto|on|off, TAO_CUDA_ARCHS, default 80;89;90a);
// TAO_SKIP_BUILD=1 skips the build (e.g. when TAO_LIB points at a prebuilt library).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = process.env;

if (env.TAO_SKIP_BUILD === "1") {
  console.log("tao: TAO_SKIP_BUILD=1, not building libtao.so");
  process.exit(0);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.error) {
    console.error(`tao: cannot run ${cmd}: ${r.error.message}` + (cmd === "cmake" ? " (install cmake >= 3.24 and a C++17 compiler)" : ""));
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const build = env.TAO_BUILD_DIR ?? join(root, "build");
const args = ["-S", root, "-B", build, "-DCMAKE_BUILD_TYPE=Release", `-DTAO_CUDA=${env.TAO_CUDA ?? "auto"}`];
if (env.TAO_CUDA_ARCHS) args.push(`-DTAO_CUDA_ARCHS=${env.TAO_CUDA_ARCHS}`);
if (env.CUSPARSELT_ROOT) args.push(`-DCUSPARSELT_ROOT=${env.CUSPARSELT_ROOT}`);
run("cmake", args);
run("cmake", ["--build", build, "-j", String(Math.max(1, cpus().length))]);
if (!existsSync(join(build, "libtao.so"))) {
  console.error(`tao: the build finished but ${join(build, "libtao.so")} is missing`);
  process.exit(1);
}
console.log(`tao: built ${join(build, "libtao.so")}`);
