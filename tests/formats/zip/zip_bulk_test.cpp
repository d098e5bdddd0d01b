// ZipWriter::add_all and ZipReader::read_all: the bulk paths give the same bytes and the
// same checks as the one-entry ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_test_util.h"
#include "formats/zip/zip_writer.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_source.h"
#include "support/errors.h"
#include "support/python.h"

namespace mnemo::zip {
namespace {

using namespace testing;
using ::testing::HasSubstr;
using TempDir = mnemo::testing::TempDir;
using mnemo::testing::thrown_error;

Bytes pattern(std::size_t n, unsigned seed) {
  Bytes bytes(n);
  std::uint32_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    bytes[i] = static_cast<std::byte>(x >> 24);
  }
  return bytes;
}

// Entries of every kind: small ones, an empty one, a directory, one of several pieces,
// and large ones (enough bytes for add_all to compute CRCs on other threads, and for
// read_all to read in pieces).
struct Fixture {
  std::vector<std::string> names;
  std::vector<Bytes> data;
  std::vector<std::vector<io::ConstBytes>> pieces;

  Fixture() {
    for (int i = 0; i < 300; ++i) add("archive/data/" + std::to_string(i), pattern(100 + i * 7, i));
    add("archive/empty", {});
    add("archive/dir/", {});
    add("archive/big0", pattern(std::size_t{6} << 20, 1000));
    add("archive/small-after-big", pattern(33, 1001));
    add("archive/big1", pattern((std::size_t{3} << 20) + 5, 1002));
    // One entry made of three pieces (one of them empty).
    names.push_back("archive/pieces");
    data.push_back(pattern(70000, 1003));
    pieces.push_back({io::ConstBytes(data.back()).first(1000), io::ConstBytes(),
                      io::ConstBytes(data.back()).subspan(1000)});
    add("archive/version", {std::byte{'3'}, std::byte{'\n'}});
  }
  void add(std::string name, Bytes bytes) {
    names.push_back(std::move(name));
    data.push_back(std::move(bytes));
    pieces.push_back({io::ConstBytes(data.back())});
  }
  // data and pieces must not move once pieces point into data.
  Fixture(const Fixture&) = delete;
};

Bytes one_by_one(const Fixture& f) {
  io::MemorySink sink;
  ZipWriter writer(sink);
  for (std::size_t i = 0; i < f.names.size(); ++i) writer.add(f.names[i], f.pieces[i]);
  writer.finish();
  return sink.release();
}

Bytes all_at_once(const Fixture& f) {
  io::MemorySink sink;
  ZipWriter writer(sink);
  std::vector<EntryToAdd> entries;
  for (std::size_t i = 0; i < f.names.size(); ++i) entries.push_back({f.names[i], f.pieces[i]});
  writer.add_all(entries);
  writer.finish();
  return sink.release();
}

TEST(ZipAddAllTest, WritesTheSameBytesAsAddOneByOne) {
  const auto f = std::make_unique<Fixture>();
  EXPECT_EQ(all_at_once(*f), one_by_one(*f));
}

TEST(ZipAddAllTest, MixesWithAddAndChecksBeforeWriting) {
  io::MemorySink sink;
  ZipWriter writer(sink);
  const Bytes a = bytes_of("a"), b = bytes_of("bb");
  writer.add("archive/a", io::ConstBytes(a));
  const io::ConstBytes pb(b);
  // A duplicate within the call, and one of an earlier entry: refused before writing.
  const std::vector<EntryToAdd> twice{{"archive/b", std::span(&pb, 1)}, {"archive/b", std::span(&pb, 1)}};
  const std::uint64_t before = sink.position();
  EXPECT_THROW(writer.add_all(twice), Error);
  const std::vector<EntryToAdd> again{{"archive/c", std::span(&pb, 1)}, {"archive/a", std::span(&pb, 1)}};
  EXPECT_THROW(writer.add_all(again), Error);
  EXPECT_EQ(sink.position(), before);
  // The refused calls claimed no name.
  const std::vector<EntryToAdd> fine{{"archive/b", std::span(&pb, 1)},
                                     {"archive/c", std::span(&pb, 1)}};
  writer.add_all(fine);
  writer.finish();
  const io::MemorySource source = io::MemorySource::view(sink.bytes());
  const ZipReader reader(source);
  ASSERT_EQ(reader.entries().size(), 3u);
  EXPECT_EQ(reader.entries()[1].name, "archive/b");
  EXPECT_EQ(reader.entries()[2].name, "archive/c");
  EXPECT_EQ(read_entry(reader, reader.entries()[2]), "bb");
}

// Keeps each write's pieces, and fails the write numbered `fail_at` (from 0) after a
// while, as a slow disk would: long enough for the helpers to be asleep by then.
class WriteLog : public io::ByteSink {
 public:
  explicit WriteLog(std::size_t fail_at = static_cast<std::size_t>(-1)) : fail_at_(fail_at) {}
  void write(std::span<const io::ConstBytes> pieces) override {
    if (writes.size() == fail_at_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      fail(ErrorCode::kIo, "cannot write 'x.pt': no space left on device");
    }
    Bytes& bytes = writes.emplace_back();
    for (const io::ConstBytes& p : pieces) bytes.insert(bytes.end(), p.begin(), p.end());
    piece_counts.push_back(pieces.size());
    position_ += bytes.size();
  }
  std::uint64_t position() const override { return position_; }
  std::vector<Bytes> writes;
  std::vector<std::size_t> piece_counts;

