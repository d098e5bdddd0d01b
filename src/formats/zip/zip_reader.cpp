#include "formats/zip/zip_reader.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "formats/zip/zip_directory.h"
#include "formats/zip/zip_end_records.h"
#include "formats/zip/zip_format.h"
#include "io/parallel_copy.h"
#include "mnemo/core/error.h"

namespace mnemo::zip {

using namespace format;

namespace {

// read_all: records up to this size are read in runs, several per read; larger ones go
// straight from the source into their buffers, in pieces of io::kPieceBytes.
constexpr std::uint64_t kSmallRecord = std::uint64_t{256} << 10;
constexpr std::uint64_t kRunBytes = std::uint64_t{1} << 20;

struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// Messages name the entry, the source and where the entry's data starts.
std::string data_where(const Entry& entry, std::uint64_t data_offset, const io::ByteSource& source) {
  return "zip entry '" + printable(entry.name) + "' in " + source.describe() +
         " (data at offset " + std::to_string(data_offset) + ")";
}

[[noreturn]] void fail_crc(const Entry& entry, std::uint64_t data_offset,
                           const io::ByteSource& source, std::uint32_t actual) {
  fail(ErrorCode::kCorrupt, data_where(entry, data_offset, source), ": CRC-32 of the data is ",
       hex(actual), ", the central directory says ", hex(entry.crc32), " (the data is damaged)");
}

// A CRC of 0 in the directory is what some writers put when they skip it: then nothing
// is checked.
void check_crc(const Entry& entry, std::uint64_t data_offset, const io::ByteSource& source,
               std::uint32_t actual) {
  if (entry.crc32 != 0 && actual != entry.crc32) fail_crc(entry, data_offset, source, actual);
}

// Inflates a deflated entry's `input` (its data, at `data_offset` in the source) into
// `out` (entry.size bytes).
void inflate(const Entry& entry, std::uint64_t data_offset, const io::ByteSource& source,
             const std::byte* input, std::span<std::byte> out) {
  const auto where = [&] { return data_where(entry, data_offset, source); };
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
}

// Reads the data of an entry whose data_offset is known (and checks its CRC).
void read_data(const Entry& entry, const io::ByteSource& source, std::span<std::byte> out,
               bool verify_crc) {
  const auto where = [&] { return data_where(entry, entry.data_offset, source); };
  if (entry.method == kMethodStored) {
    if (entry.compressed_size != entry.size) {
      fail(ErrorCode::kCorrupt, where(), ": stored, yet its compressed size ",
           entry.compressed_size, " differs from its size ", entry.size);
    }
    source.read_at(entry.data_offset, out);
  } else if (entry.method == kMethodDeflated) {
    if (!source.contains(entry.data_offset, entry.compressed_size)) {
      fail(ErrorCode::kCorrupt, where(), ": its ", entry.compressed_size,
           " deflated bytes run past the end of the source (", source.size(), " bytes)");
    }
    // libdeflate inflates whole buffers: take the compressed bytes in place when the
    // source is in memory, else read them once.
    const Storage memory = source.storage();
    std::vector<std::byte> staged;
    const std::byte* input;
    if (memory.defined()) {
      input = memory.data() + entry.data_offset;
    } else {
      staged.resize(static_cast<std::size_t>(entry.compressed_size));
      source.read_at(entry.data_offset, staged);
      input = staged.data();
    }
    inflate(entry, entry.data_offset, source, input, out);
  } else {
    fail(ErrorCode::kUnsupported, where(), ": compression method ", entry.method,
         " is not supported");
  }
  if (verify_crc) check_crc(entry, entry.data_offset, source, io::crc32(out));
}

// A record of a bulk read that goes in pieces: its entry, where its data starts and its
// buffer.
struct PieceRead {
  const Entry* entry;
  std::uint64_t data_offset;
  std::span<std::byte> out;
};

// Reads records straight into their buffers, stored ones in pieces of io::kPieceBytes spread
// over `threads` (a deflated one whole, with its CRC), each piece's CRC taken while it is
// in the cache. Then the pieces' CRCs of each stored record are combined and checked, in
// the order of `reads`. The first failed piece's error is the one reported.
void read_in_pieces(std::span<const PieceRead> reads, const io::ByteSource& source, bool verify_crc,
                    io::ProgressMeter& meter, std::size_t threads, io::TaskShare* share) {
  const auto in_pieces = [](const Entry& entry) {
    return entry.method == kMethodStored && entry.compressed_size == entry.size;
  };
  struct Piece {
    std::size_t read;
    std::uint64_t begin, length;
  };
  std::vector<Piece> pieces;
  std::vector<std::size_t> first_piece(reads.size());
  for (std::size_t r = 0; r < reads.size(); ++r) {
    const Entry& entry = *reads[r].entry;
    first_piece[r] = pieces.size();
    const std::uint64_t step = in_pieces(entry) ? io::kPieceBytes : entry.size;
    std::uint64_t begin = 0;
    do {
      const std::uint64_t length = std::min(step, entry.size - begin);
      pieces.push_back({r, begin, length});
      begin += length;
    } while (begin < entry.size);
  }
  std::vector<std::uint32_t> crcs(pieces.size(), 0);
  const Storage memory = source.storage();
  const auto read_piece = [&](std::size_t p) {
    const Piece& piece = pieces[p];
    const PieceRead& read = reads[piece.read];
    const Entry& entry = *read.entry;
    if (!in_pieces(entry)) {  // deflated (or refused): whole, with its CRC
      Entry located = entry;
      located.data_offset = read.data_offset;
      read_data(located, source, read.out, verify_crc);
      meter.add(entry.size);
      return;
    }
    const std::span<std::byte> part = read.out.subspan(piece.begin, piece.length);
    const std::uint64_t at = read.data_offset + piece.begin;
    io::prefault_for_write(part);
    if (memory.defined() && source.contains(at, piece.length)) {
      const std::span<const std::byte> from(memory.data() + at, piece.length);
      if (verify_crc) {
        crcs[p] = io::copy_with_crc32(part, from, 0);
      } else if (!part.empty()) {
        std::memcpy(part.data(), from.data(), part.size());
      }
    } else {
      source.read_at(at, part);  // out of range: kCorrupt
      if (verify_crc) crcs[p] = io::crc32(part);
    }
    meter.add(piece.length);
  };
  io::parallel_for(pieces.size(), threads, read_piece, share);
  if (!verify_crc) return;
  for (std::size_t r = 0; r < reads.size(); ++r) {
    const Entry& entry = *reads[r].entry;
    if (!in_pieces(entry)) continue;  // checked whole by read_data
    const std::size_t end = r + 1 < reads.size() ? first_piece[r + 1] : pieces.size();
    std::uint32_t crc = crcs[first_piece[r]];
    for (std::size_t p = first_piece[r] + 1; p < end; ++p) {
      crc = io::crc32_combine(crc, crcs[p], pieces[p].length);
    }
    check_crc(entry, reads[r].data_offset, source, crc);
  }
}

// The threads read_all uses for `bytes`: as many as help, up to the options' cap.
std::size_t threads_for(std::uint64_t bytes, const ReadAllOptions& options) {
  const std::size_t threads = io::threads_for(bytes);
  return options.max_threads == 0 ? threads : std::min(threads, options.max_threads);
}

// Buffers for runs of small records, reused across the tasks of one read_all.
class BufferPool {
 public:
  explicit BufferPool(std::size_t size) : size_(size) {}
  std::unique_ptr<std::byte[]> take() {
    {
      const std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        auto buffer = std::move(free_.back());
        free_.pop_back();
        return buffer;
      }
    }
    return std::make_unique_for_overwrite<std::byte[]>(size_);
  }
  void give(std::unique_ptr<std::byte[]> buffer) {
    const std::lock_guard lock(mutex_);
    free_.push_back(std::move(buffer));
  }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<std::byte[]>> free_;
};

}  // namespace

