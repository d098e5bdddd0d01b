#include "formats/zip/zip_writer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "formats/zip/zip_format.h"
#include "formats/zip/zip_reader.h"
#include "io/lead_gate.h"
#include "io/parallel_copy.h"
#include "mnemo/core/error.h"

namespace mnemo::zip {

using namespace format;

namespace {

constexpr std::uint16_t kFlagsWithData = kFlagUtf8 | kFlagDataDescriptor;  // 0x0808
constexpr std::uint16_t kFlagsEmpty = kFlagUtf8;                           // 0x0800
constexpr std::uint16_t kMaxNameSize = 0xFFFF;
constexpr std::uint64_t kMaxDirectorySize = kMarker32;  // miniz's limit, and PyTorch's
constexpr std::uint64_t kMaxZip64ExtraSize = kExtraHeaderSize + 3 * 8;

// miniz gives an entry a zip64 extra field when its size or its local header offset
// reaches 0xFFFFFFFF: the size fields (size, then compressed size) for the first, the
// offset for the second.
struct Zip64Fields {
  bool sizes;
  bool offset;
  bool any() const { return sizes || offset; }
  std::size_t extra_size() const {
    return any() ? kExtraHeaderSize + (sizes ? 16 : 0) + (offset ? 8 : 0) : 0;
  }
};

Zip64Fields zip64_fields(std::uint64_t size, std::uint64_t offset) {
  return {size >= kMarker32, offset >= kMarker32};
}

std::uint32_t capped32(std::uint64_t v) {
  return v >= kMarker32 ? kMarker32 : static_cast<std::uint32_t>(v);
}

std::uint16_t capped16(std::uint64_t v) {
  return v >= kMarker16 ? kMarker16 : static_cast<std::uint16_t>(v);
}

// The zip64 extra block as miniz builds it: ID, data length, then the fields present.
void append_zip64_extra(FieldWriter& out, Zip64Fields fields, std::uint64_t size,
                        std::uint64_t compressed_size, std::uint64_t offset) {
  if (!fields.any()) return;
  out.u16(kZip64ExtraId);
  out.u16(static_cast<std::uint16_t>(fields.extra_size() - kExtraHeaderSize));
  if (fields.sizes) {
    out.u64(size);
    out.u64(compressed_size);
  }
  if (fields.offset) out.u64(offset);
}

void check_name(std::string_view name, std::uint64_t size) {
  MNEMO_CHECK(!name.empty(), "a zip entry name must not be empty");
  MNEMO_CHECK(name.size() <= kMaxNameSize, "zip entry name of ", name.size(),
              " bytes is longer than the format's ", kMaxNameSize);
  MNEMO_CHECK(name.find('\0') == std::string_view::npos, "zip entry name '", name,
              "' contains a NUL byte");
  MNEMO_CHECK(name.front() != '/', "zip entry name '", name, "' must not start with '/'");
  MNEMO_CHECK(name.back() != '/' || size == 0, "zip entry '", name,
              "' names a directory (it ends in '/') but has ", size, " bytes of data");
}

}  // namespace

ZipWriter::ZipWriter(io::ByteSink& sink) : sink_(sink) {
  MNEMO_CHECK(sink.position() == 0,
              "a zip archive must start at the beginning of its sink, "
              "which already holds ",
              sink.position(), " bytes");
}

ZipWriter::~ZipWriter() = default;

void ZipWriter::emit(std::span<const io::ConstBytes> pieces, std::uint64_t bytes) {
  broken_ = true;
  sink_.write(pieces);
  broken_ = false;
  position_ += bytes;
}

ZipWriter::Layout ZipWriter::plan(std::string_view name, std::uint64_t size, std::uint64_t offset,
                                  std::uint64_t pending_directory) const {
  check_name(name, size);
  MNEMO_CHECK(!names_.contains(name), "duplicate zip entry name '", name, "'");
  const Zip64Fields zip64 = zip64_fields(size, offset);
  // miniz refuses an entry once the directory, counting the largest zip64 extra for it,
  // would reach 4 GiB; refusing at the same point keeps every archive one PyTorch wrote.
  if (directory_size_ + pending_directory + kCentralHeaderSize + name.size() + kMaxZip64ExtraSize >=
      kMaxDirectorySize) {
    fail(ErrorCode::kLimit, "zip entry '", name, "' would grow the central directory past ",
         kMaxDirectorySize, " bytes, more than PyTorch's zip writer and reader allow");
  }
  Layout at;
  at.size = size;
  at.offset = offset;
  at.zip64_sizes = zip64.sizes;
  at.zip64_offset = zip64.offset;
  // The "FB" padding block is sized so that the data starts on a 64-byte boundary.
  const std::uint64_t unpadded_start =
      offset + kLocalHeaderSize + name.size() + zip64.extra_size() + kExtraHeaderSize;
  at.padding = static_cast<std::uint16_t>(
      (kDataAlignment - unpadded_start % kDataAlignment) % kDataAlignment);
  at.header_size =
      kLocalHeaderSize + name.size() + zip64.extra_size() + kExtraHeaderSize + at.padding;
  at.descriptor_size =
      size == 0 ? 0 : (zip64.any() ? kDataDescriptorSize64 : kDataDescriptorSize32);
  return at;
}

void ZipWriter::append_header(std::vector<std::byte>& header, std::string_view name,
                              const Layout& at) {
  const Zip64Fields zip64{at.zip64_sizes, at.zip64_offset};
  const std::uint16_t flags = at.size > 0 ? kFlagsWithData : kFlagsEmpty;
  // The fixed fields at their offsets, then what follows them through the checked writer:
  // an archive of many small records writes one of these per record.
  std::byte fixed[kLocalHeaderSize];
  store_le32(fixed, kLocalHeaderSignature);
  store_le16(fixed + 4, 0);  // version needed: miniz writes 0 for stored entries
  store_le16(fixed + 6, flags);
  store_le16(fixed + 8, kMethodStored);
  store_le16(fixed + 10, 0);  // time
  store_le16(fixed + 12, 0);  // date
  store_le32(fixed + 14, 0);  // CRC: in the data descriptor (and 0 anyway for an empty entry)
  store_le32(fixed + 18, 0);  // compressed size, likewise
  store_le32(fixed + 22, 0);  // size, likewise
  store_le16(fixed + 26, static_cast<std::uint16_t>(name.size()));
  store_le16(fixed + 28,
             static_cast<std::uint16_t>(zip64.extra_size() + kExtraHeaderSize + at.padding));
  FieldWriter out(header, at.header_size);
  out.bytes(fixed);
  out.text(name);
  // In the local header miniz writes the compressed size as 0: it is not known yet.
  append_zip64_extra(out, zip64, at.size, 0, at.offset);
  out.u16(kPaddingExtraId);
  out.u16(at.padding);
  out.fill(at.padding, kPaddingByte);
  MNEMO_CHECK(out.full(), "zip writer: local header of '", name, "' is not its planned size");
}

void ZipWriter::append_descriptor(std::vector<std::byte>& descriptor, const Layout& at,
                                  std::uint32_t crc) {
  if (at.size == 0) return;
  FieldWriter d(descriptor, at.descriptor_size);
  d.u32(kDataDescriptorSignature);
  d.u32(crc);
  if (at.zip64_sizes || at.zip64_offset) {
    d.u64(at.size);  // compressed size: stored, so the same
    d.u64(at.size);
  } else {
    d.u32(static_cast<std::uint32_t>(at.size));
    d.u32(static_cast<std::uint32_t>(at.size));
  }
}

std::string_view ZipWriter::claim(std::string_view name) {
  const std::string_view kept = name_text_.keep(name);
  names_.insert_or_assign(kept, true);
  return kept;
}

void ZipWriter::record(std::string_view name, const Layout& at, std::uint32_t crc) {
  written_.push_back(Written{name, crc, at.size, at.offset});
  const Zip64Fields zip64 = zip64_fields(at.size, at.offset);
  directory_size_ += kCentralHeaderSize + name.size() + zip64.extra_size();
}

void ZipWriter::add(std::string_view name, std::span<const io::ConstBytes> pieces) {
  MNEMO_CHECK(!finished_, "zip entry '", name, "' added after finish()");
  MNEMO_CHECK(!broken_, "zip entry '", name, "' added after a failed write to the archive");
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
  for (const io::ConstBytes& piece : pieces) {
    MNEMO_CHECK(piece.size() <= std::numeric_limits<std::uint64_t>::max() - size, "zip entry '",
                name, "' is larger than 2^64 bytes");
    size += piece.size();
    crc = crc32(piece, crc);
  }
  const Layout at = plan(name, size, position_, 0);
  std::vector<std::byte> header;
  header.reserve(at.header_size);
  append_header(header, name, at);
  std::vector<std::byte> descriptor;
  append_descriptor(descriptor, at, crc);

  std::vector<io::ConstBytes> all;
  all.reserve(pieces.size() + 2);
  all.emplace_back(header);
  all.insert(all.end(), pieces.begin(), pieces.end());
  all.emplace_back(descriptor);
  const std::string_view kept = claim(name);
  emit(all, header.size() + size + descriptor.size());
  record(kept, at, crc);
}

namespace {

// add_all's CRC work: the entries' data cut into slices, grouped into jobs of about
// kJobBytes (many small entries, or one slice of a large one). Helper threads run the
// jobs in order, and the writing thread runs one itself when it needs a CRC that no
// helper has started. A job of large slices is run at most kLeadJobs ahead of what is
// being written (io::LeadGate), so that its bytes are most likely still in the CPU's
// caches when the kernel copies them into the page cache. On a 2-vCPU machine a 1 GiB
// .pt save took 108 to 115 ms so, against 135 to 140 with the CRCs run as far ahead as
// they could, and a bare loop of writes with no CRC at all 130. (A helper that only
// touched the bytes ahead of a .safetensors save's writes gained nothing there, which
// the caches alone do not explain.) Small slices are not held back: with a CRC call per
// entry, the helper is slower than the writing thread there, and holding it back only
// had them wait for each other.
constexpr std::uint64_t kJobBytes = std::uint64_t{1} << 20;
// How many jobs of large slices the helpers may run beyond the one being written: one
// more for the helper to run while it is written, few enough that they stay cached.
constexpr std::size_t kLeadJobs = 2;
// A job is of large slices when they average at least this many bytes.
constexpr std::uint64_t kLargeSliceBytes = std::uint64_t{64} << 10;
// A sink write carries at most this many pieces (IOV_MAX is 1024) and about this many
// bytes: a job's worth, the most the caches are asked to keep of what was read ahead.
constexpr std::size_t kMaxWritePieces = 1000;
constexpr std::uint64_t kWriteBytes = kJobBytes;

class CrcJobs {
 public:
  struct Slice {
    const std::byte* data;
    std::uint64_t length;
  };

