// Errors: every failure in mnemo is a mnemo::Error carrying an ErrorCode and a message
// that says what went wrong, where (file, record, tensor name, byte offset) and what was
// expected against what was found.
//
// Misuse of the API by the caller (a wrong accessor, an index out of range, a shape that
// cannot be viewed) is reported with MNEMO_CHECK, which throws kInvalidArgument with the
// source location of the check.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace mnemo {

enum class ErrorCode {
  kIo,               // the operating system refused: open, read, write, rename, fsync
  kCorrupt,          // the bytes contradict their format
  kUnsupported,      // a valid file using a feature or version mnemo does not handle
  kLimit,            // input exceeds a named limit
  kMismatch,         // two things that must agree do not (a state_dict and a model)
  kInvalidArgument,  // the caller asked for something impossible
};

// The code's name as written in this header, e.g. "kCorrupt".
std::string_view error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

namespace detail {

// Concatenates streamable values; keeps <fmt> out of the public headers.
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  if constexpr (sizeof...(Args) > 0) (out << ... << args);
  return out.str();
}

[[noreturn]] void throw_check_failure(const char* file, int line, const char* condition,
                                      const std::string& message);

}  // namespace detail

// Throws Error(code, concat(args...)).
template <class... Args>
[[noreturn]] void fail(ErrorCode code, const Args&... args) {
  throw Error(code, detail::concat(args...));
}

}  // namespace mnemo

// Throws kInvalidArgument naming file:line when `cond` is false. The message arguments
// are only evaluated on failure.
#define MNEMO_CHECK(cond, ...)                                                          \
  do {                                                                                  \
    if (!(cond)) [[unlikely]] {                                                         \
      ::mnemo::detail::throw_check_failure(__FILE__, __LINE__, #cond,                   \
                                           ::mnemo::detail::concat(__VA_ARGS__));       \
    }                                                                                   \
  } while (false)
