// Native check and timing of the weight-only linears through the C ABI only, for kernel work on
// the GPU machine without Bun (bench/gpu.sh builds and runs it):
//   weight_only_probe check   every path against a float64 reference (many m, odd sizes)
//   weight_only_probe time    the issue-3 shapes and m, beside tao_linear bf16 (cuBLASLt)
//   weight_only_probe quick   the two large shapes at m = 1, 16, 64
//   weight_only_probe m1      the four shapes at m = 1
//   weight_only_probe mid     the four shapes at m = 32 .. 1024
//   weight_only_probe big     the four shapes at m = 256 .. 4096
//   weight_only_probe once N K M   one call of each at one size (for a profiler)
// Outputs are poisoned (NaN) before each call; any unwritten or non-finite value fails.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include "../../kernels/common/convert.h"
#include "tao.h"

namespace {

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != TAO_OK) {                                                      \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, tao_last_error()); \
      exit(2);                                                                   \
    }                                                                            \
  } while (0)

std::mt19937_64 rng(20261125);

uint16_t to_dtype(float v, int dtype) { return dtype == TAO_F16 ? tao::f32_to_f16(v) : tao::f32_to_bf16(v); }
double from_dtype(uint16_t v, int dtype) { return dtype == TAO_F16 ? tao::f16_to_f32(v) : tao::bf16_to_f32(v); }

struct Gpu {
  tao_ctx* ctx = nullptr;
  tao_ctx* cpu = nullptr;
  Gpu() {
    CHECK(tao_ctx_create(0, &ctx));
    CHECK(tao_ctx_create(-1, &cpu));
    CHECK(tao_ctx_init_mathlibs(ctx, TAO_MATHLIB_CUBLASLT));
  }
  template <class T>
  void* up(const std::vector<T>& h) {
    void* d;
    CHECK(tao_alloc(ctx, h.size() * sizeof(T), &d));
    CHECK(tao_copy(ctx, d, h.data(), h.size() * sizeof(T), TAO_COPY_H2D));
    return d;
  }
  template <class T>
  std::vector<T> down(const void* d, size_t n) {
    std::vector<T> h(n);
    CHECK(tao_copy(ctx, h.data(), d, n * sizeof(T), TAO_COPY_D2H));
    CHECK(tao_ctx_synchronize(ctx));
    return h;
  }
};

std::vector<uint16_t> random_act(size_t n, int dtype) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& e : v) e = to_dtype(d(rng), dtype);
  return v;
}

// ||y - ref|| / ||ref||, or +inf when y has a non-finite value (NaN poison left).
double rel_err(const std::vector<uint16_t>& y, const std::vector<double>& ref, int dtype) {
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double v = from_dtype(y[i], dtype);
    if (!isfinite(v)) return INFINITY;
    num += (v - ref[i]) * (v - ref[i]);
    den += ref[i] * ref[i];
  }
  return sqrt(num / den);
}

// An int4 tinygemm weight: plain q, its packing, bf16 (scale, zero) pairs, exact float64 W.
struct Int4W {
  int64_t n, k;
  int tiles, group;
  std::vector<uint8_t> q;
  std::vector<int32_t> packed;
  std::vector<uint16_t> sz;
  std::vector<double> w;
};

Int4W make_int4(Gpu& g, int64_t n, int64_t k, int tiles, int group) {
  Int4W r{n, k, tiles, group, std::vector<uint8_t>(n * k), std::vector<int32_t>(n * k / 8), std::vector<uint16_t>(k / group * n * 2),
          std::vector<double>(n * k)};
  for (auto& e : r.q) e = rng() % 16;
  std::uniform_real_distribution<float> su(0.005f, 0.02f), zu(-0.1f, 0.1f);
  for (int64_t i = 0; i < k / group * n; ++i) r.sz[2 * i] = tao::f32_to_bf16(su(rng)), r.sz[2 * i + 1] = tao::f32_to_bf16(zu(rng));
  CHECK(tao_pack_int4_tensor_core_tiled(g.cpu, r.q.data(), r.packed.data(), n, k, tiles));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const uint16_t* p = &r.sz[((j / group) * n + i) * 2];
      r.w[i * k + j] = (r.q[i * k + j] - 8.0) * tao::bf16_to_f32(p[0]) + tao::bf16_to_f32(p[1]);
    }
  return r;
}

