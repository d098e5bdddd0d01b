// Helpers for tests of error paths: the error or message an expression throws, and a
// matcher for a mnemo::Error's code and message fragments.
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

// The mnemo::Error that fn() throws; fails the test when it throws none.
template <class Fn>
Error thrown_error(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a mnemo::Error, nothing was thrown";
  return Error(ErrorCode::kInvalidArgument, "nothing was thrown");
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
