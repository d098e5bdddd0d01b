// mnemo convert: re-writes a checkpoint in the format its output name asks for. To .pt it
// keeps structure, dtypes, shared storages, views and device tags; to .safetensors it
// writes the tensors under dotted names (nested dicts flattened), with the metadata of a
// safetensors input and any --metadata given.
#include <algorithm>
#include <charconv>
#include <iostream>

#include "commands.h"
#include "mnemo/serialize.h"

namespace mnemo::cli {
namespace {

constexpr std::string_view kPtExtensions[] = {".pt", ".pth", ".bin", ".ckpt"};

std::optional<FileFormat> output_format(const std::string& output) {
  const std::string extension = std::filesystem::path(output).extension().string();
  if (std::find(std::begin(kPtExtensions), std::end(kPtExtensions), extension) !=
      std::end(kPtExtensions)) {
    return FileFormat::kPtZip;
  }
  if (format_for_path(output) == FileFormat::kSafetensors) return FileFormat::kSafetensors;
  return std::nullopt;
}

// The value under `selection` ("a/b": key "a", then key "b"; a key that is not in a dict
// but is a decimal number matches an int key). nullptr, with `error` set, when absent.
const Value* select(const Value& root, const std::string& selection, std::string& error) {
  const Value* current = &root;
  std::string path;
  std::size_t start = 0;
  while (start <= selection.size()) {
    const std::size_t slash = std::min(selection.find('/', start), selection.size());
    const std::string key = selection.substr(start, slash - start);
    start = slash + 1;
    if (!current->is_dict()) {
      error = (path.empty() ? std::string("the top level") : path) + " is not a dict";
      return nullptr;
    }
    const Dict& dict = current->as_dict();
    const Value* next = dict.find(key);
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), number);
    if (!next && ec == std::errc() && end == key.data() + key.size()) next = dict.find(number);
    if (!next) {
      error = "no key '" + key + "' in " + (path.empty() ? std::string("the top level") : path);
      return nullptr;
    }
    path += "['" + key + "']";
    current = next;
  }
  return current;
}

}  // namespace

int run_convert(const ConvertArgs& args) {
  const std::optional<FileFormat> format = output_format(args.output);
  if (!format) {
    std::cerr << "mnemo convert: cannot tell the output format from '" << args.output
              << "': use a .pt, .pth, .bin or .ckpt name (PyTorch zip format) or a "
                 ".safetensors name\n";
    return kExitUsage;
  }
  SaveOptions options{.fsync = !args.no_fsync};
  for (const std::string& entry : args.metadata) {
    const std::size_t equals = entry.find('=');
    if (*format != FileFormat::kSafetensors || equals == std::string::npos) {
      std::cerr << "mnemo convert: --metadata takes KEY=VALUE and needs a .safetensors output\n";
      return kExitUsage;
    }
  }
  const FileFormat input_format = detect_format(args.input);
  const Value content = load(args.input, {.map_location = MapLocation::keep_saved(),
                                          .mmap = true,
                                          .mmap_mode = MapMode::kReadOnly,
                                          .verify_crc = true});
  std::size_t dropped_metadata = 0;
  if (input_format == FileFormat::kSafetensors) {
    auto metadata =
        inspect_safetensors(args.input).metadata.value_or(std::map<std::string, std::string>{});
    if (*format == FileFormat::kSafetensors) {
      options.metadata = std::move(metadata);
    } else {
      dropped_metadata = metadata.size();
    }
  }
  for (const std::string& entry : args.metadata) {
    const std::size_t equals = entry.find('=');
    options.metadata[entry.substr(0, equals)] = entry.substr(equals + 1);
  }

  const Value* selected = &content;
  if (!args.select.empty()) {
    std::string error;
    selected = select(content, args.select, error);
    if (!selected) {
      std::cerr << "mnemo convert: --select " << args.select << ": " << error << "\n";
      return kExitUsage;
    }
  }
  try {
    save(*selected, args.output, options);
  } catch (const Error& e) {
    if (*format == FileFormat::kSafetensors && e.code() == ErrorCode::kUnsupported &&
        args.select.empty()) {
      throw Error(e.code(), std::string(e.what()) +
                                "; mnemo convert picks a sub-tree with --select KEY (nested "
                                "keys separated by '/')");
    }
    throw;
  }
  std::cout << args.input << " -> " << args.output << " (" << file_format_name(*format) << ")\n";
  if (dropped_metadata > 0) {
    std::cout << "note: the input's safetensors metadata (" << dropped_metadata
              << (dropped_metadata == 1 ? " entry" : " entries") << ") has no place in "
              << file_format_name(*format) << " and was not kept\n";
  }
  return kExitOk;
}

}  // namespace mnemo::cli
