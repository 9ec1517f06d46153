// Entry points of the affine quantization primitives: validate tao_affine_args once, reduce them
// to an AffineCall (collapsed geometry + scheme), then run the context's backend.
#include "affine.h"
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace tao {
namespace {

// Merges dimensions so that most block shapes become one dimension: dims of size 1 vanish, and a
// dim with block 1 merges with the next (its index times the next's block count is still the
// block index), as does a dim followed by a fully-blocked one.
tao_status build_geometry(const tao_affine_args* a, const char* op, AffineGeometry* g) {
  if (a->ndim < 1 || a->ndim > TAO_MAX_DIMS)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "ndim=%lld must be in 1..%d", (long long)a->ndim, TAO_MAX_DIMS);
  uint64_t numel = 1;
  int nd = 0;
  for (int d = 0; d < (int)a->ndim; ++d) {
    const int64_t s = a->shape[d], b = a->block_size[d];
    if (s < 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "shape[%d]=%lld must be >= 1", d, (long long)s);
    if (b < 1 || b > s || s % b != 0)
      return fail(TAO_ERR_INVALID_ARGUMENT, op, "block_size[%d]=%lld does not divide shape[%d]=%lld", d,
                  (long long)b, d, (long long)s);
    if (numel > (1ULL << 62) / (uint64_t)s)
      return fail(TAO_ERR_INVALID_ARGUMENT, op, "tensor of more than 2^62 elements");
    numel *= (uint64_t)s;
    if (s == 1) continue;
    if (nd > 0 && g->block[nd - 1] == 1) {  // (i*s + j) / b == i*(s/b) + j/b
      g->size[nd - 1] *= (uint64_t)s;
      g->block[nd - 1] = (uint64_t)b;
      continue;
    }
    if (nd > 0 && b == s) {  // (i*s + j) / (pb*s) == i / pb for j < s
      g->size[nd - 1] *= (uint64_t)s;
      g->block[nd - 1] *= (uint64_t)s;
      continue;
    }
    g->size[nd] = (uint64_t)s;
    g->block[nd] = (uint64_t)b;
    ++nd;
  }
  if (nd == 0) {
    g->size[0] = g->block[0] = 1;
    nd = 1;
  }
  g->nd = nd;
  g->numel = numel;
  uint64_t qs = 1;
  for (int d = nd - 1; d >= 0; --d) {
    g->qstride[d] = qs;
    qs *= g->size[d] / g->block[d];
  }
  g->nqp = qs;
  g->group = numel / qs;
  return TAO_OK;
}

tao_status build_scheme(const tao_affine_args* a, AffineOp op, const char* opname, AffineScheme* sc) {
  if (!dtype_valid(a->target_dtype) || !(dtype_is_int(a->target_dtype) || dtype_is_f8(a->target_dtype)))
    return fail(TAO_ERR_INVALID_ARGUMENT, opname, "target_dtype=%lld must be i8, u8, i32, f8e4m3fn or f8e5m2",
                (long long)a->target_dtype);
  if (a->zero_point_domain < TAO_ZERO_POINT_INT || a->zero_point_domain > TAO_ZERO_POINT_NONE)
    return fail(TAO_ERR_INVALID_ARGUMENT, opname, "zero_point_domain=%lld is not a TAO_ZERO_POINT_* value",
                (long long)a->zero_point_domain);
  if (a->quant_min >= a->quant_max)
    return fail(TAO_ERR_INVALID_ARGUMENT, opname, "quant_min=%lld must be < quant_max=%lld",
                (long long)a->quant_min, (long long)a->quant_max);
  sc->f8 = dtype_is_f8(a->target_dtype);
  if (sc->f8) {
    const double m = f8_max(a->target_dtype);
    if ((double)a->quant_min != -m || (double)a->quant_max != m)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "float8 target %s needs quant_min=%g, quant_max=%g",
                  dtype_name(a->target_dtype), -m, m);
    if (a->zero_point_domain != TAO_ZERO_POINT_NONE)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "float8 targets have no zero point: use TAO_ZERO_POINT_NONE");
  } else {
    int64_t lo, hi;
    dtype_int_range(a->target_dtype, &lo, &hi);
    if (a->quant_min < lo || a->quant_max > hi)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "[quant_min, quant_max]=[%lld, %lld] exceeds %s's range",
                  (long long)a->quant_min, (long long)a->quant_max, dtype_name(a->target_dtype));
  }
  if (op == AffineOp::Choose) {
    const int64_t m = a->mapping_type;
    if (m < TAO_MAPPING_SYMMETRIC || m > TAO_MAPPING_ASYMMETRIC)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "mapping_type=%lld is not a TAO_MAPPING_* value", (long long)m);
    if (m != TAO_MAPPING_ASYMMETRIC) {
      if (!a->preserve_zero)
        return fail(TAO_ERR_INVALID_ARGUMENT, opname, "preserve_zero=0 is not supported for symmetric quantization");
      if (a->zero_point_domain == TAO_ZERO_POINT_FLOAT)
        return fail(TAO_ERR_INVALID_ARGUMENT, opname, "the FLOAT zero-point domain needs ASYMMETRIC mapping");
    }
    if (sc->f8 && m != TAO_MAPPING_SYMMETRIC)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "float8 targets need SYMMETRIC mapping");
    if (m == TAO_MAPPING_SYMMETRIC_NO_CLIPPING_ERR && !(a->quant_min < 0 && a->quant_max > 0))
      return fail(TAO_ERR_INVALID_ARGUMENT, opname,
                  "SYMMETRIC_NO_CLIPPING_ERR needs quant_min < 0 < quant_max (got [%lld, %lld])",
                  (long long)a->quant_min, (long long)a->quant_max);
    if (!(a->eps >= 0.0) || a->eps > 3.0e38)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "eps=%g must be a finite number >= 0", a->eps);
  }
  sc->domain = (int)a->zero_point_domain;
  sc->mapping = (int)a->mapping_type;
  sc->target = (int)a->target_dtype;
  sc->preserve_zero = a->preserve_zero != 0;
  sc->qmin = (float)a->quant_min;
  sc->qmax = (float)a->quant_max;
  sc->mid = (float)((double)(a->quant_max + a->quant_min + 1) / 2.0);
  sc->sym_zero = (int32_t)((a->quant_max + a->quant_min + 1) / 2);
  sc->sym_div = (float)((double)(a->quant_max - a->quant_min) / 2.0);
  sc->asym_div = (float)(double)(a->quant_max - a->quant_min);
  sc->eps = (float)a->eps;
  return TAO_OK;
}

