// Status codes and the thread-local last-error message behind tao_last_error().
#pragma once
#include "tao.h"

namespace tao {

// Records "op: message" as this thread's last error and returns `code`, so call sites read
// `return fail(TAO_ERR_INVALID_ARGUMENT, "tao_cast", "n=%llu ...", n);`.
tao_status fail(tao_status code, const char* op, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

// This thread's last error message ("" before the first failure). Successful calls leave it as is.
const char* last_error();

}  // namespace tao

// Propagates a non-OK status.
#define TAO_TRY(expr)                  \
  do {                                 \
    tao_status _tao_s = (expr);        \
    if (_tao_s != TAO_OK) return _tao_s; \
  } while (0)
