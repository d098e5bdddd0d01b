#include "mnemo/core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo {
namespace {

TEST(ErrorTest, CodeNamesAreTheEnumeratorNames) {
  EXPECT_EQ(error_code_name(ErrorCode::kIo), "kIo");
  EXPECT_EQ(error_code_name(ErrorCode::kCorrupt), "kCorrupt");
  EXPECT_EQ(error_code_name(ErrorCode::kUnsupported), "kUnsupported");
  EXPECT_EQ(error_code_name(ErrorCode::kLimit), "kLimit");
  EXPECT_EQ(error_code_name(ErrorCode::kMismatch), "kMismatch");
  EXPECT_EQ(error_code_name(ErrorCode::kInvalidArgument), "kInvalidArgument");
}

TEST(ErrorTest, CarriesCodeAndMessage) {
  const Error error(ErrorCode::kCorrupt, "bad bytes");
  EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
  EXPECT_STREQ(error.what(), "bad bytes");
  const std::runtime_error& base = error;  // catchable as a standard exception
  EXPECT_STREQ(base.what(), "bad bytes");
}

TEST(ErrorTest, FailConcatenatesItsArguments) {
  try {
    fail(ErrorCode::kLimit, "rank ", 70, " exceeds ", 64, '!');
    FAIL() << "fail() returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kLimit);
    EXPECT_EQ(std::string(e.what()), "rank 70 exceeds 64!");
  }
}

TEST(ErrorTest, CheckPassesWithoutEvaluatingTheMessage) {
  int evaluated = 0;
  auto message = [&] {
    ++evaluated;
    return "unused";
  };
  MNEMO_CHECK(1 + 1 == 2, message());
  EXPECT_EQ(evaluated, 0);
}

TEST(ErrorTest, CheckFailureIsInvalidArgumentWithLocation) {
  try {
    MNEMO_CHECK(2 < 1, "two is not below ", 1);
    FAIL() << "MNEMO_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("two is not below 1 [", 0), 0u) << what;
    EXPECT_NE(what.find("error_test.cpp:"), std::string::npos) << what;
    EXPECT_EQ(what.back(), ']');
  }
}

TEST(ErrorTest, CheckWithoutMessageNamesTheCondition) {
  try {
    MNEMO_CHECK(false);
    FAIL() << "MNEMO_CHECK did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("check failed: false [", 0), 0u) << e.what();
  }
}

TEST(ErrorTest, LibraryCheckShowsAPathBelowTheProjectRoot) {
  // A check inside the library reports its source file relative to the project, never
  // the absolute path it was built from.
  try {
    detail::throw_check_failure("/any/where/src/checkout/src/core/tensor.cpp", 12, "x", "msg");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "msg [src/core/tensor.cpp:12]");
  }
  try {
    detail::throw_check_failure("/home/u/proj/include/mnemo/core/tensor.h", 7, "x", "msg");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "msg [include/mnemo/core/tensor.h:7]");
  }
}

}  // namespace
}  // namespace mnemo
