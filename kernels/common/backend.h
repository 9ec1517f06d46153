// The operations every backend implements. Entry points in kernels/common/api_*.cpp validate
// arguments once, then call tao::cpu::* or tao::cuda::* with already-checked values.
#pragma once
#include <stdint.h>

#include "affine.h"
#include "int4_tiled.h"
#include "nf4.h"
#include "sparse24.h"
#include "context.h"
#include "tao.h"

namespace tao {

// One affine-primitive call after validation: geometry, scheme and typed pointers.
struct AffineCall {
  AffineGeometry geo;
  AffineScheme scheme;
  const void* input;
  int input_dtype;
  void* output;
  int output_dtype;
  void* scale;
  int scale_dtype;
  void* zero_point;  // NULL for the NONE domain
  int zero_point_dtype;
};

enum class AffineOp { Choose, Quantize, Dequantize, Fake };

// Shape of a strided gather (tao_strided_copy) after validation.
struct StridedCopy {
  int ndim;
  int64_t shape[TAO_MAX_DIMS];
  int64_t strides[TAO_MAX_DIMS];
  uint64_t numel;
  int elem_size;
};

// One tao_linear call after validation: y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias[n]).
struct LinearCall {
  const void* x;
  const void* w;
  const void* bias;  // may be NULL
  void* y;
  int dtype;
  int64_t m, n, k;
};

// One tao_*_int4_tensor_core_tiled call after validation.
enum class Int4Op { Pack, Unpack, Dequantize };
struct Int4TiledCall {
  Int4Tiled g;
  const void* src;  // Pack: plain u8 q; Unpack / Dequantize: packed int32
  void* dst;        // Pack: packed int32; Unpack: plain u8 q; Dequantize: bf16 weight
  const void* sz;   // Dequantize: bf16 scales_and_zeros [k/group][n][2]
  int32_t group;
};

// Packed word w of one pack / unpack / dequantize call (both backends loop over words with it).
TAO_HD void int4_tiled_step(Int4Op op, const Int4TiledCall& c, int64_t w) {
  if (op == Int4Op::Pack) {
    ((uint32_t*)c.dst)[w] = int4_tiled_pack_word(c.g, (const uint8_t*)c.src, w);
  } else if (op == Int4Op::Unpack) {
    int4_tiled_unpack_word(c.g, ((const uint32_t*)c.src)[w], (uint8_t*)c.dst, w);
  } else {
    int4_tiled_dequant_word(c.g, ((const uint32_t*)c.src)[w], (const uint16_t*)c.sz, c.group, (uint16_t*)c.dst, w);
  }
}

// One tao_linear_int4_tensor_core_tiled call after validation.
struct Int4LinearCall {
  Int4Tiled g;
  const void* x;       // dtype [m, k]
  const void* packed;  // int32, tensor-core-tiled
  const void* sz;      // bf16 [k / group][n][2]
  const void* bias;    // dtype [n] or NULL
  void* y;             // dtype [m, n]
  int dtype;           // TAO_BF16 or TAO_F16
  int64_t m;
  int32_t group;
};

// One tao_linear_int8_weight_only call after validation.
struct Int8LinearCall {
  const void* x;      // dtype [m, k]
  const void* q;      // int8 [n, k]
  const void* scale;  // dtype [n]
  const void* bias;   // dtype [n] or NULL
  void* y;            // dtype [m, n]
  int dtype;          // TAO_BF16 or TAO_F16
  int64_t m, n, k;
};

// One tao_quantize_f8 call after validation.
struct F8QuantCall {
  const void* x;  // dtype [m, k]
  int dtype;      // TAO_F32, TAO_F16 or TAO_BF16
  uint8_t* q;     // e4m3 [m, k]
  float* scale;   // [m] (rowwise) or [1]
  int64_t m, k;
  bool rowwise;
};

// One tao_linear_f8_f8 call after validation.
struct F8LinearCall {
  const uint8_t* xq;    // e4m3 [m, k]
  const float* xscale;  // [m] or [1]
  bool x_rowwise;
  const uint8_t* wq;    // e4m3 [n, k]
  const float* wscale;  // [n] or [1]
  bool w_rowwise;
  const void* bias;     // dtype [n] or NULL
  void* y;              // dtype [m, n]
  int dtype;            // TAO_BF16, TAO_F16 or TAO_F32
  int64_t m, n, k;
  bool fast_accum;
};

// The float8 scale of an absolute max (tao_quantize_f8): max(amax / 448, 1e-12), NaN kept.
TAO_HD float f8_scale_of(float amax) {
  const float s = div_rn(amax, 448.0f);
  return s < 1e-12f ? 1e-12f : s;  // NaN compares false: stays NaN
}

// One tao_quantize_rows_int8 call after validation.
struct QuantRowsCall {
  const void* x;        // dtype [m, k]
  int dtype;            // TAO_F32, TAO_F16 or TAO_BF16
  const float* smooth;  // [k] or NULL
  int8_t* q;            // [m, k]
  float* scale;         // [m]
  int64_t m, k;
};

// One tao_linear_int8_int8 call after validation.
struct W8A8Call {
  const int8_t* xq;     // [m, k]
  const float* xscale;  // [m]
  const int8_t* wq;     // [n, k]
  const float* wscale;  // [n]
  const void* bias;     // dtype [n] or NULL
  void* y;              // dtype [m, n]
  int dtype;            // TAO_BF16, TAO_F16 or TAO_F32
  int64_t m, n, k;
};

// A packed NF4 weight [n, k] (include/tao.h, tao_nf4_pack), after validation.
struct Nf4Weight {
  const uint8_t* packed;  // [n, k/2], element 2j in the high nibble of byte j
  const int8_t* qscale;   // [n·k/64]
  const float* scale2;    // [ceil(n·k/64 / 256)]
  const float* offset;    // [ceil(n·k/64 / 256)]
  int64_t n, k;
};

// One tao_nf4_* call after validation: quantize (w → codes, absmax), pack (codes, absmax → weight),
// unpack (weight → codes, absmax) or dequantize (weight → out of `dtype`).
enum class Nf4Op { Quantize, Pack, Unpack, Dequantize };
struct Nf4Call {
  Nf4Weight w;           // Pack: the output; Unpack / Dequantize: the input
  const void* src;       // Quantize: the float weight of `dtype`
  uint8_t* codes;        // Quantize / Unpack: output; Pack: input
  float* absmax;         // likewise
  void* out;             // Dequantize: [n, k] of `dtype`
  int dtype;
};

// One call of a linear over a packed weight W (its [n, k] geometry inside) after validation.
template <class W>
struct PackedLinearCall {
  W w;
  const void* x;     // dtype [m, k]
  const void* bias;  // dtype [n] or NULL
  void* y;           // dtype [m, n]
  int dtype;
  int64_t m;
};

// One tao_linear_nf4 call after validation.
using Nf4LinearCall = PackedLinearCall<Nf4Weight>;

namespace cpu {
tao_status sparse24(Sparse24Op op, const Sparse24Call& c);
tao_status apply_mask(void* x, int elem_size, const uint8_t* mask, uint64_t numel);
tao_status column_sq_sum(const void* x, int dtype, float* acc, int64_t m, int64_t k);
tao_status linear_sparse24(const Sparse24LinearCall& c);
tao_status quantize_rows_int8(const QuantRowsCall& c);
tao_status linear_int8_int8(const W8A8Call& c);
tao_status int4_tiled(Int4Op op, const Int4TiledCall& c);
tao_status int4_tiled_linear(const Int4LinearCall& c);
tao_status int8_linear(const Int8LinearCall& c);
tao_status nf4(Nf4Op op, const Nf4Call& c);
tao_status nf4_linear(const Nf4LinearCall& c);
tao_status quantize_f8(const F8QuantCall& c);
tao_status linear_f8(const F8LinearCall& c);
tao_status linear(const LinearCall& c);
tao_status cast(const void* src, int src_dtype, void* dst, int dst_dtype, uint64_t n);
tao_status fill(void* dst, int dtype, uint64_t n, float value);
tao_status fill_random(void* dst, int dtype, uint64_t n, uint64_t seed, uint64_t offset,
                       int distribution, double a, double b);
tao_status strided_copy(const void* src, void* dst, const StridedCopy& sc);
tao_status affine(AffineOp op, const AffineCall& call);
int max_threads();
void set_threads(int n);
}  // namespace cpu

#ifdef TAO_WITH_CUDA
namespace cuda {
tao_status sparse24(tao_ctx* ctx, Sparse24Op op, const Sparse24Call& c);
tao_status apply_mask(tao_ctx* ctx, void* x, int elem_size, const uint8_t* mask, uint64_t numel);
tao_status column_sq_sum(tao_ctx* ctx, const void* x, int dtype, float* acc, int64_t m, int64_t k);
tao_status linear_sparse24(tao_ctx* ctx, const Sparse24LinearCall& c);
tao_status cusparselt_packed_size(tao_ctx* ctx, int dtype, int64_t n, int64_t k, uint64_t* bytes);
tao_status cusparselt_pack(tao_ctx* ctx, const void* values, const uint8_t* meta, int dtype, int64_t n, int64_t k, void* packed);
tao_status linear_cusparselt(tao_ctx* ctx, const SpltLinearCall& c);
tao_status quantize_rows_int8(tao_ctx* ctx, const QuantRowsCall& c);
tao_status linear_int8_int8(tao_ctx* ctx, const W8A8Call& c);
tao_status int4_tiled(tao_ctx* ctx, Int4Op op, const Int4TiledCall& c);
tao_status int4_tiled_linear(tao_ctx* ctx, const Int4LinearCall& c);
tao_status int8_linear(tao_ctx* ctx, const Int8LinearCall& c);
tao_status nf4(tao_ctx* ctx, Nf4Op op, const Nf4Call& c);
tao_status nf4_linear(tao_ctx* ctx, const Nf4LinearCall& c);
tao_status quantize_f8(tao_ctx* ctx, const F8QuantCall& c);
tao_status linear_f8(tao_ctx* ctx, const F8LinearCall& c);
tao_status linear(tao_ctx* ctx, const LinearCall& c);
tao_status cast(tao_ctx* ctx, const void* src, int src_dtype, void* dst, int dst_dtype, uint64_t n);
tao_status fill(tao_ctx* ctx, void* dst, int dtype, uint64_t n, float value);
tao_status fill_random(tao_ctx* ctx, void* dst, int dtype, uint64_t n, uint64_t seed,
                       uint64_t offset, int distribution, double a, double b);
tao_status strided_copy(tao_ctx* ctx, const void* src, void* dst, const StridedCopy& sc);
tao_status affine(tao_ctx* ctx, AffineOp op, const AffineCall& call);
}  // namespace cuda
#endif

}  // namespace tao

// `return cpu_call` on the CPU context, else `return cuda_call` (dropped in builds without CUDA,
// where no CUDA context can exist).
#ifdef TAO_WITH_CUDA
#define TAO_DISPATCH(ctx, cpu_call, cuda_call) return (ctx)->device < 0 ? (cpu_call) : (cuda_call)
#else
#define TAO_DISPATCH(ctx, cpu_call, cuda_call) return (cpu_call)
#endif