  // Cuts each entry's pieces into slices; entry e's are [first_slice(e), first_slice(e + 1)).
  explicit CrcJobs(std::span<const EntryToAdd> entries) {
    first_.reserve(entries.size() + 1);
    std::uint64_t job_bytes = 0;
    job_first_.push_back(0);
    // Ends the job being cut, paced when its slices average kLargeSliceBytes or more.
    const auto end_job = [&] {
      paced_.push_back(job_bytes >= (slices_.size() - job_first_.back()) * kLargeSliceBytes);
      job_first_.push_back(slices_.size());
      job_bytes = 0;
    };
    for (const EntryToAdd& entry : entries) {
      first_.push_back(slices_.size());
      for (const io::ConstBytes& piece : entry.pieces) {
        for (std::uint64_t at = 0; at < piece.size(); at += kJobBytes) {
          const std::uint64_t length = std::min<std::uint64_t>(kJobBytes, piece.size() - at);
          if (job_bytes > 0 && job_bytes + length > kJobBytes) end_job();
          slices_.push_back({piece.data() + at, length});
          job_bytes += length;
          total_ += length;
        }
      }
    }
    first_.push_back(slices_.size());
    end_job();
    jobs_ = job_first_.size() - 1;
    crcs_.assign(slices_.size(), 0);
    done_ = std::make_unique<std::atomic<bool>[]>(jobs_);
    for (std::size_t j = 0; j < jobs_; ++j) done_[j].store(false, std::memory_order_relaxed);
  }

