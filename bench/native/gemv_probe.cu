// Sweep of the m <= 8 weight-only kernels (the GEMV geometries of kernels/cuda/weight_only_gemv.cuh and
// the block kernel of weight_only_gemm.cuh) on the GPU machine, without libtao or Bun: every variant
// is checked against a float64 reference (output poisoned with NaN first), then timed with a clean L2
// (a read-only pass over 256 MB before each sample, CUDA events around the launch, median of 40),
// beside a read-only pass over the same weight bytes (the ceiling a GEMV can reach). Last it prints
// the CMake TAO_GEMV_TUNING value of the sweep's choices: per policy and weight class (large: 2^25+
// elements), the geometry with the smallest worst ratio to each shape's fastest, over all m given.
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Iinclude --expt-relaxed-constexpr \
//        bench/native/gemv_probe.cu -o gemv_probe && ./gemv_probe [int4|int8|both] [m <= 8 ...]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <string>
#include <random>
#include <vector>

#include "../../kernels/common/int4_tiled.h"
#include "../../kernels/cuda/int4_tiled_policy.cuh"
#include "../../kernels/cuda/int8_rows_policy.cuh"
#include "../../kernels/cuda/read_kernel.cuh"
#include "../../kernels/cuda/weight_only_gemv.cuh"

using namespace tao;
using namespace tao::cuda;

#define CK(call)                                                                                   \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess) {                                                                       \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));        \
      exit(2);                                                                                     \
    }                                                                                              \
  } while (0)

namespace {

std::mt19937_64 rng(20261207);
cudaStream_t stream;
uint4* flush_buf;
constexpr uint64_t kFlushBytes = 256ull << 20;

void read_pass(const void* p, uint64_t bytes) { read_kernel<<<132 * 8, 256, 0, stream>>>((const uint4*)p, bytes / 16, nullptr); }

// Median µs of launch() over 40 samples, each after a clean-L2 flush.
template <class F>
double time_us(F&& launch) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> t;
  for (int i = 0; i < 45; ++i) {
    read_pass(flush_buf, kFlushBytes);
    CK(cudaEventRecord(a, stream));
    launch();
    CK(cudaEventRecord(b, stream));
    CK(cudaEventSynchronize(b));
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    if (i >= 5) t.push_back(ms * 1000.0f);
  }
  CK(cudaGetLastError());
  std::sort(t.begin(), t.end());
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return t[t.size() / 2];
}

struct Problem {
  int64_t m, n, k;
  bool int8 = false;  // int8 rows (per-row scale) instead of int4 tinygemm g128
  int group = 128;
  std::vector<uint16_t> x;      // bf16 [m][k]
  std::vector<double> ref;      // [m][n]
  uint16_t* dx;
  uint16_t* dy;
  uint32_t* dpacked;
  uint32_t* dsz;
  int8_t* dq;
  uint16_t* dscale;
  uint64_t weight_bytes;
};

// Fresh random x [m][k] (bf16) and its float64 product with the rows wrow(c) of W.
template <class Row>
void fill_x_and_reference(Problem& p, Row&& wrow_of) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.x.resize(p.m * p.k);
  for (auto& e : p.x) e = f32_to_bf16(nd(rng));
  p.ref.assign(p.m * p.n, 0.0);
  std::vector<double> xd(p.m * p.k), wrow(p.k);
  for (int64_t i = 0; i < p.m * p.k; ++i) xd[i] = bf16_to_f32(p.x[i]);
  for (int64_t c = 0; c < p.n; ++c) {
    wrow_of(c, wrow);
    for (int64_t r = 0; r < p.m; ++r) {
      double acc = 0;
      for (int64_t j = 0; j < p.k; ++j) acc += xd[r * p.k + j] * wrow[j];
      p.ref[r * p.n + c] = acc;
    }
  }
  CK(cudaMalloc(&p.dx, p.m * p.k * 2));
  CK(cudaMalloc(&p.dy, p.m * p.n * 2));
  CK(cudaMemcpy(p.dx, p.x.data(), p.m * p.k * 2, cudaMemcpyHostToDevice));
}