 private:
  std::size_t fail_at_;
  std::uint64_t position_ = 0;
};

// The helpers computing CRCs read a write's bytes just before it, so that they are still
// cached as the kernel copies them: that holds only for writes of about a mebibyte, cut
// inside large entries, whatever the entries' sizes.
TEST(ZipAddAllTest, WritesAboutAMebibyteOfDataAtATime) {
  const auto f = std::make_unique<Fixture>();
  // Tiny entries, so that the number of pieces (IOV_MAX) ends some writes.
  for (int i = 0; i < 2000; ++i) f->add("archive/tiny/" + std::to_string(i), pattern(5, 2000 + i));
  WriteLog log;
  {
    ZipWriter writer(log);
    std::vector<EntryToAdd> entries;
    for (std::size_t i = 0; i < f->names.size(); ++i) {
      entries.push_back({f->names[i], f->pieces[i]});
    }
    writer.add_all(entries);
    writer.finish();
  }
  Bytes joined;
  for (std::size_t w = 0; w < log.writes.size(); ++w) {
    EXPECT_LE(log.writes[w].size(), std::size_t{2} << 20) << "write " << w;
    EXPECT_LE(log.piece_counts[w], 1024u) << "write " << w;
    joined.insert(joined.end(), log.writes[w].begin(), log.writes[w].end());
  }
  // 10 MiB of large entries in writes of about 1 MiB, the tiny entries' headers in
  // writes of at most 1,000 pieces, and the central directory.
  EXPECT_GE(log.writes.size(), 12u);
  EXPECT_EQ(joined, one_by_one(*f));
}

// A sink that fails while helpers are computing CRCs ahead of the writes, or waiting to:
// add_all stops them and rethrows, and the writer refuses more. It runs on a thread of
// its own, so that a helper left waiting fails the test instead of hanging it.
TEST(ZipAddAllTest, AFailedWriteStopsTheHelpersAndLeavesTheWriterUnusable) {
  struct Run {
    Fixture f;
    WriteLog log{2};
    std::vector<ErrorCode> codes;
  };
  const auto run = std::make_shared<Run>();
  std::promise<void> finished;
  std::future<void> done = finished.get_future();
  std::thread([run, finished = std::move(finished)]() mutable {
    ZipWriter writer(run->log);
    std::vector<EntryToAdd> entries;
    for (std::size_t i = 0; i < run->f.names.size(); ++i) {
      entries.push_back({run->f.names[i], run->f.pieces[i]});
    }
    const Bytes data = bytes_of("x");
    run->codes.push_back(thrown_error([&] { writer.add_all(entries); }).code());
    run->codes.push_back(
        thrown_error([&] { writer.add("archive/late", io::ConstBytes(data)); }).code());
    run->codes.push_back(thrown_error([&] { writer.finish(); }).code());
    finished.set_value();
  }).detach();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "add_all did not return after its sink failed";
  EXPECT_THAT(run->codes, ElementsAre(ErrorCode::kIo, ErrorCode::kInvalidArgument,
                                      ErrorCode::kInvalidArgument));
  EXPECT_EQ(run->log.writes.size(), 2u);
}

class ZipReadAllTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_ = std::make_unique<Fixture>();
    archive_ = all_at_once(*fixture_);
  }
  std::filesystem::path write(const Bytes& bytes) {
    const auto path = dir_ / "a.zip";
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  // Reads the entries whose index passes `want` with read_all; checks them.
  void check(const ZipReader& reader, bool (*want)(std::size_t)) {
    std::vector<Bytes> out;
    std::vector<ReadRequest> requests;
    std::vector<std::size_t> which;
    for (std::size_t i = 0; i < reader.entries().size(); ++i) {
      if (!want(i)) continue;
      out.emplace_back(static_cast<std::size_t>(reader.entries()[i].size));
      which.push_back(i);
    }
    for (std::size_t k = 0; k < which.size(); ++k) requests.push_back({&reader.entries()[which[k]], out[k]});
    reader.read_all(requests, /*verify_crc=*/true);
    for (std::size_t k = 0; k < which.size(); ++k) {
      const std::size_t i = which[k];
      ASSERT_EQ(reader.entries()[i].name, fixture_->names[i]);
      ASSERT_EQ(out[k], fixture_->data[i]) << fixture_->names[i];
    }
  }

  // A buffer for every entry of `reader`, and the requests to read them all.
  struct Buffers {
    std::vector<Bytes> out;
    std::vector<ReadRequest> requests;  // into `out`'s buffers, which a move keeps
  };
  static Buffers every_entry(const ZipReader& reader) {
    Buffers buffers;
    buffers.out.reserve(reader.entries().size());
    for (const Entry& e : reader.entries()) {
      buffers.out.emplace_back(static_cast<std::size_t>(e.size));
      buffers.requests.push_back({&e, buffers.out.back()});
    }
    return buffers;
  }

  TempDir dir_;
  std::unique_ptr<Fixture> fixture_;
  Bytes archive_;
};

