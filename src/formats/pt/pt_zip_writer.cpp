#include "formats/pt/pt_zip_writer.h"

#include <optional>
#include <utility>

#include "formats/pickle/pickler.h"
#include "formats/zip/zip_writer.h"
#include "mnemo/core/ordered_map.h"

namespace mnemo::pt {
namespace {

// What torch.save writes in "version" (kMinProducedFileFormatVersion).
constexpr std::string_view kVersionRecord = "3\n";

// 0, 1, ..., n - 1 in the order of their decimal strings: "0", then each of "1" to "9"
// followed by the numbers it begins ("1", "10", "100", "1000", "1001", ..., "11", ...),
// a depth-first walk of the digits that needs no sorting.
std::vector<std::size_t> decimal_string_order(std::size_t n) {
  std::vector<std::size_t> order;
  order.reserve(n);
  if (n == 0) return order;
  order.push_back(0);
  // The walk: a number, then its extensions by one more digit, in digit order.
  std::vector<std::size_t> stack;
  for (std::size_t first = 9; first >= 1; --first) stack.push_back(first);
  while (!stack.empty()) {
    const std::size_t number = stack.back();
    stack.pop_back();
    if (number >= n) continue;
    order.push_back(number);
    if (number > (n - 1) / 10) continue;  // every extension is at least n
    for (std::size_t digit = 10; digit-- > 0;) stack.push_back(number * 10 + digit);
  }
  return order;
}

}  // namespace

PreparedArchive::PreparedArchive(const Value& value) {
  // Storages are told apart by their bytes' address and length: tensors that share a
  // storage (views, tied weights) share both, so it is written once.
  struct Seen {
    std::size_t index;
    DType dtype;
  };
  struct AddressHash {
    std::size_t operator()(const std::pair<const std::byte*, std::size_t>& at) const {
      return std::hash<const std::byte*>()(at.first) ^ (at.second * 0x9e3779b97f4a7c15ULL);
    }
  };
  mnemo::detail::OrderedMap<std::pair<const std::byte*, std::size_t>, Seen, AddressHash> seen;
  // The location of the last storage named: CPU storages all share one text.
  std::optional<Device> located;
  std::string location;
  pickle_ = pickle::pickle(value, [&](const Tensor& tensor) {
    const Storage& storage = tensor.storage();
    const std::size_t element = tensor.element_size();
    const std::pair<const std::byte*, std::size_t> address(storage.data(), storage.nbytes());
    const Seen* found = seen.find(address);
    if (!found) {
      if (storage.nbytes() % element != 0) {
        fail(ErrorCode::kUnsupported, "a ", dtype_name(tensor.dtype()), " tensor views a storage of ",
             storage.nbytes(), " bytes, which is not a whole number of ", element,
             "-byte elements; PyTorch could not load it (save a clone of the tensor)");
      }
      found = &seen.insert_or_assign(address, Seen{storages_.size(), tensor.dtype()});
      storages_.push_back({std::to_string(storages_.size()), storage});
    } else if (found->dtype != tensor.dtype()) {
      fail(ErrorCode::kUnsupported,
           "Cannot save multiple tensors or storages that view the same data as different "
           "types (",
           dtype_name(found->dtype), " and ", dtype_name(tensor.dtype()), ")");
    }
    if (located != storage.device()) {
      located = storage.device();
      location = located->str();
    }
    return pickle::StorageId{storages_[found->index].key, location,
                             static_cast<std::int64_t>(storage.nbytes() / element), found->index};
  });
  // Records go in the order of their keys as strings ("0", "1", "10", "100", ...).
  std::vector<SavedStorage> sorted;
  sorted.reserve(storages_.size());
  for (const std::size_t i : decimal_string_order(storages_.size())) {
    sorted.push_back(std::move(storages_[i]));
  }
  storages_ = std::move(sorted);
}

void PreparedArchive::write(io::ByteSink& sink, std::string_view archive_name) const {
  // Every record in one call: few sink writes, CRCs computed while the data goes out.
  // The names lie end to end in one string, each a prefix and a suffix.
  const std::size_t records = storages_.size() + 2;
  std::string names;
  std::vector<std::size_t> name_end;
  name_end.reserve(records);
  std::vector<io::ConstBytes> data;
  data.reserve(records);
  const auto add = [&](std::string_view middle, std::string_view key, io::ConstBytes bytes) {
    names.append(archive_name).append("/").append(middle).append(key);
    name_end.push_back(names.size());
    data.push_back(bytes);
  };
  add("data.pkl", "", pickle_);
  for (const SavedStorage& saved : storages_) {
    add("data/", saved.key, {saved.storage.data(), saved.storage.nbytes()});
  }
  add("version", "", std::as_bytes(std::span(kVersionRecord)));
  std::vector<zip::EntryToAdd> entries;
  entries.reserve(records);
  for (std::size_t i = 0, begin = 0; i < records; begin = name_end[i++]) {
    entries.push_back({std::string_view(names).substr(begin, name_end[i] - begin),
                       std::span<const io::ConstBytes>(&data[i], 1)});
  }
  zip::ZipWriter zip(sink);
  zip.add_all(entries);
  zip.finish();
}

std::uint64_t PreparedArchive::record_bytes() const {
  std::uint64_t total = pickle_.size() + kVersionRecord.size();
  for (const SavedStorage& saved : storages_) total += saved.storage.nbytes();
  return total;
}

std::string archive_name_for(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  const std::size_t dot = name.rfind('.');
  if (dot != std::string::npos) name.resize(dot);
  if (name.empty()) {
    fail(ErrorCode::kInvalidArgument, "invalid file name '", path.string(),
         "': the archive folder is the file name without its extension, and that is empty");
  }
  return name;
}

}  // namespace mnemo::pt
