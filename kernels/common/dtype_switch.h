// Shared by the CPU and CUDA backends. Turns runtime dtype codes into template instantiations: DT_SWITCH(code, D, body) runs body with
// `constexpr int D` equal to the code, over the dtype list given.
#pragma once
#include "tao.h"

#define TAO_DT_CASE(D_, code, ...) \
  case code: {                     \
    constexpr int D_ = code;       \
    __VA_ARGS__;                   \
  } break;

#define TAO_SWITCH_WIDE_FLOAT(dt, D_, ...)          \
  switch (dt) {                                     \
    TAO_DT_CASE(D_, TAO_F32, __VA_ARGS__)           \
    TAO_DT_CASE(D_, TAO_F16, __VA_ARGS__)           \
    TAO_DT_CASE(D_, TAO_BF16, __VA_ARGS__)          \
    default: break;                                 \
  }

#define TAO_SWITCH_ALL(dt, D_, ...)                 \
  switch (dt) {                                     \
    TAO_DT_CASE(D_, TAO_F32, __VA_ARGS__)           \
    TAO_DT_CASE(D_, TAO_F16, __VA_ARGS__)           \
    TAO_DT_CASE(D_, TAO_BF16, __VA_ARGS__)          \
    TAO_DT_CASE(D_, TAO_F8E4M3FN, __VA_ARGS__)      \
    TAO_DT_CASE(D_, TAO_F8E5M2, __VA_ARGS__)        \
    TAO_DT_CASE(D_, TAO_I8, __VA_ARGS__)            \
    TAO_DT_CASE(D_, TAO_U8, __VA_ARGS__)            \
    TAO_DT_CASE(D_, TAO_I32, __VA_ARGS__)           \
    default: break;                                 \
  }

#define TAO_SWITCH_QUANTIZED(dt, D_, ...)           \
  switch (dt) {                                     \
    TAO_DT_CASE(D_, TAO_F8E4M3FN, __VA_ARGS__)      \
    TAO_DT_CASE(D_, TAO_F8E5M2, __VA_ARGS__)        \
    TAO_DT_CASE(D_, TAO_I8, __VA_ARGS__)            \
    TAO_DT_CASE(D_, TAO_U8, __VA_ARGS__)            \
    TAO_DT_CASE(D_, TAO_I32, __VA_ARGS__)           \
    default: break;                                 \
  }

#define TAO_SWITCH_FLOAT(dt, D_, ...)               \
  switch (dt) {                                     \
    TAO_DT_CASE(D_, TAO_F32, __VA_ARGS__)           \
    TAO_DT_CASE(D_, TAO_F16, __VA_ARGS__)           \
    TAO_DT_CASE(D_, TAO_BF16, __VA_ARGS__)          \
    TAO_DT_CASE(D_, TAO_F8E4M3FN, __VA_ARGS__)      \
    TAO_DT_CASE(D_, TAO_F8E5M2, __VA_ARGS__)        \
    default: break;                                 \
  }
