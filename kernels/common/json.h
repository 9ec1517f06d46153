// Minimal JSON string escaping for the capability report.
#pragma once
#include <cstdio>
#include <string>

namespace tao {

// `s` as a JSON string literal, quotes included.
inline std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += (char)c; }
    else if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += (char)c;
  }
  return o + "\"";
}

}  // namespace tao
