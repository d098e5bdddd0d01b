#include "formats/zip/zip_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "formats/zip/torch_golden_archive.h"
#include "formats/zip/zip_format.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_source.h"
#include "support/errors.h"
#include "support/python.h"

namespace mnemo::zip {
namespace {

using namespace testing;
using format::load_le16;
using format::load_le32;
using mnemo::testing::thrown_error;
using ::testing::HasSubstr;

TEST(Crc32Test, KnownValuesAndContinuation) {
  EXPECT_EQ(crc32(bytes_of("123456789")), 0xCBF43926u);
  EXPECT_EQ(crc32(bytes_of("")), 0u);
  EXPECT_EQ(crc32(bytes_of("6789"), crc32(bytes_of("12345"))), 0xCBF43926u);
  // An empty span (whose data may be null) leaves a running CRC as it is.
  EXPECT_EQ(crc32(std::span<const std::byte>(), 0x12345678u), 0x12345678u);
}

TEST(ZipReaderTest, ReadsATorchArchive) {
  const Bytes archive = from_hex(kTorch113ArchiveHex);
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  std::vector<std::string> names;
  for (const Entry& e : reader.entries()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"archive/data.pkl", "archive/data/0", "archive/data/1",
                                             "archive/data/2", "archive/version"}));
  const Entry* version = reader.find("archive/version");
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(read_entry(reader, *version), "3\n");
  EXPECT_EQ(version->flags, 0x0808u);
  const Entry* empty = reader.find("archive/data/1");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->size, 0u);
  EXPECT_EQ(empty->flags, 0x0800u);
  const Entry* w = reader.find("archive/data/0");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->size, 24u);
  EXPECT_EQ(w->method, kMethodStored);
  EXPECT_EQ(w->data_offset % 64, 0u);
  // torch.arange(6.) as little-endian float32: 0, 1, 2, ...
  Bytes data(24);
  reader.read(*w, data, true);
  EXPECT_EQ(load_le32(&data[4]), 0x3F800000u);
  EXPECT_EQ(load_le32(&data[20]), 0x40A00000u);
  EXPECT_EQ(reader.find("version"), nullptr) << "names are matched whole, prefix included";
  EXPECT_EQ(reader.find("archive/"), nullptr);
  EXPECT_EQ(&reader.source(), &source);
}

TEST(ZipReaderTest, CopiesAndMovesKeepTheIndex) {
  const Bytes archive = write_archive({{"archive/a", "1"}, {"archive/b", "22"}});
  const io::MemorySource source = io::MemorySource::view(archive);
  ZipReader original(source);
  const ZipReader copy(original);
  ZipReader moved(std::move(original));
  for (const ZipReader* r : {&copy, static_cast<const ZipReader*>(&moved)}) {
    const Entry* b = r->find("archive/b");
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b, &r->entries()[1]);
    EXPECT_EQ(read_entry(*r, *b), "22");
  }
}

TEST(ZipReaderTest, ReadsThroughAFileAcrossDirectoryChunks) {
  // About 3 MB of central directory: more than one chunk of the file-backed cursor.
  std::vector<NamedText> entries;
  for (int i = 0; i < 30000; ++i) {
    entries.push_back({"checkpoint_with_a_long_prefix_name/data/" + std::to_string(i) +
                           std::string(static_cast<std::size_t>(i % 37), 'x'),
                       std::to_string(i * 7)});
  }
  const Bytes archive = write_archive(entries);
  mnemo::testing::TempDir dir;
  const auto path = dir / "many.pt";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(archive.data()),
             static_cast<std::streamsize>(archive.size()));
  const io::FileSource source(path);
  const ZipReader reader(source);
  ASSERT_EQ(reader.entries().size(), entries.size());
  for (std::size_t i = 0; i < entries.size(); i += 997) {
    EXPECT_EQ(reader.entries()[i].name, entries[i].name);
    EXPECT_EQ(read_entry(reader, reader.entries()[i]), entries[i].data);
  }
  EXPECT_EQ(read_entry(reader, reader.entries().back()), entries.back().data);
}

