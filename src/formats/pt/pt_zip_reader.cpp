#include "formats/pt/pt_zip_reader.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "formats/pickle/unpickler.h"
#include "formats/pt/byteswap.h"
#include "formats/storage_pool.h"
#include "formats/zip/zip_reader.h"
#include "io/parallel_copy.h"
#include "mnemo/limits.h"

namespace mnemo::pt {
namespace {

// The versions torch.load accepts in PyTorch 1.13 (kMinSupportedFileFormatVersion to
// kMaxSupportedFileFormatVersion).
constexpr std::int64_t kMinVersion = 1;
constexpr std::int64_t kMaxVersion = 10;

class Archive {
 public:
  // Local headers are checked as records are read: opening a file of 100,000 records
  // reads its directory only.
  Archive(const io::ByteSource& source)
      : source_(source), zip_(source, zip::LocalHeaders::kDeferred) {
    if (zip_.entries().empty()) {
      fail(ErrorCode::kCorrupt, source.describe(), ": the zip archive holds no records");
    }
    const std::string& first = zip_.entries().front().name;
    const std::size_t slash = first.find('/');
    if (slash == std::string::npos) {
      fail(ErrorCode::kCorrupt, source.describe(), ": file in archive is not in a subdirectory: ",
           first);
    }
    prefix_ = first.substr(0, slash + 1);
  }

  const zip::Entry* find(std::string_view name) const {
    return zip_.find(prefix_ + std::string(name));
  }
  // The record "data/<key>". torch.save numbers its storages 0, 1, 2, ...: such keys are
  // found by their number, the rest by name.
  const zip::Entry* find_data(std::string_view key) {
    if (!numbered_) number_data_records();
    const std::optional<std::size_t> number = canonical_number(key);
    if (number && *number < data_by_number_.size() && data_by_number_[*number] != kNoRecord) {
      return &zip_.entries()[data_by_number_[*number]];
    }
    lookup_.assign(prefix_);
    lookup_ += "data/";
    lookup_ += key;
    return zip_.find(lookup_);
  }
  const zip::ZipReader& zip() const { return zip_; }
  // The names of storage records start with this.
  std::string data_prefix() const { return prefix_ + "data/"; }
  std::string describe(std::string_view record) const {
    return source_.describe() + ": record " + prefix_ + std::string(record);
  }
  std::string describe(const zip::Entry& entry) const {
    return source_.describe() + ": record " + entry.name;
  }

  // A small record's text (version, byteorder).
  std::string small_text(const zip::Entry& entry, std::string_view name) const {
    if (entry.size > 64) {
      fail(ErrorCode::kCorrupt, describe(name), " has ", entry.size, " bytes; expected a few");
    }
    std::string text(entry.size, '\0');
    zip_.read(entry, std::as_writable_bytes(std::span(text)), /*verify_crc=*/true);
    return text;
  }

 private:
  static constexpr std::size_t kNoRecord = static_cast<std::size_t>(-1);

  // A decimal number written as str(int) writes it (no sign, no leading zero), small
  // enough to index a vector.
  static std::optional<std::size_t> canonical_number(std::string_view text) {
    if (text.empty() || text.size() > 9 || (text[0] == '0' && text.size() > 1)) return std::nullopt;
    std::size_t number = 0;
    for (const char c : text) {  // at most 9 digits: no overflow
      if (c < '0' || c > '9') return std::nullopt;
      number = number * 10 + static_cast<std::size_t>(c - '0');
    }
    return number;
  }

  // Indexes the records "data/<number>" by number, up to a bound set by how many records
  // there are (a hostile name cannot make the table large); others are found by name.
  void number_data_records() {
    numbered_ = true;
    const std::string prefix = data_prefix();
    const std::span<const zip::Entry> entries = zip_.entries();
    const std::size_t bound = 2 * entries.size() + 16;
    data_by_number_.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string_view name = entries[i].name;
      if (!name.starts_with(prefix)) continue;
      const std::optional<std::size_t> number = canonical_number(name.substr(prefix.size()));
      if (!number || *number >= bound) continue;
      if (*number >= data_by_number_.size()) data_by_number_.resize(*number + 1, kNoRecord);
      data_by_number_[*number] = i;
    }
  }

