#include "entry_points.h"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/pickle/module_salvage.h"
#include "formats/pickle/unpickler.h"
#include "formats/pt/pt_legacy_reader.h"
#include "formats/pt/pt_zip_reader.h"
#include "formats/safetensors/safetensors_header.h"
#include "formats/safetensors/safetensors_reader.h"
#include "formats/zip/zip_reader.h"
#include "mnemo/core/error.h"
#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"

namespace mnemo::fuzz {
namespace {

// What a harness gives a storage or reads back at most: enough for every seed, small
// enough that a fuzzer never runs out of memory on what the input asks for legitimately.
constexpr std::uint64_t kMaxHarnessBytes = std::uint64_t{1} << 22;
// Tensors with more elements than this are not read back (a stride-0 view of one
// element may legitimately claim billions of them).
constexpr std::int64_t kMaxTouchedElements = std::int64_t{1} << 18;

template <class Fn>
void refusing_errors(Fn&& fn) {
  try {
    fn();
  } catch (const Error&) {
    // A clean refusal: what every damaged input must end in.
  }
}

// Reads every element of every tensor, so that a tensor viewing memory outside its
// storage shows up as a sanitizer report.
void touch_tensors(const Value& value) {
  for_each_tensor(value, [](const std::string&, const Tensor& tensor) {
    if (!tensor.device().is_cpu() || tensor.numel() > kMaxTouchedElements) return;
    const Tensor copy = tensor.clone();
    const auto* bytes = static_cast<const unsigned char*>(copy.data_ptr());
    unsigned sum = 0;
    for (std::size_t i = 0; i < copy.nbytes(); ++i) sum += bytes[i];
    // Keeps the loop from being optimized away.
    volatile unsigned sink = sum;
    (void)sink;
  });
}

// The bytes as a file is read: not in memory, so that the zip reader defers each local
// header to the bulk read, the path of every load from a file.
class UnmappedSource : public io::ByteSource {
 public:
  explicit UnmappedSource(std::span<const std::byte> data)
      : memory_(io::MemorySource::view(data)) {}
  std::uint64_t size() const override { return memory_.size(); }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    memory_.read_at(offset, out);
  }
  std::string describe() const override { return "fuzz"; }

 private:
  io::MemorySource memory_;
};

LoadOptions keep_saved_devices(bool mmap) {
  LoadOptions options;
  options.map_location = MapLocation::keep_saved();
  options.mmap = mmap;
  return options;
}

}  // namespace

void zip_reader(std::span<const std::byte> data) {
  const io::MemorySource source = io::MemorySource::view(data);
  refusing_errors([&] {
    const zip::ZipReader reader(source);
    const zip::ZipReader copy(reader);  // rebuilds the index
    std::vector<std::byte> buffer;
    for (const zip::Entry& entry : copy.entries()) {
      if (copy.find(entry.name) != &entry) {
        fail(ErrorCode::kCorrupt, "fuzz: find() does not return the entry it indexes");
      }
      if (entry.size > kMaxHarnessBytes) continue;
      buffer.resize(static_cast<std::size_t>(entry.size));
      refusing_errors([&] { copy.read(entry, buffer, /*verify_crc=*/true); });
      refusing_errors([&] { copy.read(entry, buffer, /*verify_crc=*/false); });
    }
  });
}

// What an unpickle gives, to compare two of them: the value's repr and, for each tensor,
// its dtype, geometry, flag and storage; or the error's message.
std::string outcome(std::span<const std::byte> data, const pickle::StorageLoader& loader,
                    bool fast_tensors) {
  try {
    const pickle::UnpickleResult result =
        pickle::unpickle(data, loader, {.origin = "fuzz", .fast_tensors = fast_tensors});
    std::string text = result.value.repr() + " read " + std::to_string(result.bytes_read);
    for_each_tensor(result.value, [&](const std::string& path, const Tensor& tensor) {
      text += "\n" + path + ": " + std::string(dtype_name(tensor.dtype())) + " sizes";
      for (const std::int64_t n : tensor.sizes()) text += " " + std::to_string(n);
      text += " strides";
      for (const std::int64_t n : tensor.strides()) text += " " + std::to_string(n);
      text += " offset " + std::to_string(tensor.storage_offset()) +
              (tensor.requires_grad() ? " grad" : "") + " storage " +
              std::to_string(reinterpret_cast<std::uintptr_t>(tensor.storage().data()));
    });
    return text;
  } catch (const Error& e) {
    return std::string("error: ") + e.what();
  }
}