TEST(ZipReaderTest, CrcVerificationCatchesAFlippedDataByte) {
  Bytes archive = write_archive({{"archive/data/0", "some tensor bytes"}});
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  const Entry& e = reader.entries()[0];
  archive[e.data_offset + 5] ^= std::byte{0x01};
  const Error error = thrown_error([&] { read_entry(reader, e); });
  EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(error.what(), HasSubstr("archive/data/0"));
  EXPECT_THAT(error.what(), HasSubstr("CRC-32"));
  EXPECT_THAT(error.what(), HasSubstr(format::hex(crc32(bytes_of("some tensor bytes")))));
  // Without verification the damaged bytes come back as they are.
  Bytes out(e.size);
  reader.read(e, out, false);
  EXPECT_EQ(text_of(out), "some uensor bytes");
}

TEST(ZipReaderTest, ZeroCrcInTheDirectoryIsNotChecked) {
  RawEntry e = stored_entry("archive/data/0", "bytes whose CRC was skipped");
  e.crc = 0;
  const Bytes archive = build_classic({e});
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  EXPECT_EQ(read_entry(reader, reader.entries()[0]), "bytes whose CRC was skipped");
}

TEST(ZipReaderTest, ReadsClassicArchivesWithDeflateExtrasAndAComment) {
  const std::string long_text(200000, 'q');
  RawEntry big = stored_entry("b/big", "");
  big.stored = deflate_stored_blocks(long_text);
  big.size = long_text.size();
  big.crc = crc32(bytes_of(long_text));
  big.method = kMethodDeflated;
  RawEntry stored = stored_entry("b/stored", "plain");
  // An unknown extra block (a Unix timestamp, 0x5455) in both headers.
  stored.local_extra = from_hex("5455050001aabbccdd");
  stored.central_extra = from_hex("5455050001aabbccdd");
  // The comment contains an end-record signature, which must not be taken for one.
  const Bytes archive = build_classic({deflated_entry("b/deflated", "deflated text"), stored, big},
                                      std::string("PK\x05\x06 not a record"));
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  ASSERT_EQ(reader.entries().size(), 3u);
  EXPECT_EQ(reader.entries()[0].method, kMethodDeflated);
  EXPECT_EQ(read_entry(reader, reader.entries()[0]), "deflated text");
  EXPECT_EQ(read_entry(reader, reader.entries()[1]), "plain");
  EXPECT_EQ(read_entry(reader, reader.entries()[2]), long_text);
}

TEST(ZipReaderTest, DeflateErrorsNameTheEntry) {
  RawEntry bad = deflated_entry("b/bad", "text");
  bad.stored[0] = std::byte{0x07};  // block type 3 does not exist
  Error e = open_error(build_classic({bad}));
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("'b/bad'"));
  EXPECT_THAT(e.what(), HasSubstr("not a valid deflate stream"));

  RawEntry longer = deflated_entry("b/longer", "text");
  longer.size = 5;
  EXPECT_THAT(open_error(build_classic({longer})).what(), HasSubstr("fewer than the 5 bytes"));
  RawEntry shorter = deflated_entry("b/shorter", "text");
  shorter.size = 3;
  EXPECT_THAT(open_error(build_classic({shorter})).what(), HasSubstr("more than the 3 bytes"));
  RawEntry trailing = deflated_entry("b/trailing", "text");
  trailing.stored.push_back(std::byte{0});
  EXPECT_THAT(open_error(build_classic({trailing})).what(), HasSubstr("ends after"));
  RawEntry bomb = deflated_entry("b/bomb", "text");
  bomb.size = 1u << 30;
  EXPECT_THAT(open_error(build_classic({bomb})).what(), HasSubstr("more than deflate can produce"));
}