ZipReader::ZipReader(const io::ByteSource& source, LocalHeaders local_headers)
    : source_(source),
      deferred_(local_headers == LocalHeaders::kDeferred && !source.storage().defined()) {
  const DirectoryLocation dir = read_end_records(source);
  directory_offset_ = dir.offset;
  entries_ = read_directory(source, dir, /*local_headers=*/!deferred_);
  build_index();  // first: an entry listed twice is a duplicate before it is an overlap
  check_records_apart(entries_, directory_offset_, source.describe());
}

ZipReader::ZipReader(const ZipReader& other)
    : source_(other.source_),
      deferred_(other.deferred_),
      directory_offset_(other.directory_offset_),
      entries_(other.entries_) {
  build_index();
}

void ZipReader::build_index() {
  index_ = {};
  index_.reserve(entries_.size());
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    index_.insert_or_assign(entries_[i].name, i);
    if (index_.size() != i + 1) {  // the name was there already
      fail(ErrorCode::kCorrupt, source_.describe(), ": two entries are named '",
           printable(entries_[i].name), "'");
    }
  }
}

const Entry* ZipReader::find(std::string_view name) const {
  const std::size_t* i = index_.find(name);
  return i ? &entries_[*i] : nullptr;
}

Entry ZipReader::resolved(const Entry& entry) const {
  Entry copy = entry;
  if (deferred_) read_local_header(source_, copy, directory_offset_, source_.describe());
  return copy;
}

