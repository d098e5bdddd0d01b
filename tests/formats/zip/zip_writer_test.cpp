#include "formats/zip/zip_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "formats/zip/torch_golden_archive.h"
#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_source.h"
#include "support/errors.h"

namespace mnemo::zip {
namespace {

using namespace testing;
using format::load_le16;
using format::load_le32;
using format::load_le64;
using mnemo::testing::thrown_error;
using ::testing::HasSubstr;

TEST(ZipWriterTest, RewritesATorchArchiveByteForByte) {
  const Bytes original = from_hex(kTorch113ArchiveHex);
  const io::MemorySource source = io::MemorySource::view(original);
  const ZipReader reader(source);
  ASSERT_EQ(reader.entries().size(), 5u);
  io::MemorySink sink;
  ZipWriter writer(sink);
  for (const Entry& entry : reader.entries()) {
    Bytes data(static_cast<std::size_t>(entry.size));
    reader.read(entry, data, true);
    writer.add(entry.name, io::ConstBytes(data));
  }
  writer.finish();
  EXPECT_EQ(sink.bytes(), original);
}

// archive/data.pkl (100 bytes), archive/data/0 (empty), archive/version ("3\n").
Bytes small_archive() {
  return write_archive({{"archive/data.pkl", std::string(100, 'p')},
                        {"archive/data/0", ""},
                        {"archive/version", "3\n"}});
}

TEST(ZipWriterTest, LocalHeadersAreLaidOutAsMinizDoes) {
  const Bytes a = small_archive();
  struct Expect {
    std::string name;
    std::string data;
  };
  const std::vector<Expect> expected = {{"archive/data.pkl", std::string(100, 'p')},
                                        {"archive/data/0", ""},
                                        {"archive/version", "3\n"}};
  std::uint64_t at = 0;
  for (const Expect& e : expected) {
    SCOPED_TRACE(e.name);
    EXPECT_EQ(load_le32(&a[at]), 0x04034b50u);
    EXPECT_EQ(load_le16(&a[at + 4]), 0u);  // version needed
    EXPECT_EQ(load_le16(&a[at + 6]), e.data.empty() ? 0x0800u : 0x0808u);
    EXPECT_EQ(load_le16(&a[at + 8]), 0u);   // stored
    EXPECT_EQ(load_le32(&a[at + 10]), 0u);  // time and date
    EXPECT_EQ(load_le32(&a[at + 14]), 0u);  // CRC deferred to the descriptor
    EXPECT_EQ(load_le32(&a[at + 18]), 0u);
    EXPECT_EQ(load_le32(&a[at + 22]), 0u);
    const std::size_t name_size = load_le16(&a[at + 26]);
    const std::size_t extra_size = load_le16(&a[at + 28]);
    EXPECT_EQ(text_of(std::span(&a[at + 30], name_size)), e.name);
    // The extra field is exactly one "FB" block of 'Z' padding.
    const std::uint64_t extra = at + 30 + name_size;
    EXPECT_EQ(load_le16(&a[extra]), 0x4246u);
    const std::size_t pad = load_le16(&a[extra + 2]);
    EXPECT_EQ(extra_size, 4 + pad);
    EXPECT_LT(pad, 64u);
    for (std::size_t i = 0; i < pad; ++i) EXPECT_EQ(a[extra + 4 + i], std::byte{'Z'});
    const std::uint64_t data = extra + extra_size;
    EXPECT_EQ(data % 64, 0u);
    EXPECT_EQ(text_of(std::span(&a[data], e.data.size())), e.data);
    at = data + e.data.size();
    if (!e.data.empty()) {
      // A 16-byte data descriptor follows non-empty data only.
      EXPECT_EQ(load_le32(&a[at]), 0x08074b50u);
      EXPECT_EQ(load_le32(&a[at + 4]), crc32(bytes_of(e.data)));
      EXPECT_EQ(load_le32(&a[at + 8]), e.data.size());
      EXPECT_EQ(load_le32(&a[at + 12]), e.data.size());
      at += 16;
    }
  }
  // The central directory starts right after the last entry.
  EXPECT_EQ(load_le32(&a[at]), 0x02014b50u);
  EXPECT_EQ(end_offsets(a).directory, at);
}

TEST(ZipWriterTest, CentralDirectoryAndEndRecordsAreLaidOutAsMinizDoes) {
  const Bytes a = small_archive();
  const EndOffsets end = end_offsets(a);
  const std::vector<std::uint64_t> central = central_offsets(a, end.directory, 3);
  // data.pkl: data at 64, 100 bytes, 16-byte descriptor; data/0: empty, data at 256.
  const std::uint64_t local_offsets[] = {0, 180, 256};
  const char* names[] = {"archive/data.pkl", "archive/data/0", "archive/version"};
  const std::uint32_t sizes[] = {100, 0, 2};
  const std::uint32_t crcs[] = {crc32(bytes_of(std::string(100, 'p'))), 0, crc32(bytes_of("3\n"))};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(names[i]);
    const std::uint64_t c = central[static_cast<std::size_t>(i)];
    EXPECT_EQ(load_le32(&a[c]), 0x02014b50u);
    EXPECT_EQ(load_le16(&a[c + 4]), 0u);  // version made by
    EXPECT_EQ(load_le16(&a[c + 6]), 0u);  // version needed
    EXPECT_EQ(load_le16(&a[c + 8]), sizes[i] ? 0x0808u : 0x0800u);
    EXPECT_EQ(load_le16(&a[c + 10]), 0u);
    EXPECT_EQ(load_le32(&a[c + 12]), 0u);
    EXPECT_EQ(load_le32(&a[c + 16]), crcs[i]);
    EXPECT_EQ(load_le32(&a[c + 20]), sizes[i]);
    EXPECT_EQ(load_le32(&a[c + 24]), sizes[i]);
    EXPECT_EQ(load_le16(&a[c + 28]), std::string(names[i]).size());
    EXPECT_EQ(load_le16(&a[c + 30]), 0u);  // no extra: the padding is local only
    EXPECT_EQ(load_le16(&a[c + 32]), 0u);
    EXPECT_EQ(load_le16(&a[c + 34]), 0u);
    EXPECT_EQ(load_le16(&a[c + 36]), 0u);
    EXPECT_EQ(load_le32(&a[c + 38]), 0u);
    EXPECT_EQ(load_le32(&a[c + 42]), local_offsets[i]);
    EXPECT_EQ(load_le32(&a[local_offsets[i]]), 0x04034b50u);
  }
  const std::uint64_t directory_size = end.zip64_end - end.directory;
  const std::uint64_t z = end.zip64_end;
  EXPECT_EQ(load_le32(&a[z]), 0x06064b50u);
  EXPECT_EQ(load_le64(&a[z + 4]), 44u);
  EXPECT_EQ(load_le16(&a[z + 12]), 0x031Eu);
  EXPECT_EQ(load_le16(&a[z + 14]), 45u);
  EXPECT_EQ(load_le32(&a[z + 16]), 0u);
  EXPECT_EQ(load_le32(&a[z + 20]), 0u);
  EXPECT_EQ(load_le64(&a[z + 24]), 3u);
  EXPECT_EQ(load_le64(&a[z + 32]), 3u);
  EXPECT_EQ(load_le64(&a[z + 40]), directory_size);
  EXPECT_EQ(load_le64(&a[z + 48]), end.directory);
  const std::uint64_t l = end.locator;
  EXPECT_EQ(load_le32(&a[l]), 0x07064b50u);
  EXPECT_EQ(load_le32(&a[l + 4]), 0u);
  EXPECT_EQ(load_le64(&a[l + 8]), z);
  EXPECT_EQ(load_le32(&a[l + 16]), 1u);
  const std::uint64_t e = end.end;
  EXPECT_EQ(load_le32(&a[e]), 0x06054b50u);
  EXPECT_EQ(load_le32(&a[e + 4]), 0u);
  EXPECT_EQ(load_le16(&a[e + 8]), 3u);
  EXPECT_EQ(load_le16(&a[e + 10]), 3u);
  EXPECT_EQ(load_le32(&a[e + 12]), directory_size);
  EXPECT_EQ(load_le32(&a[e + 16]), end.directory);
  EXPECT_EQ(load_le16(&a[e + 20]), 0u);
  EXPECT_EQ(e + 22, a.size());
}

TEST(ZipWriterTest, EveryDataOffsetIsAlignedWhateverThePrefixAndSizes) {
  // Prefixes of every length move the header end through all 64 residues; the varied
  // data sizes (and descriptors) move the next header's start.
  std::vector<NamedText> entries;
  for (std::size_t prefix = 1; prefix <= 300; ++prefix) {
    entries.push_back({std::string(prefix, 'm') + "/data/" + std::to_string(prefix),
                       std::string(prefix % 71, static_cast<char>('a' + prefix % 26))});
  }
  const Bytes archive = write_archive(entries);
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  ASSERT_EQ(reader.entries().size(), entries.size());
  std::map<std::uint64_t, int> residues;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = reader.entries()[i];
    EXPECT_EQ(e.name, entries[i].name);
    EXPECT_EQ(e.data_offset % kDataAlignment, 0u) << e.name;
    EXPECT_EQ(read_entry(reader, e), entries[i].data);
    ++residues[(e.local_header_offset + 30 + e.name.size() + 4) % 64];
  }
  EXPECT_EQ(residues.size(), 64u) << "every padding size 0..63 occurs";
}