// Checks the dtypes of input/output/scale/zero point for `op`.
tao_status check_dtypes(const tao_affine_args* a, AffineOp op, const char* opname) {
  const bool quantized_in = op == AffineOp::Dequantize;
  const bool quantized_out = op == AffineOp::Quantize;
  const int64_t target = a->target_dtype;
  auto storage_ok = [&](int64_t dt) {
    if (dtype_is_f8(target)) return dt == target;
    if (!dtype_is_int(dt)) return false;
    int64_t lo, hi;
    dtype_int_range(dt, &lo, &hi);
    return a->quant_min >= lo && a->quant_max <= hi;
  };
  if (quantized_in ? !storage_ok(a->input_dtype) : !dtype_is_wide_float(a->input_dtype))
    return fail(TAO_ERR_INVALID_ARGUMENT, opname, "input_dtype %s is not valid here (%s)", dtype_name(a->input_dtype),
                quantized_in ? "quantized data must be stored in a type holding [quant_min, quant_max], float8 as itself"
                             : "f32, f16 or bf16 expected");
  if (op != AffineOp::Choose && (quantized_out ? !storage_ok(a->output_dtype) : !dtype_is_wide_float(a->output_dtype)))
    return fail(TAO_ERR_INVALID_ARGUMENT, opname, "output_dtype %s is not valid here (%s)", dtype_name(a->output_dtype),
                quantized_out ? "quantized data must be stored in a type holding [quant_min, quant_max], float8 as itself"
                              : "f32, f16 or bf16 expected");
  if (!dtype_is_wide_float(a->scale_dtype))
    return fail(TAO_ERR_INVALID_ARGUMENT, opname, "scale_dtype %s must be f32, f16 or bf16", dtype_name(a->scale_dtype));
  if (a->zero_point_domain == TAO_ZERO_POINT_NONE) {
    if (a->zero_point)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "zero_point must be NULL with TAO_ZERO_POINT_NONE");
  } else {
    const bool ok = a->zero_point_domain == TAO_ZERO_POINT_INT
                        ? (dtype_is_int(a->zero_point_dtype) || dtype_is_wide_float(a->zero_point_dtype))
                        : dtype_is_wide_float(a->zero_point_dtype);
    if (!ok)
      return fail(TAO_ERR_INVALID_ARGUMENT, opname, "zero_point_dtype %s does not fit the %s zero-point domain",
                  dtype_name(a->zero_point_dtype), a->zero_point_domain == TAO_ZERO_POINT_INT ? "INT" : "FLOAT");
  }
  return TAO_OK;
}

