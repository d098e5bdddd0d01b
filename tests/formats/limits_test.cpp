// The limits of mnemo/limits.h, each exceeded by a file given to mnemo::load: each is a
// clean kLimit error naming the limit, before anything of the claimed size is allocated.
//
// Where each limit is tested:
//   kMaxPickleBytes             here (a data.pkl record over it; a pickle expanding past
//                               it), pickle/unpickler_refusal_test.cpp (a pickle over it)
//   kMaxPickleStack, kMaxPickleMemo
//                               pickle/unpickler_refusal_test.cpp
//   kMaxPickleDepth, kMaxStringBytes, kMaxBigIntBytes, kMaxPickleValues, kMaxTensorRank
//                               here, through a .pt file, and in pickle/unpickler_refusal_test.cpp
//   kMaxPickleObjects           here
//   kMaxPickleValuesPerByte     here (a few kilobytes referencing one list many times),
//                               pickle/unpickler_refusal_test.cpp (its budget and floor)
//   kMaxTensorCount             here (no readable file can exceed it: see below)
//   kMaxZipEntries              here, and zip/zip_reader_test.cpp (EntryCountLies)
//   kMaxSafetensorsHeaderBytes  safetensors/safetensors_corruption_test.cpp (HeaderOverTheLimit)
// Lying sizes (a numel, a shape or a record size that the file cannot back) are refused
// as kCorrupt; tests/regress/bounded_allocation_test.cpp checks that no allocation of
// the claimed size is made first.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "formats/pickle/opcodes.h"
#include "formats/pickle/pickle_test_util.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/limits.h"
#include "mnemo/serialize.h"

