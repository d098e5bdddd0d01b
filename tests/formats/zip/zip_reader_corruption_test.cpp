// Damage generated in loops: an archive truncated at every length, and every byte of its
// headers and directory flipped, one at a time. Each must end in an Error, or — for
// bytes that no reader can check (see benign_offsets) — read back exactly as before;
// damaged entry data must be caught by the CRC. Nothing may crash, hang, or leave a
// sanitizer report, and no damage may yield a different archive silently.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "formats/zip/torch_golden_archive.h"
#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_source.h"

namespace mnemo::zip {
namespace {

using namespace testing;

enum class Outcome { kError, kCrcError, kSame, kDifferent };

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kError:
      return "Error";
    case Outcome::kCrcError:
      return "CRC mismatch";
    case Outcome::kSame:
      return "same as the original";
    case Outcome::kDifferent:
      return "a silently different archive";
  }
  return "?";
}

struct ReadBack {
  std::string name;
  std::uint64_t data_offset;
  std::string data;
  bool operator==(const ReadBack&) const = default;
};

// Opens `archive` and reads every entry with CRC verification. Only mnemo::Error is
// caught: anything else escapes and fails the test.
Outcome open_and_read(const Bytes& archive, const std::vector<ReadBack>& original) {
  const io::MemorySource source = io::MemorySource::view(archive);
  std::vector<ReadBack> got;
  try {
    const ZipReader reader(source);
    for (const Entry& e : reader.entries()) {
      got.push_back({e.name, e.data_offset, read_entry(reader, e)});
    }
  } catch (const Error& e) {
    return std::string_view(e.what()).find("CRC-32 of the data") != std::string_view::npos
               ? Outcome::kCrcError
               : Outcome::kError;
  }
  return got == original ? Outcome::kSame : Outcome::kDifferent;
}

struct Layout {
  std::vector<ReadBack> entries;
  std::set<std::uint64_t> data;    // offsets of entry data bytes
  std::set<std::uint64_t> benign;  // offsets of bytes no reader can check
};

// Bytes whose value carries nothing a reader may hold against the archive: the
// modification time and date; "version made by"; the high byte of "version needed"
// (the host system, which readers ignore); internal and external attributes; and the
// ID and contents of an extra block the reader does not know ("FB" padding).
Layout layout_of(const Bytes& archive, bool zip64_end, std::size_t comment_size = 0) {
  const io::MemorySource source = io::MemorySource::view(archive);
  const ZipReader reader(source);
  Layout layout;
  for (const Entry& e : reader.entries()) {
    layout.entries.push_back({e.name, e.data_offset, read_entry(reader, e)});
    for (std::uint64_t i = 0; i < e.compressed_size; ++i) layout.data.insert(e.data_offset + i);
    const std::uint64_t lho = e.local_header_offset;
    for (std::uint64_t at : {lho + 5, lho + 10, lho + 11, lho + 12, lho + 13}) {
      layout.benign.insert(at);
    }
    const std::uint64_t extra = lho + 30 + e.name.size();
    if (extra < e.data_offset && format::load_le16(&archive[extra]) == format::kPaddingExtraId) {
      layout.benign.insert(extra);
      layout.benign.insert(extra + 1);
      for (std::uint64_t at = extra + 4; at < e.data_offset; ++at) layout.benign.insert(at);
    }
  }
  const std::uint64_t end = archive.size() - comment_size - format::kEndSize;
  const std::uint64_t directory = format::load_le32(&archive[end + 16]);
  if (zip64_end) {
    const std::uint64_t z = end - format::kZip64LocatorSize - format::kZip64EndSize;
    for (std::uint64_t at : {z + 12, z + 13, z + 15}) layout.benign.insert(at);
  }
  for (std::uint64_t c : central_offsets(archive, directory, reader.entries().size())) {
    for (std::uint64_t at : {4, 5, 7, 12, 13, 14, 15, 36, 37, 38, 39, 40, 41}) {
      layout.benign.insert(c + at);
    }
  }
  return layout;
}

TEST(ZipReaderCorruptionTest, TruncatedAtEveryLengthIsAnError) {
  const Bytes archive = from_hex(kTorch113ArchiveHex);
  const Layout layout = layout_of(archive, true);
  for (std::size_t length = 0; length < archive.size(); ++length) {
    const Bytes cut(archive.begin(), archive.begin() + static_cast<std::ptrdiff_t>(length));
    ASSERT_EQ(open_and_read(cut, layout.entries), Outcome::kError) << "truncated to " << length;
  }
}