TEST(ZipReaderTest, UnsupportedMethodsAndEncryption) {
  RawEntry bzip2 = stored_entry("b/x", "data");
  bzip2.method = 12;
  Error e = open_error(build_classic({bzip2}));
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(e.what(), HasSubstr("'b/x'"));
  EXPECT_THAT(e.what(), HasSubstr("method 12 (bzip2)"));
  RawEntry encrypted = stored_entry("b/secret", "data");
  encrypted.flags = 0x0001;
  e = open_error(build_classic({encrypted}));
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(e.what(), HasSubstr("'b/secret'"));
  EXPECT_THAT(e.what(), HasSubstr("encrypted"));
}

TEST(ZipReaderTest, DuplicateNamesAreCorrupt) {
  const Error e = open_error(build_classic({stored_entry("a/x", "1"), stored_entry("a/x", "2")}));
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("two entries are named 'a/x'"));
}

// A zip bomb without nesting: each record's stored data is every record after it and a
// shared kernel, all headers valid, so that `records` records claim about `records`
// times the kernel from a file little larger than it.
Bytes overlapping_archive(int records, std::size_t kernel_bytes) {
  using namespace format;
  Bytes region(kernel_bytes, std::byte{'k'});
  std::vector<std::string> names(static_cast<std::size_t>(records));
  std::vector<std::uint32_t> crcs(names.size()), sizes(names.size());
  for (std::size_t i = names.size(); i-- > 0;) {
    names[i] = "a/" + std::to_string(i);
    crcs[i] = crc32(region);
    sizes[i] = static_cast<std::uint32_t>(region.size());
    Bytes header;
    Appender a(header);
    a.u32(kLocalHeaderSignature);
    for (const std::uint16_t v : {20, 0, 0, 0x6000, 0x5821}) a.u16(v);
    for (const std::uint32_t v : {crcs[i], sizes[i], sizes[i]}) a.u32(v);
    a.u16(static_cast<std::uint16_t>(names[i].size()));
    a.u16(0);
    a.text(names[i]);
    region.insert(region.begin(), header.begin(), header.end());
  }
  Bytes out = region;
  Appender a(out);
  for (std::size_t i = 0; i < names.size(); ++i) {
    a.u32(kCentralHeaderSignature);
    for (const std::uint16_t v : {0x0314, 20, 0, 0, 0x6000, 0x5821}) a.u16(v);
    for (const std::uint32_t v : {crcs[i], sizes[i], sizes[i]}) a.u32(v);
    a.u16(static_cast<std::uint16_t>(names[i].size()));
    for (const std::uint16_t v : {0, 0, 0, 0}) a.u16(v);
    a.u32(0x81A40000);
    a.u32(
        static_cast<std::uint32_t>(region.size() - kLocalHeaderSize - names[i].size() - sizes[i]));
    a.text(names[i]);
  }
  const auto directory_size = static_cast<std::uint32_t>(out.size() - region.size());
  a.u32(kEndSignature);
  for (const std::uint16_t v : {0, 0}) a.u16(v);
  for (const int v : {records, records}) a.u16(static_cast<std::uint16_t>(v));
  a.u32(directory_size);
  a.u32(static_cast<std::uint32_t>(region.size()));
  a.u16(0);
  return out;
}

