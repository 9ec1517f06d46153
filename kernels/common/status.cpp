// Thread-local error text for tao_last_error().
#include "status.h"

#include <cstdarg>
#include <cstdio>

namespace tao {

namespace {
thread_local char g_last_error[1024] = "";
}

tao_status fail(tao_status code, const char* op, const char* fmt, ...) {
  int n = std::snprintf(g_last_error, sizeof g_last_error, "%s: ", op);
  if (n < 0 || n >= (int)sizeof g_last_error) n = 0;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(g_last_error + n, sizeof g_last_error - n, fmt, ap);
  va_end(ap);
  return code;
}

const char* last_error() { return g_last_error; }

}  // namespace tao

extern "C" const char* tao_last_error(void) { return tao::last_error(); }
