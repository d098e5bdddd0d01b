// Damage generated from a list, applied to every checkpoint format end to end through
// mnemo::load: fixtures written by PyTorch 1.13 and by mnemo (a .pt zip, a deflated zip,
// the legacy format, safetensors), each truncated at every byte offset, each byte
// flipped, zip records swapped, duplicated and dropped, the pickle damaged behind a
// recomputed CRC, and safetensors offsets shuffled.
//
// Every case must end in a mnemo::Error or a value; no other exception, no crash, no
// sanitizer report, and no case may take over a second. Where the format checks its
// bytes (the CRC-32 of every zip record, checked by a copy load), damage must be an
// Error or leave the value exactly as it was; where nothing can check it (an mmap load,
// which skips CRCs), mnemo::verify must fail instead. Damage no format can see — the
// bytes of the legacy format's and safetensors' data, which carry no checksum — may
// change the value, and the cases say so.
//
// The zip reader's own cases (every header byte and bit, at the ZipReader level) are in
// zip/zip_reader_corruption_test.cpp; the unpickler's in pickle/unpickler_refusal_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "formats/pt/torch_golden_views.h"
#include "formats/safetensors/safetensors_dtypes.h"
#include "formats/zip/torch_golden_archive.h"
#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using zip::testing::Bytes;
using zip::testing::from_hex;
namespace fmt = zip::format;

// --- fixtures ------------------------------------------------------------------------------

Tensor counting(DType dtype, Shape sizes) {
  std::int64_t numel = 1;
  for (std::int64_t s : sizes) numel *= s;
  return arange(1.0, static_cast<double>(numel) + 1.0, 1.0).to(dtype).reshape(sizes);
}

// A small training checkpoint: a state_dict with module versions, a view sharing a
// storage, two storages of equal size (for the swap cases), nested containers.
Value mnemo_checkpoint() {
  StateDict sd;
  const Tensor weight = counting(DType::kFloat32, {2, 3});
  sd.insert("fc.weight", weight);
  sd.insert("fc.bias", tensor<float>({0.5f, -1.5f}));
  sd.insert("bn.running_mean", tensor<float>({2.5f, 3.5f}));
  sd.insert("bn.num_batches_tracked", scalar_tensor<std::int64_t>(7));
  sd.set_metadata(Dict{{"", Dict{{"version", 1}}}, {"bn", Dict{{"version", 2}}}});
  return Dict{{"epoch", 3},
              {"model", Value(sd)},
              {"row", weight.select(0, 1)},
              {"half", counting(DType::kFloat16, {3})},
              {"loss", 0.25},
              {"names", List{"a", "bb"}},
              {"shape", Tuple{2, 3}}};
}

Value mnemo_safetensors_value() {
  return Dict{{"a", counting(DType::kFloat32, {2})},
              {"b", counting(DType::kInt32, {2})},
              {"c", counting(DType::kInt16, {3})},
              {"d", counting(DType::kUInt8, {4})},
              {"e", zeros({0})}};
}

struct Fixture {
  std::string name;
  Bytes bytes;
  FileFormat format;
};

const std::vector<Fixture>& fixtures() {
  static const std::vector<Fixture> all = {
      {"torch113_archive", from_hex(zip::testing::kTorch113ArchiveHex), FileFormat::kPtZip},
      {"torch113_deflated", from_hex(kDeflatedViewsHex), FileFormat::kPtZip},
      {"mnemo_checkpoint", save_to_bytes(mnemo_checkpoint()), FileFormat::kPtZip},
      {"torch113_legacy", from_hex(kLegacyViewsHex), FileFormat::kPtLegacy},
      {"mnemo_safetensors",
       save_to_bytes(mnemo_safetensors_value(), FileFormat::kSafetensors,
                     {.metadata = {{"format", "pt"}}}),
       FileFormat::kSafetensors},
  };
  return all;
}

// --- outcomes ------------------------------------------------------------------------------