  ~CrcJobs() { stop(); }

  // Starts up to `helpers` threads working through the jobs in order: kLeadJobs at most,
  // as more would only wait while large entries are written, and the writing thread
  // computes CRCs itself when the helpers fall behind.
  void start(std::size_t helpers) {
    helpers = std::min({helpers, kLeadJobs, jobs_});
    for (std::size_t t = 0; t < helpers; ++t) {
      try {
        threads_.emplace_back([this] { help(); });
      } catch (const std::system_error&) {
        break;  // no thread to be had: the writing thread computes the CRCs itself
      }
    }
  }

  void stop() {
    gate_.stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  std::uint64_t total_bytes() const { return total_; }
  std::size_t first_slice(std::size_t e) const { return first_[e]; }
  io::ConstBytes slice(std::size_t s) const {
    return {slices_[s].data, static_cast<std::size_t>(slices_[s].length)};
  }

  // Waits until the CRCs of slices [0, end) are computed, computing what no helper has
  // taken, and lets the helpers run on past them.
  void wait_through(std::size_t end) {
    if (end == 0) return;
    const std::size_t last = job_of(end - 1);
    gate_.raise(last + 1 + kLeadJobs);
    for (; waited_ <= last; ++waited_) wait_for(waited_);
  }

  // The CRC-32 of entry e's data, waiting for it (wait_through) as needed.
  std::uint32_t crc(std::size_t e) {
    const std::size_t first = first_[e], last = first_[e + 1];
    if (first == last) return 0;
    wait_through(last);
    std::uint32_t crc = crcs_[first];
    for (std::size_t s = first + 1; s < last; ++s) {
      crc = io::crc32_combine(crc, crcs_[s], slices_[s].length);
    }
    return crc;
  }

 private:
  std::size_t job_of(std::size_t slice) const {
    return static_cast<std::size_t>(
        std::upper_bound(job_first_.begin(), job_first_.end(), slice) - job_first_.begin() - 1);
  }

  // A helper thread: claims the jobs in turn, running a paced one once the writing
  // thread lets it (gate_), until none is left or stop().
  void help() {
    while (!gate_.stopped()) {
      const std::size_t j = next_.fetch_add(1, std::memory_order_relaxed);
      if (j >= jobs_) return;
      if (paced_[j] && !gate_.wait_below(j)) return;
      run(j);
    }
  }

  // Runs the next unclaimed job, wherever it is; false when none is left.
  bool claim_and_run() {
    const std::size_t j = next_.fetch_add(1, std::memory_order_relaxed);
    if (j >= jobs_) return false;
    run(j);
    return true;
  }

  void run(std::size_t j) {
    for (std::size_t s = job_first_[j]; s < job_first_[j + 1]; ++s) {
      crcs_[s] = io::crc32(std::span(slices_[s].data, static_cast<std::size_t>(slices_[s].length)));
    }
    {
      const std::lock_guard lock(mutex_);
      done_[j].store(true, std::memory_order_release);
    }
    ready_.notify_all();
  }

  void wait_for(std::size_t j) {
    while (!done_[j].load(std::memory_order_acquire)) {
      if (claim_and_run()) continue;  // help rather than wait
      // Every job is claimed: j is running on another thread, which wait_through let pass
      // the gate.
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return done_[j].load(std::memory_order_acquire); });
    }
  }

