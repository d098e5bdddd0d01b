// Saving and loading checkpoints: mnemo::save writes what torch.save writes (and
// torch.load reads); mnemo::load reads what torch.save wrote, without running any code
// from the file.
//
//   mnemo::save(net.state_dict(), "model.pt");
//   mnemo::StateDict sd = mnemo::load("model.pt", {.map_location = mnemo::Device::cpu()})
//                             .to_state_dict();
//   net.load_state_dict(sd);
//
//   mnemo::save(mnemo::Dict{{"epoch", 5}, {"model_state_dict", net.state_dict()}}, "ckpt.pt");
//
// Formats: load recognises the file by its first bytes, whatever its name — the .pt zip
// format of torch.save (PyTorch >= 1.6), the legacy pre-1.6 format, and safetensors. save
// picks the format by the file's extension: ".safetensors" writes safetensors, anything
// else the zip format of PyTorch 1.13, byte for byte as torch.save does for the same data.
//
// safetensors (huggingface/safetensors) holds named tensors and a string -> string
// "__metadata__" map, nothing else:
//  - load returns a plain dict, name -> tensor, in the order of the tensors' data in the
//    file; the metadata is read with inspect_safetensors. With mmap, each tensor views the
//    mapping (a tensor whose data is not aligned to its element size, possible in files
//    other writers pad differently, is copied instead); without it, each tensor's bytes
//    are read once, straight into its own storage.
//  - save writes the tensors of a dict, flattening nested dicts with dots
//    ({"model": {"fc.weight": w}} is "model.fc.weight"; int keys in decimal). Anything that
//    is not a tensor or a dict is refused, naming its path. Tensors are written as their
//    contiguous values, in the reference writer's order (dtype, then name), packed, after
//    a header padded with spaces so that the data starts at a multiple of 8: every
//    tensor is aligned to its element size. Sharing is not kept: tensors that share
//    storage (tied weights, views) are each written whole, and load back independent.
//    A state_dict's "_metadata" (module versions) is not written.
//
// Errors: kIo (the file cannot be read or written), kCorrupt (the bytes contradict the
// format; the message names the record and offset), kUnsupported (valid, but not
// something mnemo reads: a TorchScript archive, a pickled module, a sparse tensor...),
// kLimit (input beyond mnemo/limits.h), kInvalidArgument (a bad option).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mnemo/core/device.h"
#include "mnemo/core/state_dict.h"
#include "mnemo/core/storage.h"
#include "mnemo/core/value.h"

namespace mnemo {

// Where tensors go when loaded, as torch.load's map_location: every tensor is saved with
// its device's location tag ("cpu", "cuda:0"), and this decides the device it gets.
class MapLocation {
 public:
  using Function = std::function<std::optional<Device>(const std::string& saved_tag)>;

  // The saved device. This build computes on the CPU only, so a tensor saved on a GPU
  // is refused, with a message saying to pass map_location = cpu.
  MapLocation() = default;
  // Every tensor on `device`.
  MapLocation(Device device) : rule_(device) {}  // NOLINT: implicit, as in the API sketch
  // Saved tag -> tag ({"cuda:1": "cpu"}); tags not listed stay as saved.
  MapLocation(std::map<std::string, std::string> tags) : rule_(std::move(tags)) {}  // NOLINT
  // A device for a saved tag, or nullopt for the default rule.
  MapLocation(Function function) : rule_(std::move(function)) {}  // NOLINT
  // Keeps every saved tag, GPU ones included, without refusing anything: for tools that
  // inspect or convert files without computing on the tensors.
  static MapLocation keep_saved();

  // The device for a tensor saved with `saved_tag`. Throws kUnsupported for a GPU
  // device (unless keep_saved) and kInvalidArgument for a tag that is not a device.
  Device resolve(std::string_view saved_tag) const;