void ZipReader::read(const Entry& entry, std::span<std::byte> out, bool verify_crc) const {
  MNEMO_CHECK(out.size() == entry.size, "reading zip entry '", printable(entry.name),
              "' needs a buffer of ", entry.size, " bytes, got ", out.size());
  if (deferred_) {
    read_data(resolved(entry), source_, out, verify_crc);
  } else {
    read_data(entry, source_, out, verify_crc);
  }
}

void ZipReader::read_all(std::span<const ReadRequest> requests, bool verify_crc,
                         const ReadAllOptions& options) const {
  io::ProgressMeter unmetered({}, 0);
  io::ProgressMeter& meter = options.progress ? *options.progress : unmetered;
  std::vector<char> requested(entries_.size(), 0);
  std::uint64_t total = 0;
  for (const ReadRequest& request : requests) {
    MNEMO_CHECK(request.entry >= entries_.data() && request.entry < entries_.data() + entries_.size(),
                "read_all: a request's entry does not come from this reader's entries()");
    const auto index = static_cast<std::size_t>(request.entry - entries_.data());
    MNEMO_CHECK(!requested[index], "read_all: zip entry '", printable(request.entry->name),
                "' is requested twice");
    MNEMO_CHECK(request.out.size() == request.entry->size, "reading zip entry '",
                printable(request.entry->name), "' needs a buffer of ", request.entry->size,
                " bytes, got ", request.out.size());
    requested[index] = 1;
    total += request.out.size();
  }
  if (deferred_) {
    read_all_deferred(requests, verify_crc, options, meter);
    return;
  }

  // Every data offset is known: read the requests in pieces, spread over the cores.
  std::vector<PieceRead> reads;
  reads.reserve(requests.size());
  for (const ReadRequest& request : requests) {
    reads.push_back({request.entry, request.entry->data_offset, request.out});
  }
  read_in_pieces(reads, source_, verify_crc, meter, threads_for(total, options), options.share);
}