std::vector<double> reference(const std::vector<uint16_t>& x, const std::vector<double>& w, const std::vector<double>& col_scale,
                              const std::vector<uint16_t>* bias, int64_t m, int64_t n, int64_t k, int dtype) {
  std::vector<double> y(m * n);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < n; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < k; ++j) acc += from_dtype(x[r * k + j], dtype) * w[c * k + j];
      y[r * n + c] = acc * col_scale[c] + (bias ? from_dtype((*bias)[c], dtype) : 0.0);
    }
  return y;
}

// ||y − ref|| / ||ref|| for call(x, bias, y) on fresh random x [m, k] and bias [n] of dtype, y
// poisoned with NaN first; ref = reference(x, w, col_scale, bias).
template <class F>
double poisoned_rel_err(Gpu& g, int64_t m, int64_t n, int64_t k, int dtype, const std::vector<double>& w,
                        const std::vector<double>& col_scale, F&& call) {
  std::vector<uint16_t> x = random_act(m * k, dtype), bias = random_act(n, dtype);
  void* dx = g.up(x);
  void* db = g.up(bias);
  void* dy;
  CHECK(tao_alloc(g.ctx, m * n * 2, &dy));
  CHECK(tao_memset(g.ctx, dy, 0xFF, m * n * 2));
  call(dx, db, dy);
  const double err = rel_err(g.down<uint16_t>(dy, m * n), reference(x, w, col_scale, &bias, m, n, k, dtype), dtype);
  for (void* p : {dx, db, dy}) CHECK(tao_free(g.ctx, p));
  return err;
}

int failures = 0;

void report(const char* what, double err, double tol) {
  const bool ok = err <= tol;
  failures += !ok;
  if (!ok || getenv("PROBE_VERBOSE")) printf("%s %s rel_err=%.2e (tol %.0e)\n", ok ? "ok  " : "FAIL", what, err, tol);
}

void check_int4(Gpu& g) {
  struct S { int64_t n, k; int tiles; } shapes[] = {{64, 256, 8}, {136, 384, 4}, {40, 160, 2}, {264, 1024, 8}};
  const char* dense_env = getenv("TAO_WEIGHT_ONLY_DENSE_FROM_M");
  auto check = [&](S sh, int group, std::vector<int64_t> ms) {
    Int4W w = make_int4(g, sh.n, sh.k, sh.tiles, group);
    void* dp = g.up(w.packed);
    void* dsz = g.up(w.sz);
    for (int dtype : {TAO_BF16, TAO_F16})
      for (int64_t m : ms) {
        const double err = poisoned_rel_err(g, m, sh.n, sh.k, dtype, w.w, std::vector<double>(sh.n, 1.0), [&](void* dx, void* db, void* dy) {
          CHECK(tao_linear_int4_tensor_core_tiled(g.ctx, dx, dp, dsz, db, dy, dtype, m, sh.n, sh.k, sh.tiles, group));
        });
        char what[160];
        snprintf(what, sizeof what, "int4 %s n=%lld k=%lld T=%d g=%d m=%lld dense_from=%s", dtype == TAO_F16 ? "f16" : "bf16",
                 (long long)sh.n, (long long)sh.k, sh.tiles, group, (long long)m, dense_env ? dense_env : "default");
        report(what, err, dtype == TAO_F16 && !dense_env ? 2e-3 : 8e-3);  // paths for larger m round W to bf16 first
      }
    CHECK(tao_free(g.ctx, dp));
    CHECK(tao_free(g.ctx, dsz));
  };
  for (auto sh : shapes)
    for (int group : {32, 64, 128, 256})
      if (sh.k % group == 0) check(sh, group, {1, 3, 8, 9, 16, 17, 33, 77, 256});
  // A weight of 2^25 elements, which Hopper serves with the wgmma kernel from m = 17 on.
  check({8192, 4096, 8}, 128, {17, 24, 40});
}