enum class Outcome { kError, kSame, kDifferent };

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kError: return "an Error";
    case Outcome::kSame: return "the original value";
    case Outcome::kDifferent: return "a silently different value";
  }
  return "?";
}

// Every tensor's path, dtype, layout and bytes: Value's == compares values, not bits.
std::string tensor_bits(const Value& value) {
  std::string out;
  for_each_tensor(value, [&](const std::string& path, const Tensor& t) {
    out += path + " " + std::string(dtype_name(t.dtype())) + " " + std::to_string(t.dim());
    for (std::int64_t d = 0; d < t.dim(); ++d) {
      out += " " + std::to_string(t.size(d)) + "/" + std::to_string(t.stride(d));
    }
    out += " @" + std::to_string(t.storage_offset()) + (t.requires_grad() ? " grad:" : ":");
    const Tensor c = t.contiguous();
    out.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    out += "\n";
  });
  return out;
}

bool same_value(const Value& a, const Value& b) { return a == b && tensor_bits(a) == tensor_bits(b); }

constexpr auto kMaxCaseTime = std::chrono::seconds(1);

// Loads `bytes` (a copy load: every zip record's CRC-32 is checked). Only mnemo::Error is
// caught; anything else fails the test. A case slower than a second fails too.
Outcome load_outcome(std::span<const std::byte> bytes, const Value& original,
                     const LoadOptions& options = {}) {
  const auto start = std::chrono::steady_clock::now();
  Outcome outcome;
  try {
    const Value loaded = load(bytes, options);
    outcome = same_value(loaded, original) ? Outcome::kSame : Outcome::kDifferent;
  } catch (const Error&) {
    outcome = Outcome::kError;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, kMaxCaseTime);
  return outcome;
}

Value original_of(const Fixture& f) { return load(f.bytes); }

// --- zip surgery ------------------------------------------------------------------------------

// Where a zip's records and directory are (no archive comment in the fixtures).
struct ZipLayout {
  std::vector<zip::Entry> entries;          // in central directory order
  std::vector<std::uint64_t> central;       // offset of each central header
  std::vector<std::uint64_t> central_size;  // its size with name, extra and comment
  std::uint64_t directory = 0;
  std::uint64_t directory_size = 0;
  bool zip64 = false;
};

ZipLayout zip_layout(const Bytes& archive) {
  ZipLayout layout;
  const io::MemorySource source = io::MemorySource::view(archive);
  layout.entries = zip::ZipReader(source).entries();
  const std::uint64_t end = archive.size() - fmt::kEndSize;
  const std::uint64_t locator = end - fmt::kZip64LocatorSize;
  layout.zip64 = fmt::load_le32(&archive[locator]) == fmt::kZip64LocatorSignature;
  if (layout.zip64) {
    const std::uint64_t record = fmt::load_le64(&archive[locator + 8]);
    layout.directory_size = fmt::load_le64(&archive[record + 40]);
    layout.directory = fmt::load_le64(&archive[record + 48]);
  } else {
    layout.directory_size = fmt::load_le32(&archive[end + 12]);
    layout.directory = fmt::load_le32(&archive[end + 16]);
  }
  std::uint64_t at = layout.directory;
  for (std::size_t i = 0; i < layout.entries.size(); ++i) {
    const std::uint64_t size = fmt::kCentralHeaderSize + fmt::load_le16(&archive[at + 28]) +
                               fmt::load_le16(&archive[at + 30]) + fmt::load_le16(&archive[at + 32]);
    layout.central.push_back(at);
    layout.central_size.push_back(size);
    at += size;
  }
  return layout;
}

