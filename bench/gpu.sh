#!/usr/bin/env bash
# On a GPU machine without Bun on its PATH: unpack the carried Bun (.carry/bun.xz), build
# libtao.so for one architecture, run the whole test suite (CUDA tests included) and the
# benchmarks, writing logs and JSON under $OUT (default ./bench/out).
# Usage: bash bench/gpu.sh [arch, default 90a] [test|bench|all, default all]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
BUN="${BUN:-$(command -v bun || true)}"
if [ -z "$BUN" ]; then
  xz -dc .carry/bun.xz > /tmp/bun && chmod +x /tmp/bun && BUN=/tmp/bun || { echo "no bun and no .carry/bun.xz"; exit 1; }
fi
# JS dependencies carried without the bun/deno binaries (tar czf .carry/nm.tgz node_modules minus those).
[ -f .carry/nm.tgz ] && tar xzf .carry/nm.tgz
cmake -S . -B build -DTAO_CUDA=on -DTAO_CUDA_ARCHS="${1:-90a}" > "$OUT/build.log" 2>&1 &&
  cmake --build build -j"$(nproc)" >> "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
grep "tao:" "$OUT/build.log"
test_rc=0
if [ "${2:-all}" != bench ]; then
  "$BUN" test --timeout=120000 2>&1 | tee "$OUT/test.log" | tail -25
  test_rc=${PIPESTATUS[0]}
fi
[ "${2:-all}" = test ] && exit "$test_rc"
export TAO_BENCH_OUT="$OUT"
"$BUN" bench/ffi.ts 2>&1 | tee "$OUT/bench-ffi.log"
"$BUN" bench/quant.ts 2>&1 | tee "$OUT/bench-quant.log"
"$BUN" bench/linear.ts 2>&1 | tee "$OUT/bench-linear.log"
"$BUN" bench/linear_weight_only.ts 2>&1 | tee "$OUT/bench-linear-weight-only.log"
"$BUN" bench/linear_nf4.ts 2>&1 | tee "$OUT/bench-linear-nf4.log"
"$BUN" bench/linear_uintx.ts 2>&1 | tee "$OUT/bench-linear-uintx.log"
"$BUN" bench/linear_w8a8.ts 2>&1 | tee "$OUT/bench-linear-w8a8.log"
"$BUN" bench/linear_float8.ts 2>&1 | tee "$OUT/bench-linear-float8.log"
"$BUN" bench/linear_sparse.ts 2>&1 | tee "$OUT/bench-linear-sparse.log"
"$BUN" bench/gptq.ts 2>&1 | tee "$OUT/bench-gptq.log"
"$BUN" bench/llama_ops.ts 2>&1 | tee "$OUT/bench-llama-ops.log"
"$BUN" bench/autoquant.ts 2>&1 | tee "$OUT/bench-autoquant.log"
g++ -O2 -std=c++17 -Iinclude bench/native/weight_only_probe.cpp -Lbuild -ltao -Wl,-rpath,"$PWD/build" -o /tmp/weight_only_probe &&
  /tmp/weight_only_probe check > "$OUT/probe-check.log" 2>&1; tail -1 "$OUT/probe-check.log"
# The same check with the Hopper wgmma kernel serving every m from 17, at each block width.
for w in 2 4; do
  TAO_WEIGHT_ONLY_WGMMA_FROM_M=17 TAO_WEIGHT_ONLY_WGMMA_UNTIL_M=100000 TAO_WEIGHT_ONLY_WGMMA_WIDTH=$w /tmp/weight_only_probe check \
    > "$OUT/probe-check-wgmma$w.log" 2>&1
  tail -1 "$OUT/probe-check-wgmma$w.log"
done
"$BUN" bench/llama.ts 2>&1 | tee "$OUT/bench-llama.log"
"$BUN" bench/demo.ts 2>&1 | tee "$OUT/demo.log"
exit "$test_rc"