TEST(ZipWriterTest, PiecesAreTheSameAsOneBuffer) {
  const Bytes a = bytes_of("first piece;"), b = bytes_of(""), c = bytes_of("third");
  const io::ConstBytes pieces[] = {a, b, c};
  io::MemorySink split;
  {
    ZipWriter writer(split);
    writer.add("archive/data/0", pieces);
    writer.finish();
  }
  EXPECT_EQ(split.bytes(), write_archive({{"archive/data/0", "first piece;third"}}));
}

// Records each write: how many pieces, and where the entry's data pieces point.
class RecordingSink : public io::ByteSink {
 public:
  void write(std::span<const io::ConstBytes> pieces) override {
    calls.emplace_back(pieces.begin(), pieces.end());
    for (const auto& p : pieces) position_ += p.size();
  }
  std::uint64_t position() const override { return position_; }
  std::vector<std::vector<io::ConstBytes>> calls;

 private:
  std::uint64_t position_ = 0;
};

TEST(ZipWriterTest, EachEntryIsOneWriteOfHeaderCallerPiecesAndDescriptor) {
  const Bytes a = bytes_of("tensor bytes, part one"), b = bytes_of("part two");
  const io::ConstBytes pieces[] = {a, b};
  RecordingSink sink;
  ZipWriter writer(sink);
  writer.add("archive/data/0", pieces);
  ASSERT_EQ(sink.calls.size(), 1u);
  const auto& call = sink.calls[0];
  ASSERT_EQ(call.size(), 4u);
  EXPECT_EQ(call[1].data(), a.data()) << "the caller's memory goes to the sink, not a copy";
  EXPECT_EQ(call[2].data(), b.data());
  EXPECT_EQ(call[3].size(), 16u);
  writer.add("archive/data/1", io::ConstBytes());
  ASSERT_EQ(sink.calls.size(), 2u);
  EXPECT_TRUE(sink.calls[1].back().empty()) << "no descriptor for an empty entry";
  writer.finish();
  EXPECT_EQ(sink.calls.size(), 3u);
}

