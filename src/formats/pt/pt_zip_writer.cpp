#include "formats/pt/pt_zip_writer.h"

#include <algorithm>
#include <map>

#include "formats/pickle/pickler.h"
#include "formats/zip/zip_writer.h"

namespace mnemo::pt {
namespace {

// What torch.save writes in "version" (kMinProducedFileFormatVersion).
constexpr std::string_view kVersionRecord = "3\n";

}  // namespace

PreparedArchive::PreparedArchive(const Value& value) {
  // Storages are told apart by their bytes' address and length: tensors that share a
  // storage (views, tied weights) share both, so it is written once.
  struct Seen {
    std::size_t index;
    DType dtype;
  };
  std::map<std::pair<const std::byte*, std::size_t>, Seen> seen;
  pickle_ = pickle::pickle(value, [&](const Tensor& tensor) {
    const Storage& storage = tensor.storage();
    const std::size_t element = tensor.element_size();
    auto [it, inserted] = seen.try_emplace({storage.data(), storage.nbytes()},
                                           Seen{storages_.size(), tensor.dtype()});
    if (inserted) {
      if (storage.nbytes() % element != 0) {
        fail(ErrorCode::kUnsupported, "a ", dtype_name(tensor.dtype()), " tensor views a storage of ",
             storage.nbytes(), " bytes, which is not a whole number of ", element,
             "-byte elements; PyTorch could not load it (save a clone of the tensor)");
      }
      storages_.push_back({std::to_string(storages_.size()), storage});
    } else if (it->second.dtype != tensor.dtype()) {
      fail(ErrorCode::kUnsupported,
           "Cannot save multiple tensors or storages that view the same data as different "
           "types (", dtype_name(it->second.dtype), " and ", dtype_name(tensor.dtype()), ")");
    }
    const SavedStorage& saved = storages_[it->second.index];
    return pickle::StorageId{saved.key, storage.device().str(),
                             static_cast<std::int64_t>(storage.nbytes() / element)};
  });
  // Records go in the order of their keys as strings ("0", "1", "10", "100", ...): sort
  // positions, then move each storage once.
  std::vector<std::uint32_t> order(storages_.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return storages_[a].key < storages_[b].key; });
  std::vector<SavedStorage> sorted;
  sorted.reserve(storages_.size());
  for (const std::uint32_t i : order) sorted.push_back(std::move(storages_[i]));
  storages_ = std::move(sorted);
}

void PreparedArchive::write(io::ByteSink& sink, std::string_view archive_name) const {
  const std::string prefix = std::string(archive_name) + "/";
  // Every record in one call: few sink writes, CRCs computed while the data goes out.
  std::vector<std::string> names;
  names.reserve(storages_.size() + 2);
  std::vector<io::ConstBytes> data;
  data.reserve(storages_.size() + 2);
  names.push_back(prefix + "data.pkl");
  data.emplace_back(pickle_);
  for (const SavedStorage& saved : storages_) {
    names.push_back(prefix + "data/" + saved.key);
    data.emplace_back(saved.storage.data(), saved.storage.nbytes());
  }
  names.push_back(prefix + "version");
  data.push_back(std::as_bytes(std::span(kVersionRecord)));
  std::vector<zip::EntryToAdd> entries;
  entries.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    entries.push_back({names[i], std::span<const io::ConstBytes>(&data[i], 1)});
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
