// The cuBLASLt entry points the matmul ops use (tao_linear, W8A8, float8), resolved once from the
// dlopen'ed library (mathlibs), the descriptors of one call destroyed on every path, and the
// pointer alignment cuBLASLt's preferences ask for. Only with the cuBLASLt headers.
#pragma once
#ifdef TAO_HAVE_CUBLASLT
#include <cublasLt.h>
#include <stdint.h>

#include "mathlibs.h"

namespace tao {
namespace cuda {

struct Lt {
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
  bool ok;  // every entry point was found
};

// The entry points (looked up on first use; the library must be loaded: cublaslt_handle first).
inline const Lt& lt() {
  static const Lt fns = [] {
    Lt f;
    f.desc_create = (decltype(f.desc_create))cublaslt_symbol("cublasLtMatmulDescCreate");
    f.desc_destroy = (decltype(f.desc_destroy))cublaslt_symbol("cublasLtMatmulDescDestroy");
    f.desc_set = (decltype(f.desc_set))cublaslt_symbol("cublasLtMatmulDescSetAttribute");
    f.layout_create = (decltype(f.layout_create))cublaslt_symbol("cublasLtMatrixLayoutCreate");
    f.layout_destroy = (decltype(f.layout_destroy))cublaslt_symbol("cublasLtMatrixLayoutDestroy");
    f.pref_create = (decltype(f.pref_create))cublaslt_symbol("cublasLtMatmulPreferenceCreate");
    f.pref_destroy = (decltype(f.pref_destroy))cublaslt_symbol("cublasLtMatmulPreferenceDestroy");
    f.pref_set = (decltype(f.pref_set))cublaslt_symbol("cublasLtMatmulPreferenceSetAttribute");
    f.heuristic = (decltype(f.heuristic))cublaslt_symbol("cublasLtMatmulAlgoGetHeuristic");
    f.matmul = (decltype(f.matmul))cublaslt_symbol("cublasLtMatmul");
    f.ok = f.desc_create && f.desc_destroy && f.desc_set && f.layout_create && f.layout_destroy && f.pref_create &&
           f.pref_destroy && f.pref_set && f.heuristic && f.matmul;
    return f;
  }();
  return fns;
}

// Descriptors of one matmul call (op, layouts of A, B and C/D, preference), destroyed on every path.
struct LtDescs {
  const Lt& f;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    if (pref) f.pref_destroy(pref);
    if (c) f.layout_destroy(c);
    if (b) f.layout_destroy(b);
    if (a) f.layout_destroy(a);
    if (op) f.desc_destroy(op);
  }
};

// Largest power of two (<= 256) dividing the address.
inline uint32_t alignment_of(const void* p) {
  const uintptr_t a = (uintptr_t)p;
  uint32_t al = 256;
  while (al > 1 && a % al) al >>= 1;
  return al;
}

}  // namespace cuda
}  // namespace tao
#endif