  const io::ByteSource& source_;
  zip::ZipReader zip_;
  std::string prefix_;
  std::string lookup_;
  bool numbered_ = false;
  std::vector<std::size_t> data_by_number_;  // entry index of "data/<number>", or kNoRecord
};

void check_version(const Archive& archive) {
  const zip::Entry* entry = archive.find("version");
  std::string_view name = "version";
  if (!entry) {
    entry = archive.find(".data/version");
    name = ".data/version";
  }
  if (!entry) {
    fail(ErrorCode::kCorrupt, archive.describe("version"),
         " is missing: not a torch.save archive (every one has it)");
  }
  std::string text = archive.small_text(*entry, name);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  std::int64_t version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    fail(ErrorCode::kCorrupt, archive.describe(name), " holds \"", text,
         "\", expected a decimal version number");
  }
  if (version < kMinVersion || version > kMaxVersion) {
    fail(ErrorCode::kUnsupported, archive.describe(name), " says format version ", version,
         "; mnemo reads versions ", kMinVersion, " to ", kMaxVersion, " (as PyTorch 1.13)");
  }
}

bool is_big_endian(const Archive& archive) {
  const zip::Entry* entry = archive.find("byteorder");
  if (!entry) return false;  // files before PyTorch 2.1 are little-endian
  const std::string text = archive.small_text(*entry, "byteorder");
  if (text == "little") return false;
  if (text == "big") return true;
  fail(ErrorCode::kCorrupt, archive.describe("byteorder"), " holds \"", text,
       "\", expected \"little\" or \"big\"");
}

// data.pkl's bytes (a Storage: not zeroed before they are read).
Storage read_pickle(const Archive& archive) {
  // torch.load tells TorchScript archives apart the same way: torch.save never writes
  // constants.pkl.
  if (archive.find("constants.pkl")) {
    fail(ErrorCode::kUnsupported, archive.describe("constants.pkl"),
         " shows a TorchScript archive (torch.jit.save, or LibTorch's torch::save); mnemo "
         "reads torch.save files");
  }
  const zip::Entry* entry = archive.find("data.pkl");
  if (!entry) fail(ErrorCode::kCorrupt, archive.describe("data.pkl"), " is missing");
  if (entry->size > limits::kMaxPickleBytes) {
    fail(ErrorCode::kLimit, archive.describe("data.pkl"), " has ", entry->size,
         " bytes, more than the limit of ", limits::kMaxPickleBytes, " (kMaxPickleBytes)");
  }
  Storage bytes = Storage::allocate(static_cast<std::size_t>(entry->size));
  const std::span<std::byte> out(bytes.mutable_data(), bytes.nbytes());
  io::prefault_for_write(out);  // in one call, not a fault per page as the read fills it
  archive.zip().read(*entry, out, /*verify_crc=*/true);
  return bytes;
}

// Loads each storage once, however many tensors view it. A copy load allocates each
// storage as the pickle names it and fills them all at the end (read_all), so that the
// records are read in file order, large ones in parallel, straight into their storages.
//
// An archive of many small records has them read early instead: a storage is cut for
// each before the pickle is parsed, and a second thread reads them all while it is. The
// pickle then takes the storage of each record it names, moving it out of the early
// read's table, which so tells the named records from the others. If that read fails,
// fill() reads the named ones again the ordinary way, so that a damaged record gives the
// ordinary error, and one that the pickle does not name none. Not when progress is
// reported: its total, the bytes of the storages the pickle names, is known only once
// the pickle is parsed, and the bytes would all arrive before it.
class StorageTable {
 public:
  StorageTable(Archive& archive, const io::ByteSource& source, const LoadOptions& options,
               bool big_endian)
      : archive_(archive),
        source_(source),
        options_(options),
        big_endian_(big_endian),
        verify_crc_(options.verify_crc.value_or(!options.mmap)),
        loaded_(archive.zip().entries().size(), kNotLoaded),
        pool_(small_record_bytes(archive.zip())),
        mapped_(options.mmap ? source.storage() : Storage()) {
    // A storage per record at most: no reallocation while the pickle names them.
    const std::size_t records = archive.zip().entries().size();
    storages_.reserve(records);
    if (!options.mmap) {
      pending_.reserve(records);
      if (!big_endian && !options.progress) read_early();
    }
  }