Problem make_int8(int64_t m, int64_t n, int64_t k) {
  Problem p{m, n, k, true};
  std::vector<int8_t> q(n * k);
  for (auto& e : q) e = (int8_t)(rng() % 255 - 127);
  std::vector<uint16_t> scale(n);
  std::uniform_real_distribution<float> su(0.001f, 0.01f);
  for (auto& e : scale) e = f32_to_bf16(su(rng));
  fill_x_and_reference(p, [&](int64_t c, std::vector<double>& w) {
    for (int64_t j = 0; j < k; ++j) w[j] = q[c * k + j] * (double)bf16_to_f32(scale[c]);
  });
  CK(cudaMalloc(&p.dq, q.size()));
  CK(cudaMalloc(&p.dscale, n * 2));
  CK(cudaMemcpy(p.dq, q.data(), q.size(), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(p.dscale, scale.data(), n * 2, cudaMemcpyHostToDevice));
  p.weight_bytes = q.size() + n * 2;
  return p;
}

Problem make(int64_t m, int64_t n, int64_t k) {
  Problem p{m, n, k};
  const int T = 8, G = p.group;
  std::vector<uint8_t> q(n * k);
  for (auto& e : q) e = rng() % 16;
  std::uniform_real_distribution<float> su(0.005f, 0.02f), zu(-0.1f, 0.1f);
  std::vector<uint32_t> sz(k / G * n);
  for (auto& e : sz) e = f32_to_bf16(su(rng)) | ((uint32_t)f32_to_bf16(zu(rng)) << 16);
  const Int4Tiled g{n, k, T, k / (16 * T), n / 8 * (k / (16 * T)) * 32 * T / 2};
  std::vector<uint32_t> packed(g.words);
  for (int64_t w = 0; w < g.words; ++w) packed[w] = int4_tiled_pack_word(g, q.data(), w);
  fill_x_and_reference(p, [&](int64_t c, std::vector<double>& w) {
    for (int64_t j = 0; j < k; ++j) {
      const uint32_t e = sz[(j / G) * n + c];
      w[j] = (q[c * k + j] - 8.0) * bf16_to_f32(e & 0xFFFF) + bf16_to_f32(e >> 16);
    }
  });
  CK(cudaMalloc(&p.dpacked, packed.size() * 4));
  CK(cudaMalloc(&p.dsz, sz.size() * 4));
  CK(cudaMemcpy(p.dpacked, packed.data(), packed.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(p.dsz, sz.data(), sz.size() * 4, cudaMemcpyHostToDevice));
  p.weight_bytes = packed.size() * 4 + sz.size() * 4;
  return p;
}

void release(Problem& p) {
  CK(cudaFree(p.dx));
  CK(cudaFree(p.dy));
  if (p.int8) {
    CK(cudaFree(p.dq));
    CK(cudaFree(p.dscale));
  } else {
    CK(cudaFree(p.dpacked));
    CK(cudaFree(p.dsz));
  }
}

using Int4Policy = tao::cuda::int4::Int4TiledWeights<8, 128>;
using Bf16 = Act<TAO_BF16>;

tao::cuda::int4::Int4TiledArgs args_of(const Problem& p, const Int4Policy*) {
  return tao::cuda::int4::int4_tiled_args(p.dpacked, p.dsz, p.n, p.k, p.k / 128, p.group);
}
Int8Rows::Args args_of(const Problem& p, const Int8Rows*) { return {p.dq, p.dscale, p.n, p.k, p.k, false}; }

wo::Shape shape_of(const Problem& p) { return wo::Shape{p.m, p.n, p.k, p.k, 1, 1, p.dx, nullptr, p.dy, nullptr, nullptr}; }

// ||y − ref|| / ||ref|| after one launch on a poisoned y (inf when a NaN is left).
template <class F>
double check(Problem& p, F&& launch) {
  CK(cudaMemsetAsync(p.dy, 0xFF, p.m * p.n * 2, stream));
  launch();
  CK(cudaGetLastError());
  std::vector<uint16_t> y(p.m * p.n);
  CK(cudaMemcpyAsync(y.data(), p.dy, y.size() * 2, cudaMemcpyDeviceToHost, stream));
  CK(cudaStreamSynchronize(stream));
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double v = bf16_to_f32(y[i]);
    if (!isfinite(v)) return INFINITY;
    num += (v - p.ref[i]) * (v - p.ref[i]);
    den += p.ref[i] * p.ref[i];
  }
  return sqrt(num / den);
}

uint32_t* counters;
float* partials;

// The block kernel (weight_only_gemm.cuh) as the library launches it at m <= 8.
template <class P>
void block_kernel(const Problem& p) {
  auto* kernel = wo::weight_only_kernel<P, Bf16, 1, P::kDepth>;
  constexpr int smem = 8 * ((wo::stage_k<1>() + P::kXPadBytes / 2) * 2 + (wo::stage_k<1>() / 32 + 1) * 4);
  static int resident = 0;
  if (!resident) {
    CK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, wo::kThreads, smem));
  }
  wo::Shape s = shape_of(p);
  const int64_t tiles = (p.n + 16 * wo::kWarps - 1) / (16 * wo::kWarps);
  wo::choose_split(s, tiles, (int64_t)resident * 132, (p.k + 127) / 128, 128, 1 << 16);
  s.counters = counters;
  s.partial = partials;
  kernel<<<(unsigned)(tiles * s.splits), wo::kThreads, smem, stream>>>(args_of(p, (const P*)nullptr), s);
}