void check_int8(Gpu& g) {
  const int64_t ms[] = {1, 3, 8, 9, 16, 17, 33, 77, 256};
  struct S { int64_t n, k; } shapes[] = {{64, 256}, {72, 77}, {100, 333}, {264, 1024}, {7, 16}};
  for (auto sh : shapes) {
    std::vector<int8_t> q(sh.n * sh.k);
    for (auto& e : q) e = (int8_t)(rng() % 256 - 128);
    std::vector<double> w(q.begin(), q.end());
    void* dq = g.up(q);
    for (int dtype : {TAO_BF16, TAO_F16}) {
      std::vector<uint16_t> scale(sh.n);
      std::vector<double> s(sh.n);
      std::uniform_real_distribution<float> su(0.001f, 0.01f);
      for (int64_t i = 0; i < sh.n; ++i) scale[i] = to_dtype(su(rng), dtype), s[i] = from_dtype(scale[i], dtype);
      void* ds = g.up(scale);
      for (int64_t m : ms) {
        const double err = poisoned_rel_err(g, m, sh.n, sh.k, dtype, w, s, [&](void* dx, void* db, void* dy) {
          CHECK(tao_linear_int8_weight_only(g.ctx, dx, dq, ds, db, dy, dtype, m, sh.n, sh.k));
        });
        char what[160];
        snprintf(what, sizeof what, "int8 %s n=%lld k=%lld m=%lld", dtype == TAO_F16 ? "f16" : "bf16", (long long)sh.n,
                 (long long)sh.k, (long long)m);
        report(what, err, dtype == TAO_F16 && !getenv("TAO_WEIGHT_ONLY_DENSE_FROM_M") ? 1e-3 : 5e-3);  // dense: q·s rounded
      }
      CHECK(tao_free(g.ctx, ds));
    }
    CHECK(tao_free(g.ctx, dq));
  }
}