// The archive with its central directory replaced by the headers `order` lists (indices
// into the original directory: reordered, repeated or left out), the end records
// patched to agree.
Bytes with_directory(const Bytes& archive, const ZipLayout& layout, const std::vector<std::size_t>& order) {
  Bytes directory;
  for (std::size_t i : order) {
    const auto begin = archive.begin() + static_cast<std::ptrdiff_t>(layout.central[i]);
    directory.insert(directory.end(), begin, begin + static_cast<std::ptrdiff_t>(layout.central_size[i]));
  }
  Bytes out(archive.begin(), archive.begin() + static_cast<std::ptrdiff_t>(layout.directory));
  out.insert(out.end(), directory.begin(), directory.end());
  const std::uint64_t records = out.size();
  out.insert(out.end(),
             archive.begin() + static_cast<std::ptrdiff_t>(layout.directory + layout.directory_size),
             archive.end());
  const std::uint64_t end = out.size() - fmt::kEndSize;
  const auto count = static_cast<std::uint64_t>(order.size());
  if (layout.zip64) {
    fmt::store_le64(&out[records + 24], count);
    fmt::store_le64(&out[records + 32], count);
    fmt::store_le64(&out[records + 40], directory.size());
    fmt::store_le64(&out[end - fmt::kZip64LocatorSize + 8], records);
  }
  if (fmt::load_le16(&out[end + 10]) != fmt::kMarker16) {
    fmt::store_le16(&out[end + 8], static_cast<std::uint16_t>(count));
    fmt::store_le16(&out[end + 10], static_cast<std::uint16_t>(count));
  }
  if (fmt::load_le32(&out[end + 12]) != fmt::kMarker32) {
    fmt::store_le32(&out[end + 12], static_cast<std::uint32_t>(directory.size()));
  }
  return out;
}

// Sets a stored entry's CRC-32, wherever the archive repeats it, to that of its bytes.
void recompute_crc(Bytes& archive, const ZipLayout& layout, std::size_t index) {
  const zip::Entry& e = layout.entries[index];
  const std::uint32_t crc = zip::crc32(std::span(archive).subspan(e.data_offset, e.compressed_size));
  fmt::store_le32(&archive[layout.central[index] + 16], crc);
  if (fmt::load_le32(&archive[e.local_header_offset + 14]) != 0) {
    fmt::store_le32(&archive[e.local_header_offset + 14], crc);
  }
  if (e.flags & fmt::kFlagDataDescriptor) {
    const std::uint64_t at = e.data_offset + e.compressed_size;
    const bool signature = fmt::load_le32(&archive[at]) == fmt::kDataDescriptorSignature;
    fmt::store_le32(&archive[at + (signature ? 4 : 0)], crc);
  }
}

std::vector<const Fixture*> zip_fixtures() {
  std::vector<const Fixture*> out;
  for (const Fixture& f : fixtures()) {
    if (f.format == FileFormat::kPtZip) out.push_back(&f);
  }
  return out;
}

// --- truncation and flips, every format --------------------------------------------------------

TEST(CorruptionSuite, EveryFixtureLoadsAsItself) {
  for (const Fixture& f : fixtures()) {
    SCOPED_TRACE(f.name);
    EXPECT_EQ(load_outcome(f.bytes, original_of(f)), Outcome::kSame);
  }
}

TEST(CorruptionSuite, TruncatedAtEveryOffsetIsAnError) {
  for (const Fixture& f : fixtures()) {
    const Value original = original_of(f);
    for (std::size_t length = 0; length < f.bytes.size(); ++length) {
      const Outcome got = load_outcome(std::span(f.bytes).first(length), original);
      ASSERT_EQ(got, Outcome::kError) << f.name << " truncated to " << length << " bytes gave "
                                      << outcome_name(got);
    }
  }
}

TEST(CorruptionSuite, EveryByteFlippedInAZipIsAnErrorOrHarmless) {
  // The copy load checks every record's CRC-32, and the reader every header field that
  // means something: a flipped byte is refused, or lies in a field no reader can check
  // (times, "version made by", attributes, padding) and changes nothing.
  for (const Fixture* f : zip_fixtures()) {
    const Value original = original_of(*f);
    std::map<Outcome, int> counts;
    for (std::size_t at = 0; at < f->bytes.size(); ++at) {
      Bytes damaged = f->bytes;
      damaged[at] ^= std::byte{0xff};
      const Outcome got = load_outcome(damaged, original);
      ++counts[got];
      ASSERT_NE(got, Outcome::kDifferent) << f->name << ": byte " << at << " flipped";
    }
    EXPECT_GT(counts[Outcome::kError], static_cast<int>(f->bytes.size() / 2)) << f->name;
  }
}