  std::vector<Slice> slices_;
  std::vector<std::uint32_t> crcs_;
  std::vector<std::size_t> first_;      // per entry, its first slice (and one past the end)
  std::vector<std::size_t> job_first_;  // per job, its first slice (and one past the end)
  std::size_t jobs_ = 0;
  std::uint64_t total_ = 0;
  std::vector<bool> paced_;  // per job: of large slices, so held back (gate_)
  std::unique_ptr<std::atomic<bool>[]> done_;
  std::atomic<std::size_t> next_{0};
  // Helpers run paced jobs only below it; the writing thread raises it as it goes.
  io::LeadGate gate_{kLeadJobs};
  std::size_t waited_ = 0;  // the writing thread has seen jobs below this done
  std::mutex mutex_;
  std::condition_variable ready_;  // a job is done
  std::vector<std::thread> threads_;
};

}  // namespace

void ZipWriter::add_all(std::span<const EntryToAdd> entries) {
  MNEMO_CHECK(!finished_, "zip entries added after finish()");
  MNEMO_CHECK(!broken_, "zip entries added after a failed write to the archive");
  // Lay every entry out, checking it, before anything is written. Each name is claimed as
  // it is planned, so that a later one cannot repeat it; a refusal gives the names back.
  std::vector<Layout> layouts;
  layouts.reserve(entries.size());
  std::vector<std::string_view> names;
  names.reserve(entries.size());
  names_.reserve(names_.size() + entries.size());
  const std::size_t claimed_before = names_.size();
  std::uint64_t offset = position_;
  std::uint64_t pending_directory = 0;
  try {
    for (const EntryToAdd& entry : entries) {
      std::uint64_t size = 0;
      for (const io::ConstBytes& piece : entry.pieces) {
        MNEMO_CHECK(piece.size() <= std::numeric_limits<std::uint64_t>::max() - size, "zip entry '",
                    entry.name, "' is larger than 2^64 bytes");
        size += piece.size();
      }
      const Layout& at = layouts.emplace_back(plan(entry.name, size, offset, pending_directory));
      names.push_back(claim(entry.name));
      offset += at.header_size + at.size + at.descriptor_size;
      pending_directory +=
          kCentralHeaderSize + entry.name.size() + zip64_fields(at.size, at.offset).extra_size();
    }
  } catch (...) {
    names_.truncate(claimed_before);
    throw;
  }

  CrcJobs crcs(entries);
  crcs.start(io::threads_for(crcs.total_bytes()) - 1);
  std::vector<std::uint32_t> entry_crc(entries.size(), 0);

  // Each write: the data of about kWriteBytes, whole slices of the entries in turn, with
  // the headers and descriptors between them. An entry's descriptor goes out once all of
  // its data has been gathered, so it may start the next write.
  struct MetaPiece {
    std::size_t piece;  // its place in `pieces`
    std::size_t offset;
    std::size_t size;
  };
  std::vector<std::byte> meta;  // the write's headers and descriptors
  std::vector<MetaPiece> meta_pieces;
  std::vector<io::ConstBytes> pieces;
  std::size_t e = 0;             // the entry being gathered
  bool header_gathered = false;  // ... and whether its header is
  std::size_t s = 0;             // the next slice of data to gather
  std::size_t recorded = 0;      // entries listed for the central directory
  while (e < entries.size()) {
    meta.clear();
    meta_pieces.clear();
    pieces.clear();
    std::size_t meta_from = 0;
    const auto flush_meta = [&] {
      if (meta.size() > meta_from) {
        meta_pieces.push_back({pieces.size(), meta_from, meta.size() - meta_from});
        pieces.emplace_back();  // pointed into `meta` once it stops growing
      }
      meta_from = meta.size();
    };
    std::uint64_t data_bytes = 0;
    while (e < entries.size() && data_bytes < kWriteBytes && pieces.size() + 3 <= kMaxWritePieces) {
      if (!header_gathered) {
        append_header(meta, entries[e].name, layouts[e]);
        header_gathered = true;
      }
      if (s < crcs.first_slice(e + 1)) {
        flush_meta();
        pieces.push_back(crcs.slice(s++));
        data_bytes += pieces.back().size();
        continue;
      }
      entry_crc[e] = crcs.crc(e);
      append_descriptor(meta, layouts[e], entry_crc[e]);  // none for an empty entry
      ++e;
      header_gathered = false;
    }
    flush_meta();
    for (const MetaPiece& piece : meta_pieces) {
      pieces[piece.piece] = io::ConstBytes(meta.data() + piece.offset, piece.size);
    }
    crcs.wait_through(s);  // the bytes go out while the CRC's reading left them cached
    emit(pieces, data_bytes + meta.size());  // if it throws, ~CrcJobs stops the helpers
    for (; recorded < e; ++recorded) {
      record(names[recorded], layouts[recorded], entry_crc[recorded]);
    }
  }
}