tao_status run(tao_ctx* ctx, const tao_affine_args* a, AffineOp op, const char* opname) {
  TAO_TRY(check_ctx(ctx, opname));
  if (!a) return fail(TAO_ERR_INVALID_ARGUMENT, opname, "args is NULL");
  AffineCall c;
  TAO_TRY(build_geometry(a, opname, &c.geo));
  TAO_TRY(build_scheme(a, op, opname, &c.scheme));
  TAO_TRY(check_dtypes(a, op, opname));
  TAO_TRY(check_buffer(ctx, a->input, opname, "input"));
  if (op != AffineOp::Choose) TAO_TRY(check_buffer(ctx, a->output, opname, "output"));
  TAO_TRY(check_buffer(ctx, a->scale, opname, "scale"));
  if (a->zero_point_domain != TAO_ZERO_POINT_NONE) TAO_TRY(check_buffer(ctx, a->zero_point, opname, "zero_point"));
  c.input = a->input;
  c.input_dtype = (int)a->input_dtype;
  c.output = a->output;
  c.output_dtype = (int)a->output_dtype;
  c.scale = a->scale;
  c.scale_dtype = (int)a->scale_dtype;
  c.zero_point = a->zero_point_domain == TAO_ZERO_POINT_NONE ? nullptr : a->zero_point;
  c.zero_point_dtype = (int)a->zero_point_dtype;
  TAO_DISPATCH(ctx, cpu::affine(op, c), cuda::affine(ctx, op, c));
}

}  // namespace
}  // namespace tao

extern "C" {

tao_status tao_affine_args_size(int64_t* out) {
  if (!out) return tao::fail(TAO_ERR_INVALID_ARGUMENT, "tao_affine_args_size", "out is NULL");
  *out = (int64_t)sizeof(tao_affine_args);
  return TAO_OK;
}

tao_status tao_choose_qparams_affine(tao_ctx* ctx, const tao_affine_args* args) {
  return tao::run(ctx, args, tao::AffineOp::Choose, "tao_choose_qparams_affine");
}

tao_status tao_quantize_affine(tao_ctx* ctx, const tao_affine_args* args) {
  return tao::run(ctx, args, tao::AffineOp::Quantize, "tao_quantize_affine");
}

tao_status tao_dequantize_affine(tao_ctx* ctx, const tao_affine_args* args) {
  return tao::run(ctx, args, tao::AffineOp::Dequantize, "tao_dequantize_affine");
}

tao_status tao_fake_quantize_affine(tao_ctx* ctx, const tao_affine_args* args) {
  return tao::run(ctx, args, tao::AffineOp::Fake, "tao_fake_quantize_affine");
}

}  // extern "C"