TEST(CorruptionSuite, EveryByteFlippedInALegacyFileOrSafetensorsEndsCleanly) {
  // Neither format has a checksum: a flipped data byte changes a tensor silently, in
  // every reader. Everything else must be refused or harmless; nothing may crash.
  for (const Fixture& f : fixtures()) {
    if (f.format == FileFormat::kPtZip) continue;
    const Value original = original_of(f);
    std::map<Outcome, int> counts;
    for (std::size_t at = 0; at < f.bytes.size(); ++at) {
      for (const unsigned mask : {0xffu, 0x01u, 0x80u}) {
        Bytes damaged = f.bytes;
        damaged[at] ^= std::byte{static_cast<unsigned char>(mask)};
        ++counts[load_outcome(damaged, original)];
      }
    }
    EXPECT_GT(counts[Outcome::kError], 0) << f.name;
  }
}

// --- the pickle, behind a valid CRC ---------------------------------------------------------------

TEST(CorruptionSuite, DamagedPickleWithAValidCrcEndsCleanly) {
  // A CRC-checked load refuses a damaged data.pkl before reading it. With the CRC
  // recomputed, the damage reaches the unpickler, which must refuse it or read data.
  for (const Fixture* f : zip_fixtures()) {
    const ZipLayout layout = zip_layout(f->bytes);
    const Value original = original_of(*f);
    for (std::size_t i = 0; i < layout.entries.size(); ++i) {
      const zip::Entry& e = layout.entries[i];
      if (!e.name.ends_with("/data.pkl") || e.method != zip::kMethodStored) continue;
      std::map<Outcome, int> counts;
      for (std::uint64_t at = e.data_offset; at < e.data_offset + e.size; ++at) {
        for (const unsigned mask : {0xffu, 0x01u}) {
          Bytes damaged = f->bytes;
          damaged[at] ^= std::byte{static_cast<unsigned char>(mask)};
          recompute_crc(damaged, layout, i);
          ++counts[load_outcome(damaged, original)];
        }
      }
      EXPECT_GT(counts[Outcome::kError], 0) << f->name;
    }
  }
}

// --- records swapped, duplicated, dropped ------------------------------------------------------