void ZipWriter::finish() {
  MNEMO_CHECK(!finished_, "finish() called twice");
  MNEMO_CHECK(!broken_, "finish() after a failed write to the archive");
  std::vector<std::byte> tail;
  FieldWriter out(tail, directory_size_ + kZip64EndSize + kZip64LocatorSize + kEndSize);
  for (const Written& w : written_) {
    const Zip64Fields zip64 = zip64_fields(w.size, w.local_header_offset);
    const bool directory = w.name.back() == '/';
    std::byte fixed[kCentralHeaderSize];  // as in append_header
    store_le32(fixed, kCentralHeaderSignature);
    store_le16(fixed + 4, 0);  // version made by: miniz leaves it 0
    store_le16(fixed + 6, 0);  // version needed
    store_le16(fixed + 8, w.size > 0 ? kFlagsWithData : kFlagsEmpty);
    store_le16(fixed + 10, kMethodStored);
    store_le16(fixed + 12, 0);  // time
    store_le16(fixed + 14, 0);  // date
    store_le32(fixed + 16, w.crc32);
    store_le32(fixed + 20, capped32(w.size));  // compressed size
    store_le32(fixed + 24, capped32(w.size));
    store_le16(fixed + 28, static_cast<std::uint16_t>(w.name.size()));
    store_le16(fixed + 30, static_cast<std::uint16_t>(zip64.extra_size()));
    store_le16(fixed + 32, 0);  // comment length
    store_le16(fixed + 34, 0);  // disk number
    store_le16(fixed + 36, 0);  // internal attributes
    store_le32(fixed + 38, directory ? kDosDirectoryAttribute : 0);
    store_le32(fixed + 42, capped32(w.local_header_offset));
    out.bytes(fixed);
    out.text(w.name);
    append_zip64_extra(out, zip64, w.size, w.size, w.local_header_offset);
  }
  const std::uint64_t count = written_.size();
  const std::uint64_t directory_size = directory_size_;
  // miniz records offset 0 for the directory of an empty archive.
  const std::uint64_t directory_offset = count > 0 ? position_ : 0;
  const std::uint64_t zip64_end_offset = position_ + directory_size;

  out.u32(kZip64EndSignature);
  out.u64(kZip64EndRecordSize);
  out.u16(kZip64VersionMadeBy);
  out.u16(kZip64VersionNeeded);
  out.u32(0);  // this disk
  out.u32(0);  // disk with the directory
  out.u64(count);
  out.u64(count);
  out.u64(directory_size);
  out.u64(directory_offset);

  out.u32(kZip64LocatorSignature);
  out.u32(0);  // disk with the zip64 end record
  out.u64(zip64_end_offset);
  out.u32(1);  // total disks

  out.u32(kEndSignature);
  out.u16(0);  // this disk
  out.u16(0);  // disk with the directory
  out.u16(capped16(count));
  out.u16(capped16(count));
  out.u32(capped32(directory_size));
  out.u32(capped32(directory_offset));
  out.u16(0);  // comment length
  MNEMO_CHECK(out.full(), "zip writer: the central directory is not its planned size");

  const io::ConstBytes bytes(tail);
  emit(std::span<const io::ConstBytes>(&bytes, 1), tail.size());
  finished_ = true;
}

}  // namespace mnemo::zip
