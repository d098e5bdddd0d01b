#include "mnemo/core/error.h"

#include <cstring>

namespace mnemo {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kIo: return "kIo";
    case ErrorCode::kCorrupt: return "kCorrupt";
    case ErrorCode::kUnsupported: return "kUnsupported";
    case ErrorCode::kLimit: return "kLimit";
    case ErrorCode::kMismatch: return "kMismatch";
    case ErrorCode::kInvalidArgument: return "kInvalidArgument";
  }
  return "unknown";
}

namespace detail {

void throw_check_failure(const char* file, int line, const char* condition,
                         const std::string& message) {
  // Keep only the path below the project root: messages must not carry build paths.
  // The last marker counts, so that a checkout under some ".../src/..." directory still
  // shows "src/core/tensor.cpp".
  const char* shown = file;
  for (const char* marker : {"/include/mnemo/", "/src/"}) {
    const char* last = nullptr;
    for (const char* at = std::strstr(file, marker); at; at = std::strstr(at + 1, marker)) {
      last = at;
    }
    if (last) {
      shown = last + 1;
      break;
    }
  }
  std::string text = message.empty() ? std::string("check failed: ") + condition : message;
  throw Error(ErrorCode::kInvalidArgument, concat(text, " [", shown, ":", line, "]"));
}

}  // namespace detail
}  // namespace mnemo