TEST(ZipReaderTest, OverlappingRecordsAreRefused) {
  // 200 records claiming 200 x 64 KiB from a file of 83 KB, every header and CRC valid:
  // refused before any record is read, from memory and from a file alike.
  const Bytes bomb = overlapping_archive(200, 64 << 10);
  ASSERT_LT(bomb.size(), 90'000u);
  Error e = open_error(bomb);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("zip entry 'a/0' in <memory> (local header at offset 0, "));
  EXPECT_THAT(e.what(),
              HasSubstr("overlaps zip entry 'a/1', whose local header starts at offset 33"));
  mnemo::testing::TempDir dir;
  const auto path = dir.path() / "bomb.zip";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bomb.data()), static_cast<std::streamsize>(bomb.size()));
  const io::FileSource file(path);
  EXPECT_THAT(thrown_error([&] { ZipReader reader(file, LocalHeaders::kDeferred); }).what(),
              HasSubstr("overlaps zip entry 'a/1'"));

  // Two entries of one local header, and the last record running into the directory:
  // from a file, with the local headers deferred, these too are found on opening.
  Bytes twice = build_classic({stored_entry("a/x", "1"), stored_entry("a/y", "22")});
  const EndOffsets end{0, 0, twice.size() - format::kEndSize,
                       load_le32(&twice[twice.size() - format::kEndSize + 16])};
  const std::vector<std::uint64_t> central = central_offsets(twice, end.directory, 2);
  Bytes past = twice;
  patch32(twice, central[1] + 42, 0);
  patch32(past, central[1] + 20, 1000);  // a/y's compressed size
  patch32(past, central[1] + 24, 1000);  // and size
  for (const auto& [bytes, expected] :
       {std::pair{twice, "overlaps zip entry"},
        std::pair{past, "runs past the start of the central directory"}}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    const io::FileSource damaged(path);
    const Error error = thrown_error([&] { ZipReader reader(damaged, LocalHeaders::kDeferred); });
    EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(error.what(), HasSubstr(expected));
  }
}

TEST(ZipReaderTest, LocalHeaderMustAgreeWithTheCentralDirectory) {
  Bytes archive = build_classic({stored_entry("a/name", "data")});
  archive[30 + 2] = std::byte{'N'};  // the local name becomes "a/Name"
  Error e = open_error(archive);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("names 'a/Name' but the central directory names 'a/name'"));

  Bytes descriptor = write_archive({{"archive/x", "data"}});
  const io::MemorySource source = io::MemorySource::view(descriptor);
  const std::uint64_t at = ZipReader(source).entries()[0].data_offset + 4;
  patch32(descriptor, at + 8, 5);  // descriptor's size: 5 instead of 4
  e = open_error(descriptor);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("data descriptor at offset " + std::to_string(at)));
}

TEST(ZipReaderTest, EntryCountLies) {
  const Bytes good = write_archive({{"archive/a", "1"}, {"archive/b", "22"}, {"archive/c", "333"}});
  const EndOffsets end = end_offsets(good);
  for (const std::uint64_t count : {4u, 2u, 0u}) {
    Bytes lie = good;
    patch64(lie, end.zip64_end + 24, count);
    patch64(lie, end.zip64_end + 32, count);
    patch16(lie, end.end + 8, static_cast<std::uint16_t>(count));
    patch16(lie, end.end + 10, static_cast<std::uint16_t>(count));
    EXPECT_EQ(open_error(lie).code(), ErrorCode::kCorrupt) << count;
  }
  Bytes huge = good;
  patch64(huge, end.zip64_end + 24, std::uint64_t{1} << 40);
  patch64(huge, end.zip64_end + 32, std::uint64_t{1} << 40);
  patch16(huge, end.end + 8, 0xFFFF);
  patch16(huge, end.end + 10, 0xFFFF);
  Error e = open_error(huge);
  EXPECT_EQ(e.code(), ErrorCode::kLimit);
  EXPECT_THAT(e.what(), HasSubstr("kMaxZipEntries"));
  // Under the limit but more than the directory's bytes can hold.
  patch64(huge, end.zip64_end + 24, 1000);
  patch64(huge, end.zip64_end + 32, 1000);
  e = open_error(huge);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("1000 entries cannot fit"));
  // The classic record must repeat the zip64 record's values (or hold the marker).
  Bytes disagree = good;
  patch16(disagree, end.end + 10, 2);
  EXPECT_THAT(open_error(disagree).what(), HasSubstr("disagrees with the zip64 record"));
  // A classic archive whose count is short of its directory.
  Bytes classic = build_classic({stored_entry("a/1", "1"), stored_entry("a/2", "2")});
  patch16(classic, classic.size() - 22 + 8, 1);
  patch16(classic, classic.size() - 22 + 10, 1);
  EXPECT_THAT(open_error(classic).what(), HasSubstr("bytes after its 1 entries"));
}

