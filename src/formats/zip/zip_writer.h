// ZipWriter: writes a zip archive laid out exactly as PyTorch's torch.save writes it
// (miniz at level 0; reference §1.3): stored entries whose data starts on a 64-byte
// boundary thanks to an "FB" extra field of 'Z' padding, flags 0x0808 with a data
// descriptor after each non-empty entry (0x0800 and no descriptor for empty ones), a
// central directory, and always a zip64 end record and locator before the classic end
// record. Given the same entries, the bytes are identical to PyTorch 1.13's.
//
// Entry data goes to the sink as given (several pieces per entry allowed, e.g. straight
// from tensor memory): the CRC is computed over the pieces, then header, pieces and data
// descriptor go out in one sink write. No entry is ever copied. add_all writes many
// entries with the same bytes, the CRCs computed on other cores just ahead of the
// writes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/text_arena.h"
#include "mnemo/core/ordered_map.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo::zip {

inline constexpr std::uint64_t kDataAlignment = 64;

// One entry for add_all: its name and the pieces its data is made of.
struct EntryToAdd {
  std::string_view name;
  std::span<const io::ConstBytes> pieces;
};

class ZipWriter {
 public:
  // `sink` must outlive the writer and start empty (kInvalidArgument otherwise).
  explicit ZipWriter(io::ByteSink& sink);
  // Never throws. Without finish() the sink holds an incomplete archive: an
  // AtomicFileWriter that is not committed discards it.
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  // Writes one stored entry whose data is the concatenation of `pieces`, in a single
  // sink write of header, pieces and data descriptor (the CRC is computed over the
  // pieces first). Names must be unique, non-empty, at most 65535 bytes, without NUL
  // and not starting with '/'; a name ending in '/' is a directory and must be empty
  // (kInvalidArgument otherwise). Entries of 4 GiB and more, or that start past 4 GiB,
  // get zip64 extra fields exactly as miniz writes them. A sink that throws leaves the
  // writer unusable.
  void add(std::string_view name, std::span<const io::ConstBytes> pieces);
  void add(std::string_view name, io::ConstBytes data) {
    add(name, std::span<const io::ConstBytes>(&data, 1));
  }

  // Writes `entries` in order: the same bytes as add() for each in turn, but in sink
  // writes of about 1 MiB of data each, whatever the entries' sizes. The CRCs are
  // computed on other threads, in pieces combined per entry, a little ahead of the
  // writes: each write waits for the CRCs of its own bytes, which the sink then copies
  // faster (see zip_writer.cpp). Every entry is checked (as add() checks it) before
  // anything is written. The names and pieces must stay valid until it returns.
  void add_all(std::span<const EntryToAdd> entries);

  // Writes the central directory and the end records. No entry may follow.
  void finish();

 private:
  // Entry names, for the duplicate check: OrderedMap's flat index, no node per name.
  using NameSet = mnemo::detail::OrderedMap<std::string_view, bool>;

  struct Layout {
    std::uint64_t size = 0;
    std::uint64_t offset = 0;  // of the local header
    bool zip64_sizes = false;  // the zip64 extra block holds the sizes
    bool zip64_offset = false;  // ... and the offset
    std::uint16_t padding = 0;
    std::size_t header_size = 0;      // local header, name, extra fields
    std::size_t descriptor_size = 0;  // 0 for an empty entry
  };
  // Checks an entry about to be added at position `offset` (`pending_directory`: the
  // directory bytes of the entries planned before it in the same call) and lays it out.
  Layout plan(std::string_view name, std::uint64_t size, std::uint64_t offset,
              std::uint64_t pending_directory) const;
  // Keeps a copy of a planned entry's name, which later entries may not repeat.
  std::string_view claim(std::string_view name);
  static void append_header(std::vector<std::byte>& out, std::string_view name, const Layout& at);
  static void append_descriptor(std::vector<std::byte>& out, const Layout& at, std::uint32_t crc);
  // Lists a written entry for the central directory (`name`: as claim() kept it).
  void record(std::string_view name, const Layout& at, std::uint32_t crc);

  struct Written {
    std::string_view name;  // in name_text_
    std::uint32_t crc32;
    std::uint64_t size;
    std::uint64_t local_header_offset;
  };

  // Hands `pieces` to the sink, marking the writer broken if the sink throws.
  void emit(std::span<const io::ConstBytes> pieces, std::uint64_t bytes);

  io::ByteSink& sink_;
  formats::TextArena name_text_;  // the names of written_, which names_ views too
  std::vector<Written> written_;
  NameSet names_;                     // claimed: written, or planned by the add_all in progress
  std::uint64_t position_ = 0;        // bytes of the archive written so far
  std::uint64_t directory_size_ = 0;  // bytes the central directory will take
  bool finished_ = false;
  bool broken_ = false;
};

}  // namespace mnemo::zip