namespace mnemo::testing {
namespace {

using pickle::Op;
using pickle::testing::billion_laughs;
using pickle::testing::PickleBuilder;
using pickle::testing::shared_text;
using ::testing::HasSubstr;
using zip::testing::Bytes;

// A .pt archive holding `pickle` as its data.pkl, and `storages` as data/0, data/1, ...
Bytes pt_with_pickle(const PickleBuilder& pickle, const std::vector<std::string>& storages = {}) {
  std::vector<zip::testing::NamedText> records = {
      {"archive/data.pkl", zip::testing::text_of(pickle.span())}};
  for (std::size_t i = 0; i < storages.size(); ++i) {
    records.push_back({"archive/data/" + std::to_string(i), storages[i]});
  }
  records.push_back({"archive/version", "3\n"});
  return zip::testing::write_archive(records);
}

Error load_error(std::span<const std::byte> bytes) {
  try {
    load(bytes);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "the file loaded";
  return Error(ErrorCode::kInvalidArgument, "nothing was thrown");
}

void expect_limit(std::span<const std::byte> bytes, const std::vector<std::string>& fragments) {
  const Error e = load_error(bytes);
  EXPECT_EQ(e.code(), ErrorCode::kLimit) << e.what();
  for (const std::string& fragment : fragments) EXPECT_THAT(e.what(), HasSubstr(fragment));
}

TEST(Limits, PickleRecordOverKMaxPickleBytes) {
  // A deflated data.pkl may claim up to 1032 times its compressed size: 2.1 MB of them
  // claim 2 GiB + 1. The claim is refused before anything is inflated or allocated.
  zip::testing::RawEntry pickle;
  pickle.name = "archive/data.pkl";
  pickle.stored = Bytes(2'100'000);
  pickle.size = limits::kMaxPickleBytes + 1;
  pickle.method = zip::kMethodDeflated;
  const Bytes file = zip::testing::build_classic(
      {pickle, zip::testing::stored_entry("archive/version", "3\n")});
  expect_limit(file, {"archive/data.pkl", "2147483649 bytes", "kMaxPickleBytes"});
}

TEST(Limits, PickleDepthOverKMaxPickleDepth) {
  PickleBuilder marks;
  marks.proto();
  for (std::size_t i = 0; i <= limits::kMaxPickleDepth; ++i) marks.mark();
  expect_limit(pt_with_pickle(marks), {"data.pkl", "kMaxPickleDepth"});

  PickleBuilder nested;  // lists in lists: the MARKs are fine, the value too deep
  nested.proto();
  for (std::size_t i = 0; i <= limits::kMaxPickleDepth + 1; ++i) nested.op(Op::kEmptyList);
  for (std::size_t i = 0; i <= limits::kMaxPickleDepth; ++i) nested.op(Op::kAppend);
  nested.stop();
  expect_limit(pt_with_pickle(nested), {"nest deeper", "kMaxPickleDepth"});
}

TEST(Limits, StringOverKMaxStringBytes) {
  PickleBuilder text;  // a length only: the bytes are not there, and are never asked for
  text.proto().op(Op::kBinUnicode8).le(limits::kMaxStringBytes + 1, 8);
  expect_limit(pt_with_pickle(text), {"BINUNICODE8 of 1073741825 bytes", "kMaxStringBytes"});
  PickleBuilder bytes;
  bytes.proto(4).op(Op::kBinBytes8).le(std::uint64_t{1} << 40, 8);
  expect_limit(pt_with_pickle(bytes), {"kMaxStringBytes"});
}

TEST(Limits, BigIntOverKMaxBigIntBytes) {
  PickleBuilder long4;
  long4.proto().op(Op::kLong4).le(limits::kMaxBigIntBytes + 1, 4);
  expect_limit(pt_with_pickle(long4), {"LONG4 of 65537 bytes", "kMaxBigIntBytes"});
}

TEST(Limits, SharedReferencesOverKMaxPickleValuesPerByteAndBytes) {
  expect_limit(pt_with_pickle(billion_laughs()), {"kMaxPickleValuesPerByte"});
  expect_limit(pt_with_pickle(shared_text(2100)), {"expands to more than", "kMaxPickleBytes"});
}

TEST(Limits, ObjectsOverKMaxPickleObjects) {
  // Each EMPTY_TUPLE makes an object, each POP drops it from the stack: the stack stays
  // empty while the objects pile up (a deliberately large test: 2^24 objects).
  PickleBuilder objects;
  objects.proto();
  for (std::size_t i = 0; i <= limits::kMaxPickleObjects; ++i) objects.op(Op::kEmptyTuple).op(Op::kPop);
  objects.none().stop();
  expect_limit(pt_with_pickle(objects), {"more than 16777216 objects", "kMaxPickleObjects"});
}

TEST(Limits, TensorRankOverKMaxTensorRank) {
  const int rank = static_cast<int>(limits::kMaxTensorRank) + 1;
  PickleBuilder pickle;
  pickle.proto().global("torch._utils", "_rebuild_tensor_v2").mark();
  pickle.storage_pid("FloatStorage", "0", 1).op(Op::kBinPersId).binint(0);
  for (int tuple = 0; tuple < 2; ++tuple) {  // sizes, then strides: all 1
    pickle.mark();
    for (int d = 0; d < rank; ++d) pickle.binint(1);
    pickle.op(Op::kTuple);
  }
  pickle.op(Op::kNewFalse).global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kReduce);
  pickle.op(Op::kTuple).op(Op::kReduce).stop();
  expect_limit(pt_with_pickle(pickle, {std::string(4, '\0')}), {"rank 65", "kMaxTensorRank"});
}

TEST(Limits, NoReadableFileExceedsKMaxTensorCount) {
  // kMaxTensorCount is checked by the safetensors reader and writer. A header naming
  // more tensors than that would be longer than kMaxSafetensorsHeaderBytes (each tensor
  // takes at least this entry's bytes, its unique name aside), which is refused first;
  // a .pt file's tensors are pickle objects, bounded by kMaxPickleObjects (tested above).
  const std::string smallest = R"("":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)";
  EXPECT_LT(limits::kMaxSafetensorsHeaderBytes / smallest.size(), limits::kMaxTensorCount);
  EXPECT_LE(limits::kMaxPickleObjects, limits::kMaxTensorCount);
}

TEST(Limits, ZipEntriesOverKMaxZipEntries) {
  Bytes file = save_to_bytes(Dict{{"w", ones({2})}});
  const zip::testing::EndOffsets end = zip::testing::end_offsets(file);
  zip::testing::patch64(file, end.zip64_end + 24, limits::kMaxZipEntries + 1);
  zip::testing::patch64(file, end.zip64_end + 32, limits::kMaxZipEntries + 1);
  zip::testing::patch16(file, end.end + 8, 0xffff);
  zip::testing::patch16(file, end.end + 10, 0xffff);
  expect_limit(file, {"16777217 entries", "kMaxZipEntries"});
}

TEST(Limits, LyingSizesAreCorruptNotAllocated) {
  // A storage claiming 2^40 float32 elements, backed by a 4-byte record.
  PickleBuilder numel;
  numel.proto().global("torch._utils", "_rebuild_tensor_v2").mark();
  numel.mark().unicode("storage").global("torch", "FloatStorage").unicode("0").unicode("cpu");
  numel.op(Op::kLong1).byte(6).le(std::uint64_t{1} << 40, 6).op(Op::kTuple).op(Op::kBinPersId);
  numel.binint(0).int_tuple({1}).int_tuple({1}).op(Op::kNewFalse);
  numel.global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kReduce);
  numel.op(Op::kTuple).op(Op::kReduce).stop();
  Error e = load_error(pt_with_pickle(numel, {std::string(4, '\0')}));
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
  EXPECT_THAT(e.what(), HasSubstr("archive/data/0 has 4 bytes, but its storage is 1099511627776"));

  // A tensor viewing 2^40 elements of that 4-byte storage.
  PickleBuilder view;
  view.proto().tensor("FloatStorage", "0", 1, 0, {1 << 20, 1 << 20}, {1 << 20, 1});
  view.stop();
  e = load_error(pt_with_pickle(view, {std::string(4, '\0')}));
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
  EXPECT_THAT(e.what(), HasSubstr("reaches outside storage"));

  // A safetensors shape of 2^40 elements over 8 bytes of data.
  const std::string header = R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,8]}})";
  Bytes st(8);
  zip::format::store_le64(st.data(), header.size());
  for (char c : header) st.push_back(static_cast<std::byte>(c));
  st.resize(st.size() + 8);
  e = load_error(st);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
  EXPECT_THAT(e.what(), HasSubstr("need 1099511627776 x 4"));
}

}  // namespace
}  // namespace mnemo::testing
