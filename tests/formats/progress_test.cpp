// Progress functions of load, save and verify (LoadOptions::progress, ...): every format
// and mode reports done of total as the ProgressFunction contract says — totals that are
// the data's size, done never decreasing nor passing total, exactly one final call with
// done == total, a bounded number of calls — and what the function throws stops the
// work. Progress changes nothing that is written or read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "formats/pt/torch_golden_views.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using ::testing::Le;
using ::testing::SizeIs;

struct Call {
  std::uint64_t done, total;
};

// Records every call; checks the contract when asked.
class Recorder {
 public:
  ProgressFunction function() {
    return [this](std::uint64_t done, std::uint64_t total) {
      // The contract says calls never overlap: try_lock fails if one does.
      std::unique_lock lock(mutex_, std::try_to_lock);
      EXPECT_TRUE(lock.owns_lock()) << "two progress calls at once";
      calls_.push_back({done, total});
    };
  }
  const std::vector<Call>& calls() const { return calls_; }

  // Checks the contract and returns the total.
  std::uint64_t checked_total() const {
    EXPECT_FALSE(calls_.empty());
    if (calls_.empty()) return 0;
    const std::uint64_t total = calls_.front().total;
    std::uint64_t previous = 0;
    for (std::size_t i = 0; i < calls_.size(); ++i) {
      EXPECT_EQ(calls_[i].total, total) << "call " << i;
      EXPECT_LE(calls_[i].done, total) << "call " << i;
      EXPECT_GE(calls_[i].done, previous) << "call " << i;
      EXPECT_EQ(calls_[i].done == total, i + 1 == calls_.size())
          << "call " << i << ": done == total must come once, last";
      previous = calls_[i].done;
    }
    return total;
  }

 private:
  std::mutex mutex_;
  std::vector<Call> calls_;
};

// 48 MiB in one tensor, plus small ones: enough for several reports.
constexpr std::int64_t kBigElements = std::int64_t{12} << 20;
constexpr std::uint64_t kDataBytes = kBigElements * 4 + 10 * 8 + 3 * 4;

Dict sample() {
  return Dict{{"big", arange(0.0, static_cast<double>(kBigElements))},
              {"ids", arange(10)},
              {"small", full({3}, 2.5)}};
}

class Progress : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(Progress, SavingPtCountsTheRecordsAsTheyAreWritten) {
  Recorder recorder;
  save(sample(), dir_ / "m.pt", {.fsync = false, .progress = recorder.function()});
  const std::uint64_t total = recorder.checked_total();
  // The records: tensor data, the pickle and "version"; the zip's headers come on top.
  EXPECT_GT(total, kDataBytes);
  EXPECT_LT(total, std::filesystem::file_size(dir_ / "m.pt"));
  EXPECT_GE(recorder.calls().size(), 3u) << "a 48 MiB record is written in slices";
  // The same bytes as without progress (under the same name: it is the archive's folder).
  std::filesystem::create_directory(dir_ / "plain");
  save(sample(), dir_ / "plain" / "m.pt", {.fsync = false});
  EXPECT_TRUE(read_file(dir_ / "m.pt") == read_file(dir_ / "plain" / "m.pt"));
}

TEST_F(Progress, SavingSafetensorsCountsEveryByteOfTheFile) {
  Recorder recorder;
  save(sample(), dir_ / "m.safetensors", {.fsync = false, .progress = recorder.function()});
  EXPECT_EQ(recorder.checked_total(), std::filesystem::file_size(dir_ / "m.safetensors"));
  save(sample(), dir_ / "plain.safetensors", {.fsync = false});
  EXPECT_TRUE(read_file(dir_ / "m.safetensors") == read_file(dir_ / "plain.safetensors"));
}

TEST_F(Progress, SavingToBytesReportsAndWritesTheSameBytes) {
  for (const FileFormat format : {FileFormat::kPtZip, FileFormat::kSafetensors}) {
    SCOPED_TRACE(file_format_name(format));
    Recorder recorder;
    const std::vector<std::byte> bytes =
        save_to_bytes(sample(), format, {.progress = recorder.function()});
    EXPECT_GT(recorder.checked_total(), kDataBytes);
    EXPECT_TRUE(bytes == save_to_bytes(sample(), format));
  }
}

TEST_F(Progress, CopyLoadsCountTheTensorData) {
  save(sample(), dir_ / "m.pt", {.fsync = false});
  save(sample(), dir_ / "m.safetensors", {.fsync = false});
  for (const char* name : {"m.pt", "m.safetensors"}) {
    SCOPED_TRACE(name);
    Recorder recorder;
    const Value loaded = load(dir_ / name, {.progress = recorder.function()});
    EXPECT_EQ(recorder.checked_total(), kDataBytes);
    EXPECT_GE(recorder.calls().size(), 3u);
    EXPECT_TRUE(loaded.as_dict().at(std::string("big")).as_tensor().equal(
        arange(0.0, static_cast<double>(kBigElements))));
  }
}

