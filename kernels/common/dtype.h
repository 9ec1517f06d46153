// Dtype codes: names, sizes and classes, for validation and messages.
#pragma once
#include <stdint.h>

#include "tao.h"

namespace tao {

inline bool dtype_valid(int64_t dt) { return dt >= 0 && dt < TAO_DTYPE_COUNT; }
inline bool dtype_is_float(int64_t dt) { return dt >= TAO_F32 && dt <= TAO_F8E5M2; }
inline bool dtype_is_wide_float(int64_t dt) {  // f32, f16, bf16
  return dt == TAO_F32 || dt == TAO_F16 || dt == TAO_BF16;
}
inline bool dtype_is_f8(int64_t dt) { return dt == TAO_F8E4M3FN || dt == TAO_F8E5M2; }
inline bool dtype_is_int(int64_t dt) { return dt == TAO_I8 || dt == TAO_U8 || dt == TAO_I32; }

inline int dtype_size(int64_t dt) {
  switch (dt) {
    case TAO_F32: case TAO_I32: return 4;
    case TAO_F16: case TAO_BF16: return 2;
    default: return 1;
  }
}

inline const char* dtype_name(int64_t dt) {
  static const char* names[] = {"f32", "f16", "bf16", "f8e4m3fn", "f8e5m2", "i8", "u8", "i32"};
  return dtype_valid(dt) ? names[dt] : "invalid";
}

// Integer range of an integer dtype.
inline void dtype_int_range(int64_t dt, int64_t* lo, int64_t* hi) {
  if (dt == TAO_I8) { *lo = -128; *hi = 127; }
  else if (dt == TAO_U8) { *lo = 0; *hi = 255; }
  else { *lo = -2147483648LL; *hi = 2147483647LL; }
}

// Largest finite value of a float8 format.
inline double f8_max(int64_t dt) { return dt == TAO_F8E4M3FN ? 448.0 : 57344.0; }

}  // namespace tao
