#include "formats/zip/zip_reader.h"

#include <libdeflate.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "formats/zip/zip_directory.h"
#include "formats/zip/zip_end_records.h"
#include "formats/zip/zip_format.h"
#include "mnemo/core/error.h"

namespace mnemo::zip {

using namespace format;

namespace {

struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

}  // namespace

ZipReader::ZipReader(const io::ByteSource& source)
    : source_(source), entries_(read_directory(source, read_end_records(source))) {
  build_index();
}

ZipReader::ZipReader(const ZipReader& other) : source_(other.source_), entries_(other.entries_) {
  build_index();
}

void ZipReader::build_index() {
  index_.clear();
  index_.reserve(entries_.size());
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (!index_.emplace(entries_[i].name, i).second) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": two entries are named '",
           printable(entries_[i].name), "'");
    }
  }
}

const Entry* ZipReader::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void ZipReader::read(const Entry& entry, std::span<std::byte> out, bool verify_crc) const {
  MNEMO_CHECK(out.size() == entry.size, "reading zip entry '", printable(entry.name),
              "' needs a buffer of ", entry.size, " bytes, got ", out.size());
  const auto where = [&] {
    return "zip entry '" + printable(entry.name) + "' in " + source_.describe() +
           " (data at offset " + std::to_string(entry.data_offset) + ")";
  };
  if (entry.method == kMethodStored) {
    if (entry.compressed_size != entry.size) {
      fail(ErrorCode::kCorrupt, where(), ": stored, yet its compressed size ",
           entry.compressed_size, " differs from its size ", entry.size);
    }
    source_.read_at(entry.data_offset, out);
  } else if (entry.method == kMethodDeflated) {
    if (!source_.contains(entry.data_offset, entry.compressed_size)) {
      fail(ErrorCode::kCorrupt, where(), ": its ", entry.compressed_size,
           " deflated bytes run past the end of the source (", source_.size(), " bytes)");
    }
    // libdeflate inflates whole buffers: take the compressed bytes in place when the
    // source is in memory, else read them once.
    const Storage memory = source_.storage();
    std::vector<std::byte> staged;
    const std::byte* input;
    if (memory.defined()) {
      input = memory.data() + entry.data_offset;
    } else {
      staged.resize(static_cast<std::size_t>(entry.compressed_size));
      source_.read_at(entry.data_offset, staged);
      input = staged.data();
    }
    std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> decompressor(
        libdeflate_alloc_decompressor());
    if (!decompressor) throw std::bad_alloc();
    // libdeflate never touches these for empty buffers, but must not be handed null.
    std::byte dummy{};
    std::size_t consumed = 0;
    const libdeflate_result result = libdeflate_deflate_decompress_ex(
        decompressor.get(), input ? input : &dummy, static_cast<std::size_t>(entry.compressed_size),
        out.empty() ? &dummy : out.data(), out.size(), &consumed, nullptr);
    switch (result) {
      case LIBDEFLATE_SUCCESS:
        break;
      case LIBDEFLATE_SHORT_OUTPUT:
        fail(ErrorCode::kCorrupt, where(), ": inflates to fewer than the ", entry.size,
             " bytes the directory declares");
      case LIBDEFLATE_INSUFFICIENT_SPACE:
        fail(ErrorCode::kCorrupt, where(), ": inflates to more than the ", entry.size,
             " bytes the directory declares");
      default:
        fail(ErrorCode::kCorrupt, where(), ": its ", entry.compressed_size,
             " bytes are not a valid deflate stream");
    }
    if (consumed != entry.compressed_size) {
      fail(ErrorCode::kCorrupt, where(), ": the deflate stream ends after ", consumed, " of its ",
           entry.compressed_size, " bytes");
    }
  } else {
    fail(ErrorCode::kUnsupported, where(), ": compression method ", entry.method,
         " is not supported");
  }
  if (verify_crc && entry.crc32 != 0) {
    const std::uint32_t actual = crc32(out);
    if (actual != entry.crc32) {
      fail(ErrorCode::kCorrupt, where(), ": CRC-32 of the data is ", hex(actual),
           ", the central directory says ", hex(entry.crc32), " (the data is damaged)");
    }
  }
}

std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc) {
  // libdeflate returns the initial value 0 when given a null buffer, which an empty span
  // may well have: that would silently restart a running CRC.
  if (bytes.empty()) return crc;
  return libdeflate_crc32(crc, bytes.data(), bytes.size());
}

}  // namespace mnemo::zip