TEST(ZipWriterTest, EmptyArchiveHasOnlyEndRecords) {
  const Bytes a = write_archive({});
  EXPECT_EQ(a.size(), 56u + 20u + 22u);
  EXPECT_EQ(load_le64(&a[48]), 0u) << "miniz records directory offset 0";
  const io::MemorySource source = io::MemorySource::view(a);
  EXPECT_TRUE(ZipReader(source).entries().empty());
}

TEST(ZipWriterTest, DirectoryNamesGetTheDosDirectoryAttribute) {
  const Bytes a = write_archive({{"archive/sub/", ""}});
  const EndOffsets end = end_offsets(a);
  EXPECT_EQ(load_le32(&a[end.directory + 38]), 0x10u);
  EXPECT_EQ(thrown_error([] {
              write_archive({{"archive/sub/", "data"}});
            }).code(),
            ErrorCode::kInvalidArgument);
}

TEST(ZipWriterTest, BadNamesAndMisuseAreInvalidArguments) {
  io::MemorySink sink;
  ZipWriter writer(sink);
  const Bytes data = bytes_of("x");
  writer.add("archive/a", io::ConstBytes(data));
  for (const std::string& name : {std::string("archive/a"), std::string(), std::string("/abs"),
                                  std::string("nul\0x", 5), std::string(70000, 'n')}) {
    const Error e = thrown_error([&] { writer.add(name, io::ConstBytes(data)); });
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << name.size();
  }
  EXPECT_THAT(thrown_error([&] { writer.add("archive/a", io::ConstBytes(data)); }).what(),
              HasSubstr("duplicate zip entry name 'archive/a'"));
  writer.finish();
  EXPECT_EQ(thrown_error([&] { writer.add("archive/b", io::ConstBytes(data)); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_error([&] { writer.finish(); }).code(), ErrorCode::kInvalidArgument);
  // The refused names left no trace: the archive has the one entry.
  const io::MemorySource source = io::MemorySource::view(sink.bytes());
  EXPECT_EQ(ZipReader(source).entries().size(), 1u);

  io::MemorySink used;
  used.write(io::ConstBytes(data));
  EXPECT_EQ(thrown_error([&] { ZipWriter late(used); }).code(), ErrorCode::kInvalidArgument);
}

class FailingSink : public io::ByteSink {
 public:
  void write(std::span<const io::ConstBytes>) override {
    fail(ErrorCode::kIo, "cannot write 'x.pt': no space left on device");
  }
  std::uint64_t position() const override { return 0; }
};

TEST(ZipWriterTest, AFailedSinkWriteLeavesTheWriterUnusable) {
  FailingSink sink;
  ZipWriter writer(sink);
  const Bytes data = bytes_of("x");
  EXPECT_EQ(thrown_error([&] { writer.add("archive/a", io::ConstBytes(data)); }).code(),
            ErrorCode::kIo);
  EXPECT_EQ(thrown_error([&] { writer.add("archive/b", io::ConstBytes(data)); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_error([&] { writer.finish(); }).code(), ErrorCode::kInvalidArgument);
}

// An archive of more than 4 GiB, kept sparse: pieces that point into `zeros` are
// recorded as runs of zeros, everything else is copied. It serves reads back as a
// ByteSource.
class SparseArchive : public io::ByteSink, public io::ByteSource {
 public:
  explicit SparseArchive(const Bytes& zeros) : zeros_(zeros) {}

  void write(std::span<const io::ConstBytes> pieces) override {
    for (const io::ConstBytes& p : pieces) {
      if (p.empty()) continue;
      if (p.data() == zeros_.data()) {
        segments_.push_back({size_, p.size(), {}});
      } else {
        segments_.push_back({size_, p.size(), Bytes(p.begin(), p.end())});
      }
      size_ += p.size();
    }
  }
  std::uint64_t position() const override { return size_; }

  std::uint64_t size() const override { return size_; }
  std::string describe() const override { return "<sparse>"; }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    if (!contains(offset, out.size())) fail(ErrorCode::kCorrupt, "read past the end");
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = byte_at(offset + i);
  }

 private:
  struct Segment {
    std::uint64_t start;
    std::uint64_t size;
    Bytes bytes;  // empty: zeros
  };
  std::byte byte_at(std::uint64_t at) const {
    for (const Segment& s : segments_) {
      if (at >= s.start && at < s.start + s.size) {
        return s.bytes.empty() ? std::byte{0} : s.bytes[at - s.start];
      }
    }
    return std::byte{0xEE};
  }
  const Bytes& zeros_;
  std::vector<Segment> segments_;
  std::uint64_t size_ = 0;
};

TEST(ZipWriterTest, Zip64ExtraFieldsForSizesAndOffsetsPastFourGiB) {
  const Bytes zeros(std::size_t{1} << 20);
  // 4097 MiB of zeros: a size past 0xFFFFFFFF, written from one buffer repeated.
  const std::vector<io::ConstBytes> huge(4097, io::ConstBytes(zeros));
  const std::uint64_t huge_size = std::uint64_t{4097} << 20;
  SparseArchive archive(zeros);
  ZipWriter writer(archive);
  writer.add("archive/data/0", io::ConstBytes(bytes_of("abc")));
  writer.add("archive/data/1", huge);
  writer.add("archive/data/2", io::ConstBytes(bytes_of("after four GiB")));
  writer.add("archive/data/3", io::ConstBytes());
  writer.finish();

  auto bytes_at = [&](std::uint64_t offset, std::size_t n) {
    Bytes out(n);
    archive.read_at(offset, out);
    return out;
  };
  // data/1 starts below 4 GiB, but its size needs zip64: the local header carries the
  // size and a compressed size of 0 (miniz does not know it yet), then the padding.
  const std::uint64_t lho1 = 83;  // data/0: 3 bytes of data at 64, then a 16-byte descriptor
  Bytes h = bytes_at(lho1, 30 + 14 + 24);
  EXPECT_EQ(load_le32(&h[0]), 0x04034b50u);
  EXPECT_EQ(load_le32(&h[18]), 0u);
  EXPECT_EQ(load_le32(&h[22]), 0u);
  const std::size_t extra1 = load_le16(&h[28]);
  EXPECT_EQ(load_le16(&h[44]), 0x0001u);
  EXPECT_EQ(load_le16(&h[46]), 16u);
  EXPECT_EQ(load_le64(&h[48]), huge_size);
  EXPECT_EQ(load_le64(&h[56]), 0u);
  EXPECT_EQ(load_le16(&h[64]), 0x4246u);
  const std::uint64_t data1 = lho1 + 30 + 14 + extra1;
  EXPECT_EQ(data1 % 64, 0u);
  // Its descriptor has 8-byte sizes.
  Bytes d = bytes_at(data1 + huge_size, 24);
  EXPECT_EQ(load_le32(&d[0]), 0x08074b50u);
  EXPECT_EQ(load_le64(&d[8]), huge_size);
  EXPECT_EQ(load_le64(&d[16]), huge_size);
  // data/2 starts past 4 GiB: a zip64 extra with the offset only, and a 24-byte
  // descriptor although its size is small.
  const std::uint64_t lho2 = data1 + huge_size + 24;
  ASSERT_GE(lho2, 0xFFFFFFFFu);
  h = bytes_at(lho2, 30 + 14 + 12);
  EXPECT_EQ(load_le32(&h[0]), 0x04034b50u);
  EXPECT_EQ(load_le16(&h[44]), 0x0001u);
  EXPECT_EQ(load_le16(&h[46]), 8u);
  EXPECT_EQ(load_le64(&h[48]), lho2);

  const ZipReader reader(archive);
  ASSERT_EQ(reader.entries().size(), 4u);
  const Entry& e1 = reader.entries()[1];
  EXPECT_EQ(e1.size, huge_size);
  EXPECT_EQ(e1.compressed_size, huge_size);
  EXPECT_EQ(e1.local_header_offset, lho1);
  EXPECT_EQ(e1.data_offset, data1);
  const Entry& e2 = reader.entries()[2];
  EXPECT_EQ(e2.local_header_offset, lho2);
  EXPECT_EQ(e2.data_offset % 64, 0u);
  EXPECT_EQ(read_entry(reader, e2), "after four GiB");
  EXPECT_EQ(read_entry(reader, reader.entries()[0]), "abc");
  const Entry& e3 = reader.entries()[3];
  EXPECT_GT(e3.local_header_offset, 0xFFFFFFFFu);
  EXPECT_EQ(read_entry(reader, e3), "");

  // Central directory: markers in the fixed fields, real values in the extra.
  const std::uint64_t end = archive.size() - 22;
  const Bytes eocd = bytes_at(end, 22);
  EXPECT_EQ(load_le32(&eocd[16]), 0xFFFFFFFFu) << "directory offset is past 4 GiB";
  const Bytes z64 = bytes_at(end - 20 - 56, 56);
  const std::uint64_t directory = load_le64(&z64[48]);
  const Bytes central = bytes_at(directory, static_cast<std::size_t>(load_le64(&z64[40])));
  const std::size_t c1 = 46 + 14;  // data/0 has no extra
  EXPECT_EQ(load_le32(&central[c1 + 20]), 0xFFFFFFFFu);
  EXPECT_EQ(load_le32(&central[c1 + 24]), 0xFFFFFFFFu);
  EXPECT_EQ(load_le16(&central[c1 + 30]), 20u);
  EXPECT_EQ(load_le64(&central[c1 + 46 + 14 + 4]), huge_size);
  EXPECT_EQ(load_le64(&central[c1 + 46 + 14 + 12]), huge_size);
  const std::size_t c2 = c1 + 46 + 14 + 20;
  EXPECT_EQ(load_le32(&central[c2 + 42]), 0xFFFFFFFFu);
  EXPECT_EQ(load_le16(&central[c2 + 30]), 12u);
  EXPECT_EQ(load_le64(&central[c2 + 46 + 14 + 4]), lho2);
}

}  // namespace
}  // namespace mnemo::zip