TEST_F(Progress, MappedLoadsReportTheirDataDoneAtOnceUnlessCrcsAreChecked) {
  save(sample(), dir_ / "m.pt", {.fsync = false});
  save(sample(), dir_ / "m.safetensors", {.fsync = false});
  for (const char* name : {"m.pt", "m.safetensors"}) {
    SCOPED_TRACE(name);
    Recorder recorder;
    load(dir_ / name, {.mmap = true, .progress = recorder.function()});
    EXPECT_EQ(recorder.checked_total(), kDataBytes);
    EXPECT_THAT(recorder.calls(), SizeIs(1));
  }
  // Checking a mapped .pt's CRCs reads every byte: that is counted.
  Recorder checked;
  load(dir_ / "m.pt", {.mmap = true, .verify_crc = true, .progress = checked.function()});
  EXPECT_EQ(checked.checked_total(), kDataBytes);
  EXPECT_GE(checked.calls().size(), 3u);
}

TEST_F(Progress, ManySmallTensorsGiveABoundedNumberOfCalls) {
  Dict many;
  for (int i = 0; i < 5000; ++i) many.insert_or_assign("t" + std::to_string(i), full({16}, i));
  save(many, dir_ / "many.pt", {.fsync = false});
  Recorder recorder;
  load(dir_ / "many.pt", {.progress = recorder.function()});
  EXPECT_EQ(recorder.checked_total(), 5000u * 16 * 4);
  EXPECT_THAT(recorder.calls().size(), Le(502u));
  EXPECT_GE(recorder.calls().size(), 100u) << "small records still move the count";
}

TEST_F(Progress, LegacyLoadsCountEachStorage) {
  const zip::testing::Bytes bytes = zip::testing::from_hex(kLegacyViewsHex);
  Recorder recorder;
  const Value loaded = load(bytes, {.progress = recorder.function()});
  std::uint64_t storage_bytes = 0;
  std::vector<const std::byte*> seen;
  for_each_tensor(loaded, [&](const std::string&, const Tensor& t) {
    if (std::find(seen.begin(), seen.end(), t.storage().data()) != seen.end()) return;
    seen.push_back(t.storage().data());
    storage_bytes += t.storage().nbytes();
  });
  EXPECT_GT(storage_bytes, 0u);
  EXPECT_EQ(recorder.checked_total(), storage_bytes);
}

TEST_F(Progress, VerifyCountsEveryRecordOrTheSafetensorsData) {
  save(sample(), dir_ / "m.pt", {.fsync = false});
  Recorder recorder;
  const VerifyReport report = verify(dir_ / "m.pt", {.progress = recorder.function()});
  EXPECT_EQ(recorder.checked_total(), report.record_bytes);
  EXPECT_GE(recorder.calls().size(), 3u);

  save(sample(), dir_ / "m.safetensors", {.fsync = false});
  Recorder safetensors;
  verify(dir_ / "m.safetensors", {.progress = safetensors.function()});
  EXPECT_EQ(safetensors.checked_total(), kDataBytes);
}

TEST_F(Progress, NoDataIsOneFinalCall) {
  Recorder recorder;
  load(save_to_bytes(Dict{{"epoch", 3}}), {.progress = recorder.function()});
  ASSERT_THAT(recorder.calls(), SizeIs(1));
  EXPECT_EQ(recorder.calls()[0].done, 0u);
  EXPECT_EQ(recorder.calls()[0].total, 0u);
}

struct Stop {};

// Throws once `after` bytes are done: how a caller cancels.
ProgressFunction stop_after(std::uint64_t after) {
  return [after](std::uint64_t done, std::uint64_t) {
    if (done >= after) throw Stop{};
  };
}

TEST_F(Progress, ThrowingStopsASaveAndLeavesNoFile) {
  for (const char* name : {"m.pt", "m.safetensors"}) {
    SCOPED_TRACE(name);
    EXPECT_THROW(save(sample(), dir_ / name, {.fsync = false, .progress = stop_after(1)}), Stop);
    EXPECT_FALSE(std::filesystem::exists(dir_ / name));
    // An existing file is kept whole.
    save(Dict{{"old", arange(3)}}, dir_ / name, {.fsync = false});
    const std::vector<std::byte> old = read_file(dir_ / name);
    EXPECT_THROW(save(sample(), dir_ / name, {.fsync = false, .progress = stop_after(1)}), Stop);
    EXPECT_EQ(read_file(dir_ / name), old);
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            2)
      << "no temporary file left behind";
}

TEST_F(Progress, ThrowingStopsALoadAndAVerify) {
  save(sample(), dir_ / "m.pt", {.fsync = false});
  save(sample(), dir_ / "m.safetensors", {.fsync = false});
  for (const char* name : {"m.pt", "m.safetensors"}) {
    SCOPED_TRACE(name);
    EXPECT_THROW(load(dir_ / name, {.progress = stop_after(1)}), Stop);
  }
  EXPECT_THROW(verify(dir_ / "m.pt", {.progress = stop_after(1)}), Stop);
}

TEST_F(Progress, DamageIsStillFoundWithProgressOn) {
  save(sample(), dir_ / "m.pt", {.fsync = false});
  {
    // A byte in the middle of the big record, flipped.
    std::fstream file(dir_ / "m.pt", std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(dir_ / "m.pt") / 2);
    file.seekg(middle);
    const int byte = file.get();
    file.seekp(middle);
    file.put(static_cast<char>(byte ^ 0xff));
  }
  Recorder recorder;
  EXPECT_THROW(load(dir_ / "m.pt", {.mmap = true, .verify_crc = true, .progress = recorder.function()}),
               Error);
  EXPECT_THROW(load(dir_ / "m.pt", {.progress = recorder.function()}), Error);
  EXPECT_THROW(verify(dir_ / "m.pt", {.progress = recorder.function()}), Error);
}

}  // namespace
}  // namespace mnemo::testing