TEST(CorruptionSuite, DuplicatedRecordsAreRefused) {
  for (const Fixture* f : zip_fixtures()) {
    const ZipLayout layout = zip_layout(f->bytes);
    std::vector<std::size_t> order(layout.entries.size());
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = 0; i < order.size(); ++i) {
      std::vector<std::size_t> twice = order;
      twice.insert(twice.begin() + static_cast<std::ptrdiff_t>(i), i);
      const Bytes damaged = with_directory(f->bytes, layout, twice);
      try {
        load(damaged);
        ADD_FAILURE() << f->name << ": record " << layout.entries[i].name << " listed twice loaded";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
        EXPECT_NE(std::string(e.what()).find("two entries are named"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(CorruptionSuite, RecordsListedInAnyOrderLoadTheSame) {
  // The order of the central directory means nothing to a reader: every swap of two
  // entries (and the reversed directory) reads the same value.
  for (const Fixture* f : zip_fixtures()) {
    const ZipLayout layout = zip_layout(f->bytes);
    const Value original = original_of(*f);
    std::vector<std::size_t> order(layout.entries.size());
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = 0; i < order.size(); ++i) {
      for (std::size_t j = i + 1; j < order.size(); ++j) {
        std::vector<std::size_t> swapped = order;
        std::swap(swapped[i], swapped[j]);
        EXPECT_EQ(load_outcome(with_directory(f->bytes, layout, swapped), original), Outcome::kSame)
            << f->name << ": entries " << i << " and " << j << " swapped";
      }
    }
    std::vector<std::size_t> reversed(order.rbegin(), order.rend());
    EXPECT_EQ(load_outcome(with_directory(f->bytes, layout, reversed), original), Outcome::kSame);
  }
}

TEST(CorruptionSuite, DroppedRecordsAreRefusedUnlessUnused) {
  // Without data.pkl, version or a storage the archive is refused; only a record the
  // reader does not need (byteorder of a little-endian file) may go.
  for (const Fixture* f : zip_fixtures()) {
    const ZipLayout layout = zip_layout(f->bytes);
    const Value original = original_of(*f);
    for (std::size_t i = 0; i < layout.entries.size(); ++i) {
      std::vector<std::size_t> order;
      for (std::size_t k = 0; k < layout.entries.size(); ++k) {
        if (k != i) order.push_back(k);
      }
      const Outcome got = load_outcome(with_directory(f->bytes, layout, order), original);
      const bool optional = layout.entries[i].name.ends_with("/byteorder");
      EXPECT_EQ(got, optional ? Outcome::kSame : Outcome::kError)
          << f->name << ": without " << layout.entries[i].name;
    }
  }
}

TEST(CorruptionSuite, SwappedRecordBytesAreCaughtByTheCrc) {
  // Two records of the same size exchange their bytes (the headers stay): each record's
  // CRC-32 no longer matches, and a copy load refuses it.
  int swaps = 0;
  for (const Fixture* f : zip_fixtures()) {
    const ZipLayout layout = zip_layout(f->bytes);
    const Value original = original_of(*f);
    for (std::size_t i = 0; i < layout.entries.size(); ++i) {
      for (std::size_t j = i + 1; j < layout.entries.size(); ++j) {
        const zip::Entry& a = layout.entries[i];
        const zip::Entry& b = layout.entries[j];
        if (a.compressed_size != b.compressed_size || a.compressed_size == 0) continue;
        Bytes damaged = f->bytes;
        std::swap_ranges(damaged.begin() + static_cast<std::ptrdiff_t>(a.data_offset),
                         damaged.begin() + static_cast<std::ptrdiff_t>(a.data_offset + a.compressed_size),
                         damaged.begin() + static_cast<std::ptrdiff_t>(b.data_offset));
        const bool identical = a.crc32 == b.crc32;
        EXPECT_EQ(load_outcome(damaged, original), identical ? Outcome::kSame : Outcome::kError)
            << f->name << ": " << a.name << " <-> " << b.name;
        ++swaps;
      }
    }
  }
  EXPECT_GT(swaps, 0);
}

TEST(CorruptionSuite, SwappedRecordNamesAreRefusedUnlessTheSizesAgree) {
  // Renaming two records consistently (local and central headers) keeps every CRC-32
  // valid: zip checksums cover a record's bytes, not its name, so no reader can see it
  // when the two records have the same size. When they differ, the storage sizes the
  // pickle declares no longer match, and the load is refused.
  int refused = 0;
  for (const Fixture* f : zip_fixtures()) {
    const ZipLayout layout = zip_layout(f->bytes);
    const Value original = original_of(*f);
    for (std::size_t i = 0; i < layout.entries.size(); ++i) {
      for (std::size_t j = i + 1; j < layout.entries.size(); ++j) {
        const zip::Entry& a = layout.entries[i];
        const zip::Entry& b = layout.entries[j];
        if (a.name.size() != b.name.size()) continue;
        Bytes damaged = f->bytes;
        const auto rename = [&](std::uint64_t at, const std::string& name) {
          std::copy_n(reinterpret_cast<const std::byte*>(name.data()), name.size(),
                      damaged.begin() + static_cast<std::ptrdiff_t>(at));
        };
        rename(a.local_header_offset + fmt::kLocalHeaderSize, b.name);
        rename(b.local_header_offset + fmt::kLocalHeaderSize, a.name);
        rename(layout.central[i] + fmt::kCentralHeaderSize, b.name);
        rename(layout.central[j] + fmt::kCentralHeaderSize, a.name);
        const Outcome got = load_outcome(damaged, original);
        if (a.size != b.size) {
          EXPECT_EQ(got, Outcome::kError) << f->name << ": " << a.name << " <-> " << b.name;
          ++refused;
        } else {
          EXPECT_NE(got, Outcome::kError) << f->name << ": " << a.name << " <-> " << b.name;
        }
      }
    }
  }
  EXPECT_GT(refused, 0);
}

// --- mmap loads skip CRCs: verify catches what they cannot ----------------------------------------

TEST(CorruptionSuite, WhatAnMmapLoadCannotSeeVerifyRefuses) {
  // An mmap load does not read the data, so it cannot check CRCs: a damaged record
  // loads. verify checks every record: each flipped byte fails it, unless the byte is
  // one no reader can check, and then the file loads exactly as before.
  const TempDir dir;
  const std::filesystem::path path = dir.path() / "damaged.pt";
  for (const Fixture* f : zip_fixtures()) {
    const Value original = original_of(*f);
    int silent_mmap_loads = 0;
    for (std::size_t at = 0; at < f->bytes.size(); ++at) {
      Bytes damaged = f->bytes;
      damaged[at] ^= std::byte{0xff};
      write_file(path, damaged);
      const auto start = std::chrono::steady_clock::now();
      bool verified = true;
      try {
        verify(path);
      } catch (const Error&) {
        verified = false;
      }
      Outcome mmap_outcome;
      try {
        const Value loaded = load(path, {.mmap = true});
        mmap_outcome = same_value(loaded, original) ? Outcome::kSame : Outcome::kDifferent;
      } catch (const Error&) {
        mmap_outcome = Outcome::kError;
      }
      EXPECT_LT(std::chrono::steady_clock::now() - start, kMaxCaseTime);
      if (verified) {
        ASSERT_EQ(mmap_outcome, Outcome::kSame) << f->name << ": byte " << at << " passed verify";
      }
      if (mmap_outcome == Outcome::kDifferent) ++silent_mmap_loads;
    }
    // An mmap load does not check the records' bytes: their damage is silent there.
    EXPECT_GT(silent_mmap_loads, 0) << f->name;
  }
}

// --- safetensors offsets shuffled ----------------------------------------------------------------

// A safetensors file with the tensors of `info` (names, dtypes, shapes) at the offsets
// given, and the data section of `file`.
Bytes safetensors_with_offsets(const Bytes& file, const SafetensorsInfo& info,
                               const std::vector<std::pair<std::uint64_t, std::uint64_t>>& offsets) {
  std::string header = "{";
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {
    const SafetensorsTensor& t = info.tensors[i];
    header += (i ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"" +
              std::string(*safetensors::wire_name(t.dtype)) + "\",\"shape\":[";
    for (std::size_t d = 0; d < t.shape.size(); ++d) header += (d ? "," : "") + std::to_string(t.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(offsets[i].first) + "," +
              std::to_string(offsets[i].second) + "]}";
  }
  header += "}";
  Bytes out(8);
  fmt::store_le64(out.data(), header.size());
  for (char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), file.begin() + static_cast<std::ptrdiff_t>(info.data_offset), file.end());
  return out;
}

TEST(CorruptionSuite, ShuffledSafetensorsOffsetsAreRefusedUnlessTheSizesFit) {
  // Every permutation of the tensors' [begin, end) ranges: refused when a tensor's range
  // no longer holds its shape's bytes; when every size still fits (tensors of equal byte
  // size exchanged), the file is valid and each tensor reads exactly its new range —
  // safetensors has no checksum to tell.
  const Fixture& f = *std::find_if(fixtures().begin(), fixtures().end(),
                                   [](const Fixture& x) { return x.format == FileFormat::kSafetensors; });
  const SafetensorsInfo info = inspect_safetensors(f.bytes);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const SafetensorsTensor& t : info.tensors) ranges.emplace_back(t.data_begin, t.data_end);
  std::vector<std::size_t> perm(ranges.size());
  std::iota(perm.begin(), perm.end(), 0);
  int loaded = 0, refused = 0;
  do {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> offsets;
    bool fits = true;
    for (std::size_t i = 0; i < perm.size(); ++i) {
      offsets.push_back(ranges[perm[i]]);
      fits = fits && ranges[perm[i]].second - ranges[perm[i]].first == ranges[i].second - ranges[i].first;
    }
    const Bytes shuffled = safetensors_with_offsets(f.bytes, info, offsets);
    const auto start = std::chrono::steady_clock::now();
    try {
      const Value value = load(shuffled);
      ASSERT_TRUE(fits) << "a shuffle that does not fit loaded";
      for (std::size_t i = 0; i < perm.size(); ++i) {
        const Value* entry = value.as_dict().find(info.tensors[i].name);
        ASSERT_NE(entry, nullptr) << info.tensors[i].name;
        const Tensor& t = entry->as_tensor();
        // The rewritten header has a length of its own: the data follows it.
        const std::size_t begin = 8 + fmt::load_le64(shuffled.data()) + offsets[i].first;
        ASSERT_EQ(t.nbytes(), offsets[i].second - offsets[i].first);
        ASSERT_TRUE(t.nbytes() == 0 ||
                    std::equal(shuffled.begin() + static_cast<std::ptrdiff_t>(begin),
                               shuffled.begin() + static_cast<std::ptrdiff_t>(begin + t.nbytes()),
                               static_cast<const std::byte*>(t.data_ptr())))
            << info.tensors[i].name;
      }
      ++loaded;
    } catch (const Error& e) {
      ASSERT_FALSE(fits) << e.what();
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
      ++refused;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, kMaxCaseTime);
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_GT(loaded, 1);  // the identity, and the exchange of "a" and "b" (8 bytes each)
  EXPECT_GT(refused, 0);
}

TEST(CorruptionSuite, SafetensorsHeadersSimdjsonCannotIndexAreCorrupt) {
  // JSON that fails simdjson's first pass (an unclosed string, a stray control byte),
  // where the parser has no token to say where it failed. Found by fuzzing: asking it
  // for a location read through a null pointer.
  for (const std::string header : {R"({"a)", R"({"a":{"dtype":"F32)", "{\"\x01\":1}", R"({"a\)"}) {
    Bytes file(8);
    fmt::store_le64(file.data(), header.size());
    for (char c : header) file.push_back(static_cast<std::byte>(c));
    try {
      load(file);
      ADD_FAILURE() << header << " loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
      EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    }
  }
}

TEST(CorruptionSuite, EverySafetensorsOffsetMovedByOneIsRefused) {
  const Fixture& f = *std::find_if(fixtures().begin(), fixtures().end(),
                                   [](const Fixture& x) { return x.format == FileFormat::kSafetensors; });
  const SafetensorsInfo info = inspect_safetensors(f.bytes);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const SafetensorsTensor& t : info.tensors) ranges.emplace_back(t.data_begin, t.data_end);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    for (const bool end : {false, true}) {
      for (const int delta : {-1, 1}) {
        std::vector<std::pair<std::uint64_t, std::uint64_t>> moved = ranges;
        std::uint64_t& offset = end ? moved[i].second : moved[i].first;
        if (offset == 0 && delta < 0) continue;
        offset = static_cast<std::uint64_t>(static_cast<std::int64_t>(offset) + delta);
        try {
          load(safetensors_with_offsets(f.bytes, info, moved));
          ADD_FAILURE() << info.tensors[i].name << (end ? " end " : " begin ") << delta << " loaded";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
        }
      }
    }
  }
}

}  // namespace
}  // namespace mnemo::testing