TEST_F(ZipReadAllTest, ReadsEveryEntryFromAFileWithDeferredHeaders) {
  const io::FileSource file(write(archive_));
  const ZipReader reader(file, LocalHeaders::kDeferred);
  EXPECT_TRUE(reader.local_headers_deferred());
  EXPECT_EQ(reader.entries()[0].data_offset, 0u);  // not read yet
  check(reader, [](std::size_t) { return true; });
  check(reader, [](std::size_t i) { return i % 3 == 1; });
  check(reader, [](std::size_t) { return false; });
  // read() resolves a deferred entry on its own.
  const Entry* big = reader.find("archive/big1");
  Bytes out(static_cast<std::size_t>(big->size));
  reader.read(*big, out, true);
  EXPECT_EQ(out, fixture_->data[304]);  // 300 small ones, empty, dir, big0, small-after-big
}

TEST_F(ZipReadAllTest, ReadsEveryEntryFromMemoryAndFromAnEagerFile) {
  const io::MemorySource memory = io::MemorySource::view(archive_);
  const ZipReader in_memory(memory, LocalHeaders::kDeferred);
  EXPECT_FALSE(in_memory.local_headers_deferred());  // nothing to save in memory
  check(in_memory, [](std::size_t) { return true; });
  const io::FileSource file(write(archive_));
  const ZipReader eager(file);
  check(eager, [](std::size_t i) { return i % 2 == 0; });
}

TEST_F(ZipReadAllTest, DamagedDataIsCorruptNamingTheEntry) {
  const io::MemorySource memory = io::MemorySource::view(archive_);
  const ZipReader clean(memory);
  for (const char* name : {"archive/data/7", "archive/big0"}) {
    Bytes damaged = archive_;
    const Entry* entry = clean.find(name);
    damaged[static_cast<std::size_t>(entry->data_offset + entry->size / 2)] ^= std::byte{1};
    const io::FileSource file(write(damaged));
    const ZipReader reader(file, LocalHeaders::kDeferred);
    auto [out, requests] = every_entry(reader);
    try {
      reader.read_all(requests, true);
      FAIL() << "nothing thrown for " << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_THAT(e.what(), HasSubstr(std::string("'") + name + "'"));
      EXPECT_THAT(e.what(), HasSubstr("CRC-32"));
    }
    // Without the CRC check, the damage goes unseen.
    reader.read_all(requests, false);
  }
}