struct Best {
  double us = 1e30;
  char name[64] = "";
};

// Times of every correct variant: (policy, m, n, k) -> code -> µs (code 0: the block kernel).
std::map<std::string, std::map<int, double>> results;
std::string key_of(const Problem& p) {
  return std::string(p.int8 ? "INT8" : "INT4") + " " + std::to_string(p.m) + " " + std::to_string(p.n) + " " + std::to_string(p.k);
}

template <class P, int CT, int KS, int D, int B, int MINB = 1>
void gemv_variant(Problem& p, Best& best) {
  auto* kernel = wo::weight_only_gemv_kernel<P, Bf16, CT, KS, D, B, MINB>;
  const wo::GemvPlan plan = wo::gemv_plan<P>(p.m, p.k, CT, KS, D);
  if (plan.smem > 220 * 1024) {
    printf("  gemv CT%d KS%d D%d B%d MB%d  skipped: %d bytes of shared memory\n", CT, KS, D, B, MINB, plan.smem);
    return;
  }
  CK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, plan.smem));
  cudaFuncAttributes fa;
  CK(cudaFuncGetAttributes(&fa, kernel));
  int resident = 0;
  CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, CT * KS * 32, plan.smem));
  const unsigned blocks = (unsigned)((p.n + 16 * CT - 1) / (16 * CT));
  auto launch = [&] { kernel<<<blocks, CT * KS * 32, plan.smem, stream>>>(args_of(p, (const P*)nullptr), shape_of(p), plan); };
  const double err = check(p, launch);
  const double us = time_us(launch);
  printf("  gemv CT%d KS%d D%d B%d MB%d  regs %3d  blocks %5u (%d/SM) kc %5d x%d  err %.1e  %7.2f us  %.3f of bound\n", CT, KS, D, B,
         MINB, fa.numRegs, blocks, resident, plan.kc, plan.chunks, err, us, p.weight_bytes / 3.0e6 / us);
  if (err >= 1e-2) return;
  results[key_of(p)][CT * 10000 + KS * 1000 + D * 100 + B * 10 + MINB] = us;
  if (us < best.us) {
    best.us = us;
    snprintf(best.name, sizeof best.name, "CT%d KS%d D%d B%d MB%d", CT, KS, D, B, MINB);
  }
}

template <class P, int D, int B>
void sweep_blocks(Problem& p, Best& best) {
  gemv_variant<P, 8, 1, D, B>(p, best);
  gemv_variant<P, 4, 2, D, B>(p, best);
  gemv_variant<P, 2, 4, D, B>(p, best);
  gemv_variant<P, 1, 8, D, B>(p, best);
  gemv_variant<P, 4, 1, D, B>(p, best);
  gemv_variant<P, 2, 2, D, B>(p, best);
  gemv_variant<P, 1, 4, D, B>(p, best);
}