// Median of `reps` timed calls (device events), the L2 flushed before each.
template <class F>
double time_us(Gpu& g, void* flush, F&& f, int reps = 30) {
  tao_event *a, *b;
  CHECK(tao_event_create(g.ctx, &a));
  CHECK(tao_event_create(g.ctx, &b));
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    CHECK(tao_read(g.ctx, flush, 256 << 20));  // a clean L2 (bench/harness.ts says why)
    CHECK(tao_event_record(g.ctx, a));
    f();
    CHECK(tao_event_record(g.ctx, b));
    CHECK(tao_ctx_synchronize(g.ctx));
    float ms;
    CHECK(tao_event_elapsed_ms(a, b, &ms));
    t.push_back(ms * 1000.0);
  }
  CHECK(tao_event_destroy(a));
  CHECK(tao_event_destroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void time_all(Gpu& g, std::vector<std::array<int64_t, 2>> shapes, std::vector<int64_t> ms, int reps) {
  void* flush;
  CHECK(tao_alloc(g.ctx, 256 << 20, &flush));
  printf("%-14s %5s %9s %9s %9s %7s %7s %7s %7s\n", "shape", "m", "bf16_us", "int4_us", "int8_us", "i4/bw", "i8/bw", "bf/i4", "bf/i8");
  for (auto& sh : shapes) {
    const int64_t n = sh[0], k = sh[1], mmax = *std::max_element(ms.begin(), ms.end());
    void *w, *x, *y, *packed, *sz, *q8, *s8;
    CHECK(tao_alloc(g.ctx, n * k * 2, &w));
    CHECK(tao_alloc(g.ctx, mmax * k * 2, &x));
    CHECK(tao_alloc(g.ctx, mmax * n * 2, &y));
    CHECK(tao_alloc(g.ctx, n * k / 2, &packed));
    CHECK(tao_alloc(g.ctx, k / 128 * n * 4, &sz));
    CHECK(tao_alloc(g.ctx, n * k, &q8));
    CHECK(tao_alloc(g.ctx, n * 2, &s8));
    CHECK(tao_fill_random(g.ctx, w, TAO_BF16, n * k, 1, 0, TAO_RANDOM_NORMAL, 0.0, 0.02));
    CHECK(tao_fill_random(g.ctx, x, TAO_BF16, mmax * k, 2, 0, TAO_RANDOM_NORMAL, 0.0, 1.0));
    CHECK(tao_fill_random(g.ctx, sz, TAO_BF16, k / 128 * n * 2, 3, 0, TAO_RANDOM_UNIFORM, 0.001, 0.01));
    CHECK(tao_fill_random(g.ctx, packed, TAO_F32, n * k / 8, 4, 0, TAO_RANDOM_UNIFORM, -1e30, 1e30));  // arbitrary bits
    CHECK(tao_fill_random(g.ctx, q8, TAO_F32, n * k / 4, 5, 0, TAO_RANDOM_UNIFORM, -1e30, 1e30));
    CHECK(tao_fill_random(g.ctx, s8, TAO_BF16, n, 6, 0, TAO_RANDOM_UNIFORM, 0.001, 0.01));
    const double bw = 3.0e12;
    const double i4_bound = (n * k / 2.0 + k / 128.0 * n * 4) / bw * 1e6, i8_bound = (n * k + n * 2.0) / bw * 1e6;
    for (int64_t m : ms) {
      const double tb = time_us(g, flush, [&] { CHECK(tao_linear(g.ctx, x, w, nullptr, y, TAO_BF16, m, n, k)); }, reps);
      const double t4 = time_us(g, flush, [&] {
        CHECK(tao_linear_int4_tensor_core_tiled(g.ctx, x, packed, sz, nullptr, y, TAO_BF16, m, n, k, 8, 128));
      }, reps);
      const double t8 = time_us(g, flush, [&] { CHECK(tao_linear_int8_weight_only(g.ctx, x, q8, s8, nullptr, y, TAO_BF16, m, n, k)); }, reps);
      printf("%6lldx%-7lld %5lld %9.1f %9.1f %9.1f %7.2f %7.2f %7.2f %7.2f\n", (long long)n, (long long)k, (long long)m, tb, t4, t8,
             i4_bound / t4, i8_bound / t8, tb / t4, tb / t8);
      fflush(stdout);
    }
    for (void* p : {w, x, y, packed, sz, q8, s8}) CHECK(tao_free(g.ctx, p));
  }
  CHECK(tao_free(g.ctx, flush));
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "check";
  Gpu g;
  if (!strcmp(mode, "check")) {
    check_int4(g);
    check_int8(g);
    printf("weight_only_probe check: %d failure(s)\n", failures);
    return failures ? 1 : 0;
  }
  if (!strcmp(mode, "once") && argc == 5) {
    time_all(g, {{atoll(argv[2]), atoll(argv[3])}}, {atoll(argv[4])}, 1);
    return 0;
  }
  if (!strcmp(mode, "m1")) {  // the four shapes at m = 1
    time_all(g, {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}}, {1}, 30);
    return 0;
  }
  if (!strcmp(mode, "mid")) {  // the four shapes where the wgmma kernel and cuBLASLt meet
    time_all(g, {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}}, {32, 64, 128, 256, 512, 1024}, 30);
    return 0;
  }
  if (!strcmp(mode, "big")) {  // the four shapes where tensor cores must keep up with cuBLAS
    time_all(g, {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}}, {256, 512, 1024, 2048, 4096}, 20);
    return 0;
  }
  if (!strcmp(mode, "quick")) {
    time_all(g, {{28672, 4096}, {4096, 14336}}, {1, 16, 64}, 30);
    return 0;
  }
  time_all(g, {{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096}, 30);
  return 0;
}
