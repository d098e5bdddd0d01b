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
  std::sort(storages_.begin(), storages_.end(),
            [](const SavedStorage& a, const SavedStorage& b) { return a.key < b.key; });
}

void PreparedArchive::write(io::ByteSink& sink, std::string_view archive_name) const {
  const std::string prefix = std::string(archive_name) + "/";
  zip::ZipWriter zip(sink);
  zip.add(prefix + "data.pkl", pickle_);
  for (const SavedStorage& saved : storages_) {
    zip.add(prefix + "data/" + saved.key,
            io::ConstBytes(saved.storage.data(), saved.storage.nbytes()));
  }
  zip.add(prefix + "version", std::as_bytes(std::span(kVersionRecord)));
  zip.finish();
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
