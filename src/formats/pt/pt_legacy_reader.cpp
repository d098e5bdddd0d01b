#include "formats/pt/pt_legacy_reader.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "formats/pickle/unpickler.h"
#include "formats/pt/byteswap.h"
#include "formats/storage_pool.h"
#include "io/parallel_copy.h"
#include "io/progress_meter.h"

namespace mnemo::pt {
namespace {

// LONG1 of 10 bytes holding PyTorch's MAGIC_NUMBER 0x1950a86a20f9469cfc6c.
constexpr unsigned char kMagicLong[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                        0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr std::int64_t kProtocolVersion = 1001;
// How much of a header value a message shows: the rest may be far larger than the file.
constexpr std::size_t kReprChars = 200;

// Where each storage's bytes lie in the file, from the table after the pickles.
struct StorageExtent {
  std::uint64_t offset = 0;  // first data byte
  std::int64_t numel = 0;
};

class LegacyReader {
 public:
  LegacyReader(const io::ByteSource& source, const LoadOptions& options)
      : source_(source), options_(options), bytes_(source.storage()) {
    MNEMO_CHECK(bytes_.defined(), "the legacy reader needs the file in memory or mapped");
  }

  Value read() {
    check_header();
    // The object's pickle comes before the table of storages it refers to: read it once
    // to find where it ends, with placeholder storages that are never touched, then
    // again with the real ones.
    const std::uint64_t object_start = position_;
    const std::size_t object_length = unpickle_next([this](const pickle::StorageRef& ref) {
      return placeholder(ref);
    }).bytes_read;
    position_ = object_start + object_length;
    read_storage_table();

    std::uint64_t total = 0, small_bytes = 0;
    for (const auto& [key, extent] : extents_) {
      const std::uint64_t nbytes =
          static_cast<std::uint64_t>(extent.numel) * element_size(refs_.at(key).dtype);
      total += nbytes;
      small_bytes += formats::StoragePool::footprint(nbytes);
    }
    meter_.emplace(options_.progress, total);
    pool_.emplace(small_bytes);
    position_ = object_start;
    pickle::UnpickleResult object = unpickle_next(
        [&](const pickle::StorageRef& ref) { return load_storage(ref); });
    meter_->finish();
    return std::move(object.value);
  }

 private:
  std::span<const std::byte> remaining() const {
    return std::span(bytes_.data() + position_, bytes_.nbytes() - position_);
  }

  pickle::UnpickleResult unpickle_next(const pickle::StorageLoader& loader) {
    pickle::UnpickleResult result = pickle::unpickle(
        remaining(), loader,
        {.salvage = options_.salvage,
         .origin = source_.describe() + ": legacy pickle at byte " + std::to_string(position_)});
    position_ += result.bytes_read;
    return result;
  }

  Value unpickle_plain() {
    return unpickle_next([this](const pickle::StorageRef& ref) -> Storage {
      fail(ErrorCode::kCorrupt, source_.describe(), ": a storage reference (key '", ref.key,
           "') in the header pickles of a legacy checkpoint");
    }).value;
  }

  void check_header() {
    const Value magic = unpickle_plain();
    if (!magic.is_big_int() || magic.as_big_int().le_bytes() !=
                                   std::vector<std::uint8_t>(kMagicLong + 2, std::end(kMagicLong))) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": Invalid magic number; corrupt file?");
    }
    const Value protocol = unpickle_plain();
    if (!protocol.is_int() || protocol.as_int() != kProtocolVersion) {
      fail(ErrorCode::kUnsupported, source_.describe(),
           ": Invalid protocol version: ", protocol.repr(kReprChars), " (expected ",
           kProtocolVersion, ")");
    }
    const Value sys_info = unpickle_plain();
    const Value* little = sys_info.is_dict() ? sys_info.as_dict().find(std::string("little_endian"))
                                             : nullptr;
    if (!little || !little->is_bool()) {
      fail(ErrorCode::kCorrupt, source_.describe(),
           ": the legacy header's sys_info has no 'little_endian' flag: ",
           sys_info.repr(kReprChars));
    }
    big_endian_ = !little->as_bool();
  }

