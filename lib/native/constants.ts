/** The `#define TAO_*` constants of include/tao.h, mirrored (test/symbols.test.ts checks each value). */

export const TAO_OK = 0;
export const TAO_ERR_INVALID_ARGUMENT = -1;
export const TAO_ERR_OUT_OF_MEMORY = -2;
export const TAO_ERR_UNSUPPORTED = -3;
export const TAO_ERR_UNAVAILABLE = -4;
export const TAO_ERR_DEVICE_MISMATCH = -5;
export const TAO_ERR_CUDA = -6;
export const TAO_ERR_LIBRARY = -7;
export const TAO_ERR_INTERNAL = -8;

export const TAO_F32 = 0;
export const TAO_F16 = 1;
export const TAO_BF16 = 2;
export const TAO_F8E4M3FN = 3;
export const TAO_F8E5M2 = 4;
export const TAO_I8 = 5;
export const TAO_U8 = 6;
export const TAO_I32 = 7;
export const TAO_DTYPE_COUNT = 8;

export const TAO_MAX_DIMS = 8;

export const TAO_MATHLIB_CUBLASLT = 1;
export const TAO_MATHLIB_CUSPARSELT = 2;

export const TAO_COPY_H2D = 0;
export const TAO_COPY_D2H = 1;
export const TAO_COPY_D2D = 2;

export const TAO_RANDOM_UNIFORM = 0;
export const TAO_RANDOM_NORMAL = 1;

export const TAO_MAPPING_SYMMETRIC = 0;
export const TAO_MAPPING_SYMMETRIC_NO_CLIPPING_ERR = 1;
export const TAO_MAPPING_ASYMMETRIC = 2;

export const TAO_ZERO_POINT_INT = 0;
export const TAO_ZERO_POINT_FLOAT = 1;
export const TAO_ZERO_POINT_NONE = 2;

export const TAO_ROPE_INTERLEAVED = 0;
export const TAO_ROPE_HALF = 1;

export const TAO_BINARY_ADD = 0;
export const TAO_BINARY_MUL = 1;
export const TAO_BINARY_SILU_MUL = 2;