// Gives each storage key zeroed bytes of its size, once (kept in `storages`).
pickle::StorageLoader zeroed_storages(std::unordered_map<std::string, Storage>& storages) {
  return [&storages](const pickle::StorageRef& ref) -> Storage {
    const std::uint64_t unit = ref.untyped ? 1 : element_size(ref.dtype);
    const auto numel = static_cast<std::uint64_t>(ref.numel);  // >= 0, checked by the caller
    if (numel > kMaxHarnessBytes / unit) {
      fail(ErrorCode::kLimit, "fuzz: storage '", ref.key, "' asks for ", ref.numel,
           " elements, more than the harness gives");
    }
    auto [it, inserted] = storages.try_emplace(std::string(ref.key));
    if (inserted) it->second = Storage::allocate_zeroed(numel * unit, Device::cpu());
    return it->second;
  };
}

void unpickler(std::span<const std::byte> data) {
  // The fast path for torch.save's tensors reads what the general path reads: the same
  // value, or the same refusal.
  {
    std::unordered_map<std::string, Storage> storages;
    const pickle::StorageLoader loader = zeroed_storages(storages);
    if (outcome(data, loader, true) != outcome(data, loader, false)) {
      throw std::logic_error("fuzz: the unpickler's fast path and its general path disagree");
    }
  }
  for (const bool salvage : {false, true}) {
    std::unordered_map<std::string, Storage> storages;
    const pickle::StorageLoader loader = zeroed_storages(storages);
    refusing_errors([&] {
      const pickle::UnpickleResult result =
          pickle::unpickle(data, loader, {.salvage = salvage, .origin = "fuzz"});
      if (result.bytes_read > data.size()) {
        fail(ErrorCode::kCorrupt, "fuzz: the unpickler read past its input");
      }
      touch_tensors(result.value);
      if (salvage) refusing_errors([&] { (void)pickle::salvage_state_dict(result.value); });
    });
  }
}

void pt_load(std::span<const std::byte> data) {
  refusing_errors([&] { touch_tensors(load(data, keep_saved_devices(false))); });
  refusing_errors([&] { touch_tensors(load(data)); });
  // As from a file: local headers checked by the bulk read.
  const UnmappedSource file(data);
  refusing_errors([&] { touch_tensors(pt::read_zip(file, keep_saved_devices(false))); });
  // As an mmap load: stored records become views of the bytes.
  const io::MemorySource source = io::MemorySource::view(data);
  refusing_errors([&] {
    LoadOptions options = keep_saved_devices(true);
    options.verify_crc = true;
    touch_tensors(pt::read_zip(source, options));
  });
}

void pt_legacy(std::span<const std::byte> data) {
  const io::MemorySource source = io::MemorySource::view(data);
  refusing_errors([&] { touch_tensors(pt::read_legacy(source, keep_saved_devices(false))); });
  refusing_errors([&] {
    LoadOptions options = keep_saved_devices(false);
    options.salvage = true;
    touch_tensors(pt::read_legacy(source, options));
  });
}

void safetensors(std::span<const std::byte> data) {
  const io::MemorySource source = io::MemorySource::view(data);
  refusing_errors([&] { (void)safetensors::read_info(source); });
  for (const bool mmap : {false, true}) {
    refusing_errors([&] { touch_tensors(safetensors::read(source, keep_saved_devices(mmap))); });
  }
}

std::span<const Target> targets() {
  static constexpr std::array<Target, 5> kTargets = {{
      {"zip_reader", &zip_reader},
      {"unpickler", &unpickler},
      {"pt_load", &pt_load},
      {"pt_legacy", &pt_legacy},
      {"safetensors", &safetensors},
  }};
  return kTargets;
}

}  // namespace mnemo::fuzz