TEST(ZipReaderTest, OffsetsPastTheEnd) {
  const Bytes good = write_archive({{"archive/a", "1"}, {"archive/b", "22"}});
  const EndOffsets end = end_offsets(good);
  const std::vector<std::uint64_t> central = central_offsets(good, end.directory, 2);
  Bytes local = good;
  patch32(local, central[1] + 42, 0x7FFFFFF0);
  Error e = open_error(local);
  EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(e.what(), HasSubstr("'archive/b'"));
  EXPECT_THAT(e.what(), HasSubstr("local header offset 2147483632"));

  Bytes directory = good;
  patch64(directory, end.zip64_end + 48, std::uint64_t{1} << 62);
  EXPECT_EQ(open_error(directory).code(), ErrorCode::kCorrupt);
  Bytes locator = good;
  patch64(locator, end.locator + 8, ~std::uint64_t{0});
  EXPECT_THAT(open_error(locator).what(), HasSubstr("points to a zip64 end record"));
}

TEST(ZipReaderTest, SizesThatOverflow) {
  // Sizes near 2^64 in a zip64 extra: data_offset + size wraps around unless checked.
  RawEntry e = stored_entry("a/huge", "data");
  e.central_compressed_field = 0xFFFFFFFF;
  e.central_size_field = 0xFFFFFFFF;
  e.central_extra = from_hex("01001000");  // zip64 block, 16 bytes
  Bytes sizes(16);
  format::store_le64(&sizes[0], ~std::uint64_t{0} - 8);
  format::store_le64(&sizes[8], ~std::uint64_t{0} - 8);
  e.central_extra.insert(e.central_extra.end(), sizes.begin(), sizes.end());
  Error error = open_error(build_classic({e}));
  EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(error.what(), HasSubstr("'a/huge'"));

  // A zip64 marker without the extra block that should hold the value.
  RawEntry missing = stored_entry("a/missing", "data");
  missing.central_size_field = 0xFFFFFFFF;
  EXPECT_THAT(open_error(build_classic({missing})).what(), HasSubstr("no zip64 extra block"));
  // An extra block claiming more bytes than the field has.
  RawEntry overlong = stored_entry("a/overlong", "data");
  overlong.central_extra = from_hex("5455ff00");
  EXPECT_THAT(open_error(build_classic({overlong})).what(), HasSubstr("claims 255 bytes"));
}

TEST(ZipReaderTest, NotAZipArchive) {
  for (const Bytes& bytes : {Bytes{}, bytes_of("short"), Bytes(1000, std::byte{0x41})}) {
    const Error e = open_error(bytes);
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(e.what(), HasSubstr("is not a zip archive"));
  }
  Bytes with_comment = build_classic({stored_entry("a/x", "1")}, "comment");
  with_comment.pop_back();
  const Error e = open_error(with_comment);
  EXPECT_THAT(e.what(), HasSubstr("declares a 7-byte comment but 6 bytes follow it"));
}

TEST(ZipReaderTest, ReadNeedsABufferOfTheEntrysSize) {
  const Bytes archive = write_archive({{"archive/a", "abc"}});
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  Bytes out(2);
  EXPECT_EQ(thrown_error([&] { reader.read(reader.entries()[0], out, true); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST(ZipReaderTest, EmptyClassicArchive) {
  const Bytes archive = build_classic({});
  EXPECT_EQ(archive.size(), 22u);
  const io::MemorySource source = io::MemorySource::view(archive);
  EXPECT_TRUE(ZipReader(source).entries().empty());
}

}  // namespace
}  // namespace mnemo::zip