  Storage load(const pickle::StorageRef& ref) {
    const zip::Entry* entry = archive_.find_data(ref.key);
    if (!entry) {
      const std::string name = "data/" + std::string(ref.key);
      fail(ErrorCode::kCorrupt, archive_.describe(name), " is missing (its storage is referenced at byte ",
           ref.byte_offset, " of data.pkl)");
    }
    const std::size_t index = entry_index(*entry);
    if (loaded_[index] != kNotLoaded) {
      const Loaded& found = storages_[loaded_[index]];
      if (found.dtype != ref.dtype || found.numel != ref.numel) {
        fail(ErrorCode::kCorrupt, archive_.describe("data.pkl"), ": storage '", ref.key,
             "' is referenced as ", found.numel, " ", dtype_name(found.dtype),
             " elements and, at byte ", ref.byte_offset, ", as ", ref.numel, " ",
             dtype_name(ref.dtype), " elements");
      }
      return found.storage;
    }
    const std::size_t unit = ref.untyped ? 1 : element_size(ref.dtype);
    std::uint64_t expected = 0;
    if (ref.numel < 0 ||
        __builtin_mul_overflow(static_cast<std::uint64_t>(ref.numel), unit, &expected) ||
        entry->size != expected) {
      fail(ErrorCode::kCorrupt, archive_.describe("data/" + std::string(ref.key)), " has ",
           entry->size, " bytes, but its storage is ", ref.numel, " ",
           ref.untyped ? "bytes" : dtype_name(ref.dtype), ref.untyped ? "" : " elements", " (",
           ref.numel, " x ", unit, " bytes)");
    }
    const Device device = options_.map_location.resolve(ref.location);
    const bool swap = big_endian_ && byteswap_unit(ref.dtype) > 1 && !ref.untyped;

    Storage storage;
    if (options_.mmap && source_.storage().defined() && entry->method == zip::kMethodStored &&
        !swap) {
      storage = mapped_.slice(entry->data_offset, entry->size);
      if (verify_crc_ && entry->crc32 != 0) mapped_checks_.push_back({entry, storage.data()});
      if (!device.is_cpu()) storage = storage.with_device(device);
    } else if (!early_.empty() && early_[index].defined() && device.is_cpu()) {
      storage = std::move(early_[index]);  // being read (big-endian files are not read early)
    } else {
      storage = pool_.allocate(entry->size, device);
      pending_.push_back({entry, std::span<std::byte>(storage.mutable_data(), entry->size)});
      if (swap) swaps_.push_back({pending_.back().out, byteswap_unit(ref.dtype)});
    }
    loaded_[index] = static_cast<std::uint32_t>(storages_.size());
    storages_.push_back({storage, ref.dtype, ref.numel});
    return storage;
  }

  // Checks the CRCs of the mapped storages that need it, and reads the bytes of every
  // storage allocated by load().
  void fill() {
    // The early read checked every record's local header; if it failed, the named
    // records it was to read are read again with the rest, the ordinary way.
    early_share_.help();  // what it has not read yet, this thread reads too
    const bool read_early = finish_early_read();
    if (!read_early) {
      for (const zip::ReadRequest& request : early_requests_) {
        if (!early_[entry_index(*request.entry)].defined()) pending_.push_back(request);  // named
      }
    }
    // The records the pickle did not name are dropped with their slices.
    early_ = {};
    early_requests_ = {};
    std::uint64_t total = 0;
    for (const Loaded& loaded : storages_) total += loaded.storage.nbytes();
    std::uint64_t worked = 0;
    for (const zip::ReadRequest& request : pending_) worked += request.out.size();
    for (const MappedCheck& check : mapped_checks_) worked += check.entry->size;
    io::ProgressMeter meter(options_.progress, total);
    meter.add(total - worked);  // mapped with nothing to check, or read early
    check_mapped(meter);
    pool_.prefault();
    archive_.zip().read_all(pending_, verify_crc_,
                            {.progress = &meter, .check_unrequested = !read_early});
    meter.finish();
    for (const Swap& swap : swaps_) byteswap_in_place(swap.bytes, swap.unit);
  }

 private:
  static constexpr std::uint32_t kNotLoaded = static_cast<std::uint32_t>(-1);
  // A mapped record's CRC is computed in slices of this size, each counted as progress.
  static constexpr std::uint64_t kCrcSlice = std::uint64_t{16} << 20;
  // What the pool may be asked for: every small record, at most (the directory is
  // already read; records are not yet).
  static std::uint64_t small_record_bytes(const zip::ZipReader& zip) {
    std::uint64_t total = 0;
    for (const zip::Entry& entry : zip.entries())
      total += formats::StoragePool::footprint(entry.size);
    return total;
  }

  struct MappedCheck {
    const zip::Entry* entry;
    const std::byte* data;  // in the mapping
  };

  // How many small data records an archive needs before they are read early: below
  // that, a thread costs about what the overlap saves.
  static constexpr std::size_t kEarlyReadRecords = 1000;