  void read_storage_table() {
    const Value keys = unpickle_plain();
    if (!keys.is_list()) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": the legacy storage key list is a ",
           value_type_name(keys.type()), ", expected a list");
    }
    for (const Value& key : keys.as_list()) {
      if (!key.is_string()) {
        fail(ErrorCode::kCorrupt, source_.describe(), ": a legacy storage key is a ",
             value_type_name(key.type()), ", expected a str");
      }
      std::byte count_bytes[8];
      read(count_bytes, "the element count of storage '" + key.as_string() + "'");
      if (big_endian_) std::reverse(std::begin(count_bytes), std::end(count_bytes));
      std::uint64_t count = 0;
      for (int i = 7; i >= 0; --i) count = (count << 8) | static_cast<std::uint64_t>(count_bytes[i]);
      const auto numel = static_cast<std::int64_t>(count);
      const auto ref = refs_.find(key.as_string());
      if (ref == refs_.end()) {
        fail(ErrorCode::kCorrupt, source_.describe(), ": storage '", key.as_string(),
             "' is in the table but no tensor refers to it");
      }
      std::uint64_t nbytes = 0;
      if (numel != ref->second.numel ||
          __builtin_mul_overflow(static_cast<std::uint64_t>(numel), element_size(ref->second.dtype),
                                 &nbytes) ||
          !source_.contains(position_, nbytes)) {
        fail(ErrorCode::kCorrupt, source_.describe(), ": storage '", key.as_string(), "' at byte ",
             position_, " has ", numel, " elements where the pickle says ", ref->second.numel,
             ", or does not fit in the file");
      }
      extents_[key.as_string()] = {position_, numel};
      position_ += nbytes;
    }
    if (extents_.size() != refs_.size()) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": ", refs_.size() - extents_.size(),
           " storages referred to by tensors are missing from the storage table");
    }
  }

  void read(std::span<std::byte> out, const std::string& what) {
    if (!source_.contains(position_, out.size())) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": the file ends before ", what, " (byte ",
           position_, ")");
    }
    source_.read_at(position_, out);
    position_ += out.size();
  }

  // A storage of the right size whose bytes are never read: the first pass only builds
  // tensors to find where the pickle ends. Its address is never dereferenced.
  Storage placeholder(const pickle::StorageRef& ref) {
    auto [it, inserted] = refs_.emplace(ref.key, Claim{ref.dtype, ref.numel});
    if (!inserted && (it->second.dtype != ref.dtype || it->second.numel != ref.numel)) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": storage '", ref.key,
           "' is referred to with two different types or sizes");
    }
    std::uint64_t nbytes = 0;
    if (ref.numel < 0 || __builtin_mul_overflow(static_cast<std::uint64_t>(ref.numel),
                                                element_size(ref.dtype), &nbytes) ||
        nbytes > source_.size()) {
      fail(ErrorCode::kCorrupt, source_.describe(), ": storage '", ref.key, "' claims ", ref.numel,
           " elements, more than the file could hold");
    }
    static std::byte anchor;
    return Storage::from_foreign(&anchor, nbytes, {}, Device::cpu(), /*writable=*/false);
  }

  Storage load_storage(const pickle::StorageRef& ref) {
    const std::string key(ref.key);
    auto found = loaded_.find(key);
    if (found != loaded_.end()) return found->second;
    const StorageExtent& extent = extents_.at(key);
    const std::uint64_t nbytes = static_cast<std::uint64_t>(extent.numel) * element_size(ref.dtype);
    Storage storage = pool_->allocate(nbytes, options_.map_location.resolve(ref.location));
    std::span<std::byte> out(storage.mutable_data(), nbytes);
    io::prefault_for_write(out);
    source_.read_at(extent.offset, out);
    if (big_endian_) byteswap_in_place(out, byteswap_unit(ref.dtype));
    loaded_.emplace(key, storage);
    meter_->add(nbytes);
    return storage;
  }

  const io::ByteSource& source_;
  const LoadOptions& options_;
  Storage bytes_;
  std::uint64_t position_ = 0;
  bool big_endian_ = false;
  // What the first pass found each storage to be: its type and size.
  struct Claim {
    DType dtype;
    std::int64_t numel;
  };
  std::unordered_map<std::string, Claim> refs_;
  std::unordered_map<std::string, StorageExtent> extents_;
  std::unordered_map<std::string, Storage> loaded_;
  std::optional<io::ProgressMeter> meter_;    // once the storage table is read
  std::optional<formats::StoragePool> pool_;  // likewise
};

}  // namespace

bool looks_like_legacy(std::span<const std::byte> head) {
  if (head.empty() || head[0] != std::byte{0x80}) return false;
  const auto* begin = reinterpret_cast<const unsigned char*>(head.data());
  const auto* end = begin + std::min<std::size_t>(head.size(), 32);
  return std::search(begin, end, std::begin(kMagicLong), std::end(kMagicLong)) != end;
}

Value read_legacy(const io::ByteSource& source, const LoadOptions& options) {
  return LegacyReader(source, options).read();
}

}  // namespace mnemo::pt