TEST(ZipReaderCorruptionTest, EveryHeaderByteFlippedIsAnErrorUnlessUncheckable) {
  const Bytes archive = from_hex(kTorch113ArchiveHex);
  const Layout layout = layout_of(archive, true);
  std::map<Outcome, int> counts;
  for (std::size_t at = 0; at < archive.size(); ++at) {
    Bytes damaged = archive;
    damaged[at] ^= std::byte{0xFF};
    const Outcome got = open_and_read(damaged, layout.entries);
    ++counts[got];
    const Outcome expected = layout.data.contains(at)     ? Outcome::kCrcError
                             : layout.benign.contains(at) ? Outcome::kSame
                                                          : Outcome::kError;
    ASSERT_EQ(got, expected) << "byte " << at << " flipped gave " << outcome_name(got)
                             << ", expected " << outcome_name(expected);
  }
  // Every byte was accounted for: the three kinds partition the archive.
  EXPECT_EQ(counts[Outcome::kCrcError], static_cast<int>(layout.data.size()));
  EXPECT_EQ(counts[Outcome::kSame], static_cast<int>(layout.benign.size()));
  EXPECT_EQ(counts[Outcome::kError],
            static_cast<int>(archive.size() - layout.data.size() - layout.benign.size()));
}

TEST(ZipReaderCorruptionTest, EverySingleBitFlipIsCaughtOrHarmless) {
  const Bytes archive = from_hex(kTorch113ArchiveHex);
  const Layout layout = layout_of(archive, true);
  for (std::size_t at = 0; at < archive.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes damaged = archive;
      damaged[at] ^= std::byte{static_cast<unsigned char>(1u << bit)};
      const Outcome got = open_and_read(damaged, layout.entries);
      if (layout.data.contains(at)) {
        ASSERT_EQ(got, Outcome::kCrcError) << "byte " << at << " bit " << bit;
      } else {
        ASSERT_TRUE(got == Outcome::kError || got == Outcome::kSame)
            << "byte " << at << " bit " << bit << " gave " << outcome_name(got);
      }
    }
  }
}

TEST(ZipReaderCorruptionTest, ClassicDeflatedArchiveSurvivesTheSameTreatment) {
  RawEntry extra = stored_entry("z/extra", "stored with an extra block");
  extra.local_extra = from_hex("5455050001aabbccdd");
  extra.central_extra = from_hex("5455050001aabbccdd");
  const Bytes archive =
      build_classic({deflated_entry("z/deflated", "a deflated entry, in stored blocks"), extra,
                     stored_entry("z/empty", "")},
                    "a comment");
  const Layout layout = layout_of(archive, false, std::string_view("a comment").size());
  for (std::size_t length = 0; length < archive.size(); ++length) {
    const Bytes cut(archive.begin(), archive.begin() + static_cast<std::ptrdiff_t>(length));
    ASSERT_EQ(open_and_read(cut, layout.entries), Outcome::kError) << "truncated to " << length;
  }
  for (std::size_t at = 0; at < archive.size(); ++at) {
    for (const unsigned mask : {0xFFu, 0x01u, 0x80u}) {
      Bytes damaged = archive;
      damaged[at] ^= std::byte{static_cast<unsigned char>(mask)};
      const Outcome got = open_and_read(damaged, layout.entries);
      if (layout.data.contains(at)) {
        // Deflate framing damage is an Error, content damage a CRC mismatch; the bits
        // that pad a stored block's header to a byte boundary are ignored by design.
        ASSERT_NE(got, Outcome::kDifferent) << "byte " << at << " ^ " << mask;
        if (mask == 0xFF) {
          ASSERT_TRUE(got == Outcome::kError || got == Outcome::kCrcError)
              << "byte " << at << " ^ " << mask << " gave " << outcome_name(got);
        }
      } else {
        ASSERT_TRUE(got == Outcome::kError || got == Outcome::kSame)
            << "byte " << at << " ^ " << mask << " gave " << outcome_name(got);
      }
    }
  }
}

}  // namespace
}  // namespace mnemo::zip