TEST_F(ZipReadAllTest, ADamagedLocalHeaderIsFoundEvenWhenItsEntryIsNotRead) {
  const io::MemorySource memory = io::MemorySource::view(archive_);
  const ZipReader clean(memory);
  for (const char* name : {"archive/data/150", "archive/big1"}) {
    Bytes damaged = archive_;
    damaged[static_cast<std::size_t>(clean.find(name)->local_header_offset)] ^= std::byte{0xff};
    const io::FileSource file(write(damaged));
    const ZipReader reader(file, LocalHeaders::kDeferred);  // the directory is intact
    try {
      reader.read_all({}, true);
      FAIL() << "nothing thrown for " << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_THAT(e.what(), HasSubstr(std::string("'") + name + "'"));
      EXPECT_THAT(e.what(), HasSubstr("signature"));
    }
    // The eager reader finds it when it opens the archive.
    EXPECT_THROW(ZipReader eager(file), Error);
  }
}

// A file source that counts the bytes read through it and the threads that read them.
class WatchedSource : public io::ByteSource {
 public:
  explicit WatchedSource(const std::filesystem::path& path) : file_(path) {}
  std::uint64_t size() const override { return file_.size(); }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    {
      const std::lock_guard lock(mutex_);
      bytes_ += out.size();
      threads_.insert(std::this_thread::get_id());
    }
    file_.read_at(offset, out);
  }
  std::string describe() const override { return file_.describe(); }

  std::uint64_t bytes() const { return bytes_; }
  const std::set<std::thread::id>& threads() const { return threads_; }

 private:
  io::FileSource file_;
  mutable std::mutex mutex_;
  mutable std::uint64_t bytes_ = 0;
  mutable std::set<std::thread::id> threads_;
};

TEST_F(ZipReadAllTest, OptionsCapTheThreadsAndSkipUnrequestedHeaders) {
  const auto path = write(archive_);
  {  // 9 MiB of large records would be read on every core; capped, on the calling thread.
    const WatchedSource source(path);
    const ZipReader reader(source, LocalHeaders::kDeferred);
    auto [out, requests] = every_entry(reader);
    reader.read_all(requests, true, {.max_threads = 1});
    EXPECT_EQ(source.threads(), std::set<std::thread::id>{std::this_thread::get_id()});
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], fixture_->data[i]) << i;
  }

  // One small entry's local header damaged: a read of another entry that skips the
  // unrequested headers neither sees it nor reads the archive's other records.
  const io::MemorySource memory = io::MemorySource::view(archive_);
  const ZipReader clean(memory);
  Bytes damaged = archive_;
  damaged[static_cast<std::size_t>(clean.find("archive/data/150")->local_header_offset)] ^=
      std::byte{0xff};
  const auto damaged_path = dir_ / "damaged.zip";
  std::filesystem::copy_file(write(damaged), damaged_path);
  const WatchedSource source(damaged_path);
  const ZipReader reader(source, LocalHeaders::kDeferred);
  const Entry* small = reader.find("archive/small-after-big");
  Bytes out(static_cast<std::size_t>(small->size));
  const std::vector<ReadRequest> requests{{small, out}};
  const std::uint64_t directory_bytes = source.bytes();
  reader.read_all(requests, true, {.check_unrequested = false});
  EXPECT_EQ(out, fixture_->data[303]);  // 300 small ones, empty, dir, big0
  EXPECT_LT(source.bytes() - directory_bytes, 4096u);
  EXPECT_THROW(reader.read_all(requests, true), Error);  // checking them all finds it
  // The requested entries' own headers are still checked.
  Bytes damaged_out(static_cast<std::size_t>(reader.find("archive/data/150")->size));
  const std::vector<ReadRequest> damaged_request{{reader.find("archive/data/150"), damaged_out}};
  EXPECT_THROW(reader.read_all(damaged_request, true, {.check_unrequested = false}), Error);
}

TEST_F(ZipReadAllTest, RequestsAreChecked) {
  const io::MemorySource memory = io::MemorySource::view(archive_);
  const ZipReader reader(memory);
  Bytes small(1);
  const std::vector<ReadRequest> wrong_size{{&reader.entries()[0], small}};
  EXPECT_THROW(reader.read_all(wrong_size, true), Error);
  Entry foreign = reader.entries()[0];
  const std::vector<ReadRequest> not_ours{{&foreign, small}};
  EXPECT_THROW(reader.read_all(not_ours, true), Error);
}

}  // namespace
}  // namespace mnemo::zip
