// Writing the zip format of torch.save exactly as PyTorch 1.13 does: records
// data.pkl, data/<key> for each storage (keys in order of first use, records sorted
// as strings), then version "3\n" (reference §1.1).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/value.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo::pt {

// A value made ready to write: its pickle and the storages its tensors view. Preparing
// checks everything that could refuse the value, so that a refused save touches no file.
class PreparedArchive {
 public:
  explicit PreparedArchive(const Value& value);

  // Writes the records into `sink` under the folder `archive_name`.
  void write(io::ByteSink& sink, std::string_view archive_name) const;
  // The bytes of the records write() puts in the sink; the zip's headers add a little.
  std::uint64_t record_bytes() const;

 private:
  struct SavedStorage {
    std::string key;
    Storage storage;
  };

  std::vector<std::byte> pickle_;
  std::vector<SavedStorage> storages_;  // sorted by key as strings
};

// PyTorch's archive folder for a path: the file name without its last extension
// ("model.ckpt.pt" -> "model.ckpt"). Throws kInvalidArgument when that is empty.
std::string archive_name_for(const std::filesystem::path& path);

}  // namespace mnemo::pt
