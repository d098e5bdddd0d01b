// Every rule of the safetensors reader broken once, each refused with a message that
// names the tensor and says what was expected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/safetensors/safetensors_test_util.h"
#include "mnemo/limits.h"
#include "mnemo/serialize.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;

// Two valid entries, "a" (F32 [2], bytes [0, 8)) and "b" (I32 [1], bytes [8, 12)), for
// cases that break one thing elsewhere.
constexpr std::string_view kA = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
constexpr std::string_view kB = R"("b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]})";

std::string object(std::initializer_list<std::string_view> entries) {
  std::string out = "{";
  for (std::string_view entry : entries) out += (out.size() > 1 ? "," : "") + std::string(entry);
  return out + "}";
}

FileBytes twelve_bytes() { return FileBytes(12, std::byte{0}); }

std::string ones_shape(int rank) {  // "1,1,...,1"
  std::string out = "1";
  for (int i = 1; i < rank; ++i) out += ",1";
  return out;
}

struct Case {
  const char* rule;
  FileBytes file;
  ErrorCode code;
  std::vector<std::string> fragments;
};

std::vector<Case> cases() {
  const std::string valid = object({kA, kB});
  FileBytes trailing = st_file(valid, twelve_bytes());
  trailing.push_back(std::byte{0});
  FileBytes truncated = st_file(valid, twelve_bytes());
  truncated.pop_back();
  return {
      {"header past the file",
       st_file(valid, twelve_bytes(), 1000),
       ErrorCode::kCorrupt,
       {"header length is 1000 bytes", "past the end of the file"}},
      {"invalid UTF-8",
       st_file(object({"\"a\xff\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}"}),
               FileBytes(4)),
       ErrorCode::kCorrupt,
       {"not valid UTF-8", "byte 3 of the header (file byte 11) is 0xff"}},
      {"overlong UTF-8",
       st_file(object({"\"a\xc0\xaf\":1"})),
       ErrorCode::kCorrupt,
       {"not valid UTF-8", "byte 3 of the header"}},
      {"invalid JSON: a trailing comma",
       st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],}})", FileBytes(8)),
       ErrorCode::kCorrupt,
       {"not valid JSON", "in tensor 'a'"}},
      {"invalid JSON: no colon", st_file(R"({"a" {}})"), ErrorCode::kCorrupt, {"not valid JSON"}},
      {"invalid JSON: content after the object",
       st_file(valid + " {}", twelve_bytes()),
       ErrorCode::kCorrupt,
       {"content after its JSON object", "expected only whitespace"}},
      {"duplicate name",
       st_file(object({kA, kA}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' appears twice", "names must be unique"}},
      {"duplicate metadata",
       st_file(R"({"__metadata__":{},"__metadata__":{}})"),
       ErrorCode::kCorrupt,
       {"__metadata__ appears twice"}},
      {"unknown dtype",
       st_file(object({R"("a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has dtype \"F31\", which is not a safetensors dtype",
        "expected one of BOOL, U8"}},
      {"lower-case dtype",
       st_file(object({R"("a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has dtype \"f32\""}},
      {"a dtype mnemo lacks",
       st_file(object({R"("a":{"dtype":"F8_E8M0","shape":[2],"data_offsets":[0,2]})"}),
               FileBytes(2)),
       ErrorCode::kUnsupported,
       {"tensor 'a' has dtype F8_E8M0", "mnemo does not support"}},
      {"shape product overflow",
       st_file(
           object({R"("a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]})"})),
       ErrorCode::kCorrupt,
       {"tensor 'a' has shape [4294967296, 4294967296]", "the product overflows"}},
      {"no elements, but strides that overflow",
       st_file(object(
           {R"("a":{"dtype":"U8","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]})"})),
       ErrorCode::kCorrupt,
       {"tensor 'a' has shape [0, 1099511627776, 1099511627776]",
        "whose strides would pass 2^63 - 1"}},
      {"byte size overflow",
       st_file(
           object({R"("a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]})"})),
       ErrorCode::kCorrupt,
       {"tensor 'a'", "the size overflows"}},
      {"byte range is not shape x size",
       st_file(object({R"("a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has dtype F32 and shape [3], which need 3 x 4 = 12 bytes, but data_offsets "
        "[0, 8] span 8"}},
      {"gap",
       st_file(object({kA, R"("b":{"dtype":"I32","shape":[1],"data_offsets":[12,16]})"}),
               FileBytes(16)),
       ErrorCode::kCorrupt,
       {"tensor 'b' starts at data byte 12", "'a', ends at 8: a gap of 4 bytes"}},
      {"overlap",
       st_file(object({kA, R"("b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]})"}),
               FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'b' starts at data byte 4, inside tensor 'a' [0, 8)", "overlap"}},
      {"not starting at 0",
       st_file(object({R"("a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]})"}), FileBytes(12)),
       ErrorCode::kCorrupt,
       {"tensor 'a' is first in the data but starts at data byte 4, expected 0"}},
      {"trailing bytes",
       trailing,
       ErrorCode::kCorrupt,
       {"the tensors end at data byte 12", "the file has 1 more byte;",
        "must end with its last tensor"}},
      {"truncated data",
       truncated,
       ErrorCode::kCorrupt,
       {"the tensors need 12 bytes of data after the header, but the file has 11", "truncated"}},
      {"non-string metadata value",
       st_file(object({R"("__metadata__":{"k":1})"})),
       ErrorCode::kCorrupt,
       {"__metadata__['k'] is a number, expected a string"}},
      {"metadata not an object",
       st_file(object({R"("__metadata__":["k"])"})),
       ErrorCode::kCorrupt,
       {"__metadata__ is an array, expected an object mapping strings to strings"}},
      {"duplicate metadata key",
       st_file(object({R"("__metadata__":{"k":"1","k":"2"})"})),
       ErrorCode::kCorrupt,
       {"__metadata__ has the key 'k' twice"}},
      {"negative shape entry",
       st_file(object({R"("a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]})"})),
       ErrorCode::kCorrupt,
       {"tensor 'a' has shape[0] = -1, expected a non-negative integer"}},
      {"float shape entry",
       st_file(object({R"("a":{"dtype":"F32","shape":[2,2.0],"data_offsets":[0,16]})"}),
               FileBytes(16)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has shape[1] = 2.0, expected a non-negative integer"}},
      {"string shape entry",
       st_file(object({R"("a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has shape[0] = a string, expected a non-negative integer"}},
      {"shape not an array",
       st_file(object({R"("a":{"dtype":"F32","shape":2,"data_offsets":[0,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has a shape that is a number, expected an array"}},
      {"rank over the limit",
       st_file(object({R"("a":{"dtype":"U8","shape":[)" + ones_shape(65) +
                       R"(],"data_offsets":[0,1]})"}),
               FileBytes(1)),
       ErrorCode::kLimit,
       {"tensor 'a' has a shape of more than 64 dimensions (kMaxTensorRank)"}},
      {"data_offsets end before begin",
       st_file(object({R"("a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has data_offsets [8, 0]: its end is before its begin"}},
      {"three data_offsets",
       st_file(object({R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has more than two data_offsets, expected [begin, end]"}},
      {"one data_offset",
       st_file(object({R"("a":{"dtype":"F32","shape":[0],"data_offsets":[0]})"})),
       ErrorCode::kCorrupt,
       {"tensor 'a' has 1 data offset, expected two"}},
      {"offset past 2^64",
       st_file(
           object({R"("a":{"dtype":"F32","shape":[0],"data_offsets":[0,18446744073709551616]})"})),
       ErrorCode::kCorrupt,
       {"data_offsets[1] (end) = 18446744073709551616", "below 2^64"}},
      {"missing dtype",
       st_file(object({R"("a":{"shape":[2],"data_offsets":[0,8]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' lacks \"dtype\""}},
      {"missing data_offsets",
       st_file(object({R"("a":{"dtype":"F32","shape":[2]})"}), FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' lacks \"data_offsets\""}},
      {"a key twice in a tensor",
       st_file(object({R"("a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"}),
               FileBytes(8)),
       ErrorCode::kCorrupt,
       {"tensor 'a' has \"dtype\" twice"}},
      {"a tensor that is not an object",
       st_file(object({R"("a":"F32")"})),
       ErrorCode::kCorrupt,
       {"tensor 'a' is a string, expected an object with \"dtype\", \"shape\" and "
        "\"data_offsets\""}},
      {"invalid JSON in an ignored key",
       st_file(object({R"("a":{"dtype":"F32","x":[1,,2],"shape":[2],"data_offsets":[0,8]})"}),
               FileBytes(8)),
       ErrorCode::kCorrupt,
       {"not valid JSON", "in tensor 'a'"}},
  };
}

TEST(SafetensorsCorruption, EachRuleBrokenOnceIsRefused) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.rule);
    const Error e = thrown_error([&] { load(c.file); });
    EXPECT_EQ(e.code(), c.code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("<memory>: ")) << "the message names the file";
    for (const std::string& fragment : c.fragments) EXPECT_THAT(e.what(), HasSubstr(fragment));
    // inspect_safetensors applies the same rules.
    EXPECT_EQ(thrown_error([&] { inspect_safetensors(c.file); }).code(), c.code);
  }
}

TEST(SafetensorsCorruption, TheValidBaseLoads) {
  // The cases above break one rule of this file each.
  const Value value = load(st_file(object({kA, kB}), twelve_bytes()));
  EXPECT_EQ(value.as_dict().size(), 2u);
}

TEST(SafetensorsCorruption, HeaderOverTheLimit) {
  // A sparse file big enough to hold the header the length claims.
  TempDir dir;
  const auto path = dir / "huge.safetensors";
  const std::uint64_t length = limits::kMaxSafetensorsHeaderBytes + 1;
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(st_file("{", {}, length).data()), 9);
  }
  std::filesystem::resize_file(path, 8 + length + 4);
  EXPECT_EQ(detect_format(path), FileFormat::kSafetensors);
  for (bool mmap : {false, true}) {
    const Error e = thrown_error([&] { load(path, {.mmap = mmap}); });
    EXPECT_EQ(e.code(), ErrorCode::kLimit);
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("header length is 100000001 bytes, more than the limit of "
                                    "100000000 (kMaxSafetensorsHeaderBytes"));
  }
  EXPECT_EQ(thrown_error([&] { verify(path); }).code(), ErrorCode::kLimit);
}

TEST(SafetensorsCorruption, ATruncatedFileNamesItsPath) {
  TempDir dir;
  const auto path = dir / "cut.safetensors";
  save(Dict{{"w", ones({4})}}, path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  for (bool mmap : {false, true}) {
    const Error e = thrown_error([&] { load(path, {.mmap = mmap}); });
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ": the tensors need 16 bytes"));
  }
  EXPECT_EQ(thrown_error([&] { verify(path); }).code(), ErrorCode::kCorrupt);
  // A header cut short: its length points past the end.
  std::filesystem::resize_file(path, 20);
  EXPECT_THAT(thrown_error([&] { load(path); }).what(),
              HasSubstr("past the end of the file (20 bytes)"));
}

}  // namespace
}  // namespace mnemo::testing
