// Helpers for tests of error paths: the message an expression throws, and a matcher for
// a mnemo::Error's code and message fragments.
#pragma once

#include <gmock/gmock.h>

#include <string>

#include "mnemo/core/error.h"

namespace mnemo::testing {

// The message of the mnemo::Error that fn() throws, or "(no error)".
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Matches a callable that throws a mnemo::Error with `code` whose message contains every
// fragment: EXPECT_THAT([&] { ... }, ErrorWith(ErrorCode::kMismatch, "what", "where")).
template <class... Fragments>
auto ErrorWith(ErrorCode code, Fragments... fragments) {
  return ::testing::Throws<Error>(
      ::testing::AllOf(::testing::Property(&Error::code, code),
                       ::testing::Property(&Error::what, ::testing::HasSubstr(fragments))...));
}

}  // namespace mnemo::testing