template <class P>
void run_shape(Problem& p) {
  const double bound = p.weight_bytes / 3.0e6;
  printf("%s m=%ld n=%ld k=%ld: bound %.2f us (%.1f MB)\n", p.int8 ? "int8" : "int4 g128", (long)p.m, (long)p.n, (long)p.k, bound,
         p.weight_bytes / 1e6);
  const void* w = p.int8 ? (const void*)p.dq : (const void*)p.dpacked;
  const uint64_t wbytes = p.int8 ? (uint64_t)(p.n * p.k) : (uint64_t)(p.n * p.k / 2);
  const double read_us = time_us([&] { read_pass(w, wbytes); });
  printf("  read-only pass over the weight's values  %7.2f us  %.3f of their bound\n", read_us, wbytes / 3.0e6 / read_us);
  const double err_block = check(p, [&] { block_kernel<P>(p); });
  const double block_us = time_us([&] { block_kernel<P>(p); });
  printf("  block kernel (weight_only_gemm)  err %.1e  %7.2f us  %.3f of bound\n", err_block, block_us, bound / block_us);
  if (err_block < 1e-2) results[key_of(p)][0] = block_us;
  Best best;
  sweep_blocks<P, 3, 1>(p, best);
  sweep_blocks<P, 4, 2>(p, best);
  sweep_blocks<P, 4, 4>(p, best);
  sweep_blocks<P, 8, 4>(p, best);
  // Register caps for more resident warps (256 threads: 3 blocks = 85 registers, 4 = 64).
  gemv_variant<P, 4, 2, 4, 2, 3>(p, best);
  gemv_variant<P, 2, 4, 4, 2, 3>(p, best);
  gemv_variant<P, 4, 2, 4, 4, 3>(p, best);
  gemv_variant<P, 4, 2, 4, 2, 4>(p, best);
  gemv_variant<P, 2, 4, 4, 4, 4>(p, best);
  gemv_variant<P, 8, 1, 4, 2, 3>(p, best);
  printf("  best: %s %.2f us = %.3f of bound (block kernel %.2f us = %.3f)\n\n", best.name, best.us, bound / best.us, block_us, bound / block_us);
}

// Per policy and weight class, the code (0: block kernel) whose worst ratio to the fastest variant of
// each shape of the class is smallest; printed as the CMake TAO_GEMV_TUNING value.
void print_tuning() {
  std::string tuning;
  for (const char* pol : {"INT4", "INT8"})
    for (bool large : {true, false}) {
      std::map<int, double> worst;
      bool first = true;
      for (const auto& [key, times] : results) {
        long m, n, k;
        char name[8];
        if (sscanf(key.c_str(), "%7s %ld %ld %ld", name, &m, &n, &k) != 4 || strcmp(name, pol) != 0 || (n * k >= (1L << 25)) != large) continue;
        double fastest = 1e30;
        for (const auto& [code, us] : times) fastest = std::min(fastest, us);
        std::map<int, double> next;
        for (const auto& [code, us] : times)
          if (first || worst.count(code)) next[code] = std::max(first ? 0.0 : worst[code], us / fastest);
        worst = next;
        first = false;
      }
      if (worst.empty()) continue;
      auto pick = std::min_element(worst.begin(), worst.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
      printf("# %s %s: %d (worst ratio %.3f; block kernel %.3f)\n", pol, large ? "LARGE" : "SMALL", pick->first, pick->second,
             worst.count(0) ? worst[0] : NAN);
      tuning += (tuning.empty() ? "" : ";") + std::string("TAO_GEMV_") + pol + (large ? "_LARGE=" : "_SMALL=") + std::to_string(pick->first);
    }
  printf("TAO_GEMV_TUNING=%s\n", tuning.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  CK(cudaMalloc(&flush_buf, kFlushBytes));
  CK(cudaMemset(flush_buf, 0, kFlushBytes));
  CK(cudaMalloc(&counters, 1 << 20));
  CK(cudaMemset(counters, 0, 1 << 20));
  CK(cudaMalloc(&partials, 64 << 20));
  for (int i = 0; i < 200; ++i) read_pass(flush_buf, kFlushBytes);  // clocks up before the first sample
  // argv: [int4|int8|both] m...
  const char* which = argc > 1 ? argv[1] : "both";
  std::vector<int> ms;
  for (int i = 2; i < argc; ++i) ms.push_back(atoi(argv[i]));
  if (ms.empty()) ms = {1};
  for (int m : ms)
    if (m < 1 || m > wo::kGemvMaxRows) {
      fprintf(stderr, "m must be 1..%d\n", wo::kGemvMaxRows);
      return 2;
    }
  const int64_t shapes[][2] = {{28672, 4096}, {4096, 14336}, {6144, 4096}, {4096, 4096}};
  for (int m : ms)
    for (auto& sh : shapes) {
      if (strcmp(which, "int8") != 0) {
        Problem p = make(m, sh[0], sh[1]);
        run_shape<Int4Policy>(p);
        release(p);
      }
      if (strcmp(which, "int4") != 0) {
        Problem p = make_int8(m, sh[0], sh[1]);
        run_shape<Int8Rows>(p);
        release(p);
      }
    }
  print_tuning();
  return 0;
}