void ZipReader::read_all_deferred(std::span<const ReadRequest> requests, bool verify_crc,
                                  const ReadAllOptions& options, io::ProgressMeter& meter) const {
  const std::string src = source_.describe();
  std::vector<std::span<std::byte>> out_of(entries_.size());
  std::vector<char> wanted(entries_.size(), 0);
  for (const ReadRequest& request : requests) {
    const auto index = static_cast<std::size_t>(request.entry - entries_.data());
    out_of[index] = request.out;
    wanted[index] = 1;
  }
  // Every entry, in the order of the file: each local header gets checked. (Or only
  // the requested ones, when the others' were checked before.)
  std::vector<std::size_t> order;
  if (options.check_unrequested) {
    order.resize(entries_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
  } else {
    order.reserve(requests.size());
    for (const ReadRequest& request : requests) {
      order.push_back(static_cast<std::size_t>(request.entry - entries_.data()));
    }
  }
  sort_in_file_order(entries_, order);

  // Phase 1, one task per run of small records (read with one read, checked and copied
  // out) or per large record (its local header and data descriptor read and checked).
  struct Task {
    std::uint64_t begin = 0, end = 0;  // a run's bytes; empty for a large record
    std::size_t first = 0, last = 0;   // its entries: order[first, last)
  };
  std::vector<Task> tasks;
  std::uint64_t run_bytes = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Entry& entry = entries_[order[k]];
    if (entry.compressed_size > kSmallRecord) {
      tasks.push_back({0, 0, k, k + 1});
      continue;
    }
    const std::uint64_t begin = entry.local_header_offset;
    const std::uint64_t end =
        std::min(directory_offset_, begin + local_header_guess(entry) + entry.compressed_size +
                                        kDataDescriptorSize64);
    Task* run = tasks.empty() || tasks.back().end == 0 ? nullptr : &tasks.back();
    if (run && run->last == k && begin >= run->begin && std::max(run->end, end) - run->begin <= kRunBytes) {
      run->end = std::max(run->end, end);
      run->last = k + 1;
    } else {
      tasks.push_back({begin, end, k, k + 1});
    }
    run_bytes = std::max(run_bytes, end - begin);
  }

  std::vector<std::uint64_t> data_offset(entries_.size(), 0);
  BufferPool buffers(static_cast<std::size_t>(std::max(kRunBytes, run_bytes)));
  std::uint64_t total = 0;
  for (const ReadRequest& request : requests) total += request.out.size();

  // An entry read on its own: its local header and descriptor, then its data if wanted.
  const auto single = [&](std::size_t index, bool with_data) {
    Entry entry = entries_[index];
    read_local_header(source_, entry, directory_offset_, src);
    data_offset[index] = entry.data_offset;
    if (with_data && wanted[index]) {
      read_data(entry, source_, out_of[index], verify_crc);
      meter.add(entry.size);
    }
  };

  const auto read_task = [&](std::size_t t) {
    const Task& task = tasks[t];
    if (task.end == 0) {
      single(order[task.first], /*with_data=*/false);
      return;
    }
    auto buffer = buffers.take();
    const std::span<std::byte> run(buffer.get(), static_cast<std::size_t>(task.end - task.begin));
    source_.read_at(task.begin, run);
    for (std::size_t k = task.first; k < task.last; ++k) {
      const std::size_t index = order[k];
      const Entry& entry = entries_[index];
      const std::uint64_t at = entry.local_header_offset - task.begin;
      std::size_t needed = 0;
      const std::uint64_t data =
          check_local_header(entry, run.subspan(static_cast<std::size_t>(at)), directory_offset_,
                             src, needed);
      const std::size_t descriptor =
          data == 0 ? 0 : descriptor_bytes_wanted(entry, data, directory_offset_);
      if (data == 0 || data + entry.compressed_size + descriptor > task.end) {
        single(index, /*with_data=*/true);  // does not fit the run: a longer extra field
        continue;
      }
      data_offset[index] = data;
      const std::byte* bytes = run.data() + (data - task.begin);
      check_data_descriptor(
          entry, data,
          std::span<const std::byte>(bytes + entry.compressed_size, descriptor), src);
      if (!wanted[index]) continue;
      const std::span<std::byte> out = out_of[index];
      io::prefault_for_write(out);
      if (entry.method == kMethodStored) {
        const std::span<const std::byte> from(bytes, static_cast<std::size_t>(entry.size));
        if (verify_crc) {
          check_crc(entry, data, source_, io::copy_with_crc32(out, from, 0));
        } else if (!out.empty()) {
          std::memcpy(out.data(), from.data(), out.size());
        }
      } else if (entry.method == kMethodDeflated) {
        inflate(entry, data, source_, bytes, out);
        if (verify_crc) check_crc(entry, data, source_, io::crc32(out));
      } else {
        Entry copy = entry;
        copy.data_offset = data;
        read_data(copy, source_, out, verify_crc);  // refuses the method
      }
      meter.add(entry.size);
    }
    buffers.give(std::move(buffer));
  };
  io::parallel_for(tasks.size(), threads_for(total, options), read_task, options.share);

  // Phase 2: the large records' data, in pieces spread over the cores, in file order.
  std::vector<PieceRead> reads;
  for (const Task& task : tasks) {
    if (task.end != 0) continue;
    const std::size_t index = order[task.first];
    if (wanted[index]) reads.push_back({&entries_[index], data_offset[index], out_of[index]});
  }
  read_in_pieces(reads, source_, verify_crc, meter, threads_for(total, options), options.share);
}

std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t crc) {
  return io::crc32(bytes, crc);
}

}  // namespace mnemo::zip