 private:
  struct KeepSaved {};
  std::variant<std::monostate, Device, std::map<std::string, std::string>, Function, KeepSaved>
      rule_;
};

// How far a long load, save or verify has got, for a progress bar: `done` of `total`
// bytes — of tensor data for a load, of the file being written for a save (for a .pt,
// total counts its records, without the zip's headers, which may bring done to total a
// little early), of records checked for verify. done only grows and never passes total;
// the last call has done == total. Calls never overlap, but may come from mnemo's worker
// threads, and come only as done grows by a visible step (about 1/500 of total): keep
// the function quick. Whatever it throws stops the work and comes out of the call that
// was given it — a save then leaves no file behind.
using ProgressFunction = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct LoadOptions {
  MapLocation map_location = {};
  // Tensors view a mapping of the file instead of owning copies: loading costs nothing
  // until the data is touched. Records that are compressed, or that must be byte-swapped,
  // are still copied. Needs a path.
  bool mmap = false;
  // With mmap: kCopyOnWrite lets tensors be written (privately); kReadOnly refuses writes.
  MapMode mmap_mode = MapMode::kCopyOnWrite;
  // Check each record's CRC-32 as it is read (PyTorch never does). Default: on for copy
  // loads, where it is fused with the copy; off for mmap loads, where it would read
  // every byte.
  std::optional<bool> verify_crc = std::nullopt;
  // Read a whole pickled nn.Module (torch.save(model)) as generic objects instead of
  // refusing it; still no code runs. See salvage_state_dict to recover its tensors.
  bool salvage = false;
  // Called as the tensors' bytes are read (see ProgressFunction). An mmap load reads
  // none and reports its mapped bytes done at once, unless it checks their CRCs
  // (verify_crc), which is counted as it goes.
  ProgressFunction progress = {};
};

struct SaveOptions {
  // fsync the file and its directory before save returns. Without it the file is still
  // written atomically (never seen half-written), but a power loss may lose it.
  bool fsync = true;
  // The safetensors "__metadata__" (e.g. {"format": "pt"}), written with its keys sorted.
  // Only safetensors holds it: saving a .pt file with metadata is refused.
  std::map<std::string, std::string> metadata = {};
  // Called as the file's bytes are written (see ProgressFunction).
  ProgressFunction progress = {};
};

enum class FileFormat {
  kPtZip,        // torch.save, PyTorch >= 1.6
  kPtLegacy,     // torch.save before 1.6, or _use_new_zipfile_serialization=False
  kSafetensors,  // huggingface/safetensors
};

// "pt-zip", "pt-legacy", "safetensors".
std::string_view file_format_name(FileFormat format);

// The format save writes for a path: kSafetensors for a ".safetensors" extension (in any
// letter case), kPtZip for any other.
FileFormat format_for_path(const std::filesystem::path& path);

// The format of a file from its first bytes. Throws kUnsupported listing the formats
// tried when none matches, kIo when it cannot be read.
FileFormat detect_format(const std::filesystem::path& path);

Value load(const std::filesystem::path& path, const LoadOptions& options = {});
// From bytes in memory; they are copied (tensors never point into `bytes`). options.mmap
// must be false.
Value load(std::span<const std::byte> bytes, const LoadOptions& options = {});

// Writes atomically: a temporary file in the same directory, flushed, then renamed over
// `path` — an existing file at `path` is either kept whole or replaced whole. Throws
// kUnsupported naming the path inside `value` of anything PyTorch 1.13 could not read
// back, before any file is touched.
void save(const Value& value, const std::filesystem::path& path, const SaveOptions& options = {});
// The same bytes in memory (archive folder "archive", as torch.save to a stream).
std::vector<std::byte> save_to_bytes(const Value& value);
// In memory in `format` (kPtZip or kSafetensors; mnemo writes no legacy files).
std::vector<std::byte> save_to_bytes(const Value& value, FileFormat format,
                                     const SaveOptions& options = {});

// --- safetensors headers -----------------------------------------------------------------

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  // The tensor's bytes, [begin, end) from the start of the data section.
  std::uint64_t data_begin = 0;
  std::uint64_t data_end = 0;
};

// What the header of a safetensors file says, every rule of the format checked.
struct SafetensorsInfo {
  std::vector<SafetensorsTensor> tensors;  // in the order of their data in the file
  // "__metadata__", or nullopt when the header has none (or null).
  std::optional<std::map<std::string, std::string>> metadata;
  std::uint64_t header_bytes = 0;  // N: the JSON header's length, padding included
  std::uint64_t data_offset = 0;   // 8 + N: where the data section starts in the file
};

// Reads and validates a safetensors file's header (every rule load applies, the file's
// size included) without reading tensor data. Throws what load would throw.
SafetensorsInfo inspect_safetensors(const std::filesystem::path& path);
SafetensorsInfo inspect_safetensors(std::span<const std::byte> bytes);

struct VerifyReport {
  FileFormat format = FileFormat::kPtZip;
  std::size_t records = 0;          // zip records whose CRC-32 was checked (0 otherwise)
  std::uint64_t record_bytes = 0;   // their uncompressed bytes
  std::size_t tensors = 0;          // tensors found, each checked against its storage
  std::uint64_t storage_bytes = 0;  // bytes of the distinct storages they view
};

struct VerifyOptions {
  // Called as records' CRCs are checked (see ProgressFunction); safetensors, which has
  // no checksums, reports its tensor data done once the structure is checked.
  ProgressFunction progress = {};
};

// Checks a file completely: its structure, the CRC-32 of every record (referenced or
// not; safetensors has no checksums), and the bounds of every tensor. Throws what load
// would throw (kCorrupt naming the damaged record); never computes on or moves a
// tensor, whatever its device.
VerifyReport verify(const std::filesystem::path& path, const VerifyOptions& options = {});

// The state_dict of a module that was pickled whole and loaded with salvage = true:
// its parameters and persistent buffers under their dotted names.
StateDict salvage_state_dict(const Value& salvaged_module);

}  // namespace mnemo