  // Cuts a storage for every small record under data/ and starts reading them all on a
  // second thread, when there are enough of them.
  void read_early() {
    const std::span<const zip::Entry> entries = archive_.zip().entries();
    const std::string prefix = archive_.data_prefix();
    const auto small_storage = [&](const zip::Entry& entry) {
      return formats::StoragePool::footprint(entry.size) > 0 && entry.name.starts_with(prefix);
    };
    const auto records = static_cast<std::size_t>(std::ranges::count_if(entries, small_storage));
    if (records < kEarlyReadRecords) return;
    early_.resize(entries.size());
    early_requests_.reserve(records);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const zip::Entry& entry = entries[i];
      if (!small_storage(entry)) continue;
      early_[i] = pool_.allocate(entry.size, Device::cpu());
      early_requests_.push_back(
          {&entry, std::span<std::byte>(early_[i].mutable_data(), entry.size)});
    }
    // On both cores before the parse starts: populating beside the parse slows it more
    // than reading does.
    pool_.prefault();
    try {
      early_reader_ = std::jthread([this] {
        try {
          archive_.zip().read_all(early_requests_, verify_crc_,
                                  {.max_threads = 1, .share = &early_share_});
        } catch (...) {
          early_failed_ = true;  // fill() reads the named records again
        }
      });
    } catch (const std::system_error&) {
      early_failed_ = true;  // no thread to be had
    }
  }

  // Waits for the early read, if any; whether it read every record.
  bool finish_early_read() {
    if (early_reader_.joinable()) early_reader_.join();
    return !early_requests_.empty() && !early_failed_;
  }

  std::size_t entry_index(const zip::Entry& entry) const {
    return static_cast<std::size_t>(&entry - archive_.zip().entries().data());
  }

  // The CRC-32 of every mapped storage that is to be checked, records spread over the
  // cores; the first damaged one in pickle order is reported.
  void check_mapped(io::ProgressMeter& meter) const {
    std::uint64_t bytes = 0;
    for (const MappedCheck& check : mapped_checks_) bytes += check.entry->size;
    io::parallel_for(mapped_checks_.size(), io::threads_for(bytes), [&](std::size_t i) {
      const zip::Entry& entry = *mapped_checks_[i].entry;
      std::uint32_t crc = 0;
      for (std::uint64_t at = 0; at < entry.size; at += kCrcSlice) {
        const std::uint64_t length = std::min(kCrcSlice, entry.size - at);
        crc = zip::crc32(std::span(mapped_checks_[i].data + at, length), crc);
        meter.add(length);
      }
      if (crc != entry.crc32) {
        fail(ErrorCode::kCorrupt, archive_.describe(entry),
             ": CRC-32 mismatch, the record's bytes were damaged");
      }
    });
  }

  struct Loaded {
    Storage storage;
    DType dtype;
    std::int64_t numel;
  };
  struct Swap {
    std::span<std::byte> bytes;
    std::size_t unit;
  };

  Archive& archive_;
  const io::ByteSource& source_;
  const LoadOptions& options_;
  bool big_endian_;
  bool verify_crc_;
  std::vector<std::uint32_t> loaded_;  // per zip entry: its place in storages_ (kMaxZipEntries)
  std::vector<Loaded> storages_;
  formats::StoragePool pool_;
  StorageSlicer mapped_;  // of the source's bytes, for an mmap load
  std::vector<zip::ReadRequest> pending_;
  std::vector<MappedCheck> mapped_checks_;
  std::vector<Swap> swaps_;
  // The early read: per zip entry, its storage when it is read early and not yet named;
  // what is read; whether the read failed.
  std::vector<Storage> early_;
  std::vector<zip::ReadRequest> early_requests_;
  io::TaskShare early_share_;  // for fill() to take part in the early read
  bool early_failed_ = false;
  // Last, so that it is joined before what it reads into is destroyed.
  std::jthread early_reader_;
};

}  // namespace

Value read_zip(const io::ByteSource& source, const LoadOptions& options) {
  Archive archive(source);
  check_version(archive);
  const bool big_endian = is_big_endian(archive);
  Storage pickle_bytes = read_pickle(archive);

  StorageTable storages(archive, source, options, big_endian);
  pickle::UnpickleOptions unpickle_options{
      .salvage = options.salvage, .origin = archive.describe("data.pkl")};
  pickle::UnpickleResult result = pickle::unpickle(
      std::span(pickle_bytes.data(), pickle_bytes.nbytes()),
      [&](const pickle::StorageRef& ref) { return storages.load(ref); }, unpickle_options);
  if (result.bytes_read != pickle_bytes.nbytes()) {
    fail(ErrorCode::kCorrupt, archive.describe("data.pkl"), " has ",
         pickle_bytes.nbytes() - result.bytes_read, " bytes after its STOP opcode at byte ",
         result.bytes_read - 1);
  }
  // The value holds its own copies of the pickle's texts: its bytes are not needed while
  // the storages, the bulk of the memory, are filled.
  pickle_bytes = Storage();
  storages.fill();
  return std::move(result.value);
}

}  // namespace mnemo::pt
