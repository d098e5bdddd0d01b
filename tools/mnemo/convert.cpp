// mnemo convert: re-writes a checkpoint in the format its output name asks for, optionally
// reshaped on the way: a sub-tree only (--only, --strip-training-state), keys renamed
// (--rename-prefix), floating tensors cast (--dtype). To .pt it keeps structure, dtypes,
// shared storages, views and device tags; to .safetensors it writes the tensors under
// dotted names (nested dicts flattened), with the metadata of a safetensors input and any
// --metadata given.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "commands.h"
#include "keys.h"
#include "mnemo/serialize.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

constexpr std::string_view kPtExtensions[] = {".pt", ".pth", ".bin", ".ckpt"};

// Where a training checkpoint keeps its model's weights, in the order tried: the name the
// PyTorch tutorials use, then those of common training libraries.
constexpr const char* kModelKeys[] = {"model_state_dict", "state_dict", "model"};

// Elements converted per step of --dtype, so that the bar moves within a large tensor.
constexpr std::size_t kConvertChunkElements = std::size_t{1} << 22;

std::optional<FileFormat> output_format(const std::string& output) {
  const std::string extension = std::filesystem::path(output).extension().string();
  if (std::find(std::begin(kPtExtensions), std::end(kPtExtensions), extension) !=
      std::end(kPtExtensions)) {
    return FileFormat::kPtZip;
  }
  if (format_for_path(output) == FileFormat::kSafetensors) return FileFormat::kSafetensors;
  return std::nullopt;
}

int usage_error(const std::string& message) {
  std::cerr << "mnemo convert: " << message << "\n";
  return kExitUsage;
}

std::optional<DType> parse_target_dtype(const std::string& name) {
  if (name == "bf16") return DType::kBFloat16;
  if (name == "f16" || name == "fp16") return DType::kFloat16;
  if (name == "f32" || name == "fp32") return DType::kFloat32;
  const std::optional<DType> dtype = dtype_from_name(name);
  if (dtype == DType::kBFloat16 || dtype == DType::kFloat16 || dtype == DType::kFloat32)
    return dtype;
  return std::nullopt;
}

std::string top_level_keys(const Value& value) {
  if (!value.is_dict()) return "it is " + kind_name(value) + ", not a dict";
  std::string text = "its top-level keys: ";
  std::size_t shown = 0;
  for (const auto& [key, item] : value.as_dict()) {
    if (shown == 10) {
      text += ", ...";
      break;
    }
    text += (shown++ ? ", " : "") + key_text(key);
  }
  return shown == 0 ? "it is an empty dict" : text;
}

bool holds_only_tensors(const Dict& dict) {
  return std::all_of(dict.begin(), dict.end(),
                     [](const auto& item) { return item.second.is_tensor(); });
}

// --- --rename-prefix ---------------------------------------------------------------------

struct Rename {
  std::string from;
  std::string to;
};

struct RenameResult {
  std::uint64_t renamed = 0;
  std::string collision;  // the message, when two keys would share a name
};

// The new name of `key` by the first rule whose prefix it has, or nullopt.
std::optional<std::string> renamed(const std::string& key, const std::vector<Rename>& rules) {
  for (const Rename& rule : rules) {
    if (key.starts_with(rule.from)) return rule.to + key.substr(rule.from.size());
  }
  return std::nullopt;
}

// A state_dict's "_metadata" is keyed by module prefix without the trailing dot ("" for
// the root, "module.fc"); it follows its tensors, as in PyTorch's
// consume_prefix_in_state_dict_if_present: a renamed entry replaces one already there.
Dict rename_module_metadata(const Dict& metadata, const std::vector<Rename>& rules) {
  Dict out = metadata;
  for (const auto& [key, entry] : metadata) {
    if (!std::holds_alternative<std::string>(key)) continue;
    const std::string& module = std::get<std::string>(key);
    const std::optional<std::string> prefix = renamed(module.empty() ? "" : module + ".", rules);
    if (!prefix) continue;
    std::string new_module = *prefix;
    if (new_module.ends_with('.')) new_module.pop_back();
    if (new_module == module) continue;
    out.erase(key);
    out.insert_or_assign(new_module, entry);
  }
  return out;
}

// Renames the keys of every dict that holds tensors itself: a state_dict, wherever it is
// (the whole file, or a training checkpoint's model_state_dict). Dicts of other things
// (the top of a checkpoint, param_groups) keep their keys.
void rename_keys(Value& value, const std::vector<Rename>& rules, const std::string& path,
                 RenameResult& result) {
  if (!result.collision.empty()) return;
  if (value.is_list() || value.is_tuple()) {
    auto& items = value.is_list() ? static_cast<std::vector<Value>&>(value.as_list())
                                  : static_cast<std::vector<Value>&>(value.as_tuple());
    for (std::size_t i = 0; i < items.size(); ++i) {
      rename_keys(items[i], rules, path + "[" + std::to_string(i) + "]", result);
    }
    return;
  }
  if (!value.is_dict()) return;
  Dict& dict = value.as_dict();
  const bool holds_tensors = std::any_of(dict.begin(), dict.end(),
                                         [](const auto& item) { return item.second.is_tensor(); });
  if (!holds_tensors) {
    for (auto& [key, item] : dict) {
      rename_keys(item, rules, path + "[" + key_repr(key) + "]", result);
    }
    return;
  }
  Dict out;
  out.set_ordered_dict(dict.is_ordered_dict());
  std::unordered_map<std::string, std::string> source_of;  // new key -> old key
  std::uint64_t count = 0;
  for (auto& [key, item] : dict) {
    DictKey new_key = key;
    if (std::holds_alternative<std::string>(key)) {
      const std::string& old_name = std::get<std::string>(key);
      if (auto name = renamed(old_name, rules)) {
        new_key = *name;
        if (*name != old_name) ++count;
      }
      const std::string& new_name = std::get<std::string>(new_key);
      const auto [it, inserted] = source_of.emplace(new_name, old_name);
      if (!inserted) {
        result.collision = "'" + it->second + "' and '" + old_name + "' would both be named '" +
                           new_name + "'" + (path.empty() ? "" : " in " + path);
        return;
      }
    }
    rename_keys(item, rules, path + "[" + key_repr(key) + "]", result);
    out.insert_or_assign(std::move(new_key), std::move(item));
  }
  if (const Dict* attributes = dict.attributes()) {
    Dict new_attributes = *attributes;
    if (const Value* metadata = attributes->find(std::string("_metadata"));
        metadata && metadata->is_dict()) {
      new_attributes.insert_or_assign(std::string("_metadata"),
                                      rename_module_metadata(metadata->as_dict(), rules));
    }
    out.set_attributes(std::move(new_attributes));
  }
  result.renamed += count;
  dict = std::move(out);
}

// --- --dtype ----------------------------------------------------------------------------

struct CastResult {
  std::uint64_t cast = 0;       // floating tensors now of the target dtype
  std::uint64_t unchanged = 0;  // tensors that are not floating point
};

// Casts storage by storage, so that tensors sharing one (tied weights, views) still share
// the cast copy, with their offsets and strides.
class Caster {
 public:
  Caster(DType target, Progress& progress) : target_(target), progress_(progress) {}

  static bool wants(const Tensor& t, DType target) {
    return is_floating_point(t.dtype()) && t.dtype() != target;
  }

  // The bytes of the storages wants() selects, for the bar.
  static std::uint64_t work(const Value& value, DType target) {
    std::uint64_t bytes = 0;
    std::set<std::pair<const std::byte*, std::size_t>> seen;
    for_each_tensor(value, [&](const std::string&, const Tensor& t) {
      if (wants(t, target) && seen.insert({t.storage().data(), t.storage().nbytes()}).second) {
        bytes += t.storage().nbytes();
      }
    });
    return bytes;
  }

  void cast(Value& value, CastResult& result) {
    if (value.is_tensor()) {
      const Tensor& t = value.as_tensor();
      if (!wants(t, target_)) {
        if (!is_floating_point(t.dtype())) ++result.unchanged;
        if (t.dtype() == target_) ++result.cast;
        return;
      }
      value = Tensor(cast_storage(t), target_, t.sizes(), t.strides(), t.storage_offset());
      ++result.cast;
      return;
    }
    if (value.is_dict()) {
      for (auto& [key, item] : value.as_dict()) cast(item, result);
    } else if (value.is_list() || value.is_tuple()) {
      auto& items = value.is_list() ? static_cast<std::vector<Value>&>(value.as_list())
                                    : static_cast<std::vector<Value>&>(value.as_tuple());
      for (Value& item : items) cast(item, result);
    }
  }

 private:
  Storage cast_storage(const Tensor& t) {
    const Storage& source = t.storage();
    // Empty storages share no data; each keeps its own, as in the input.
    if (source.nbytes() == 0) return Storage::allocate(0, source.device());
    const auto key = std::make_tuple(source.data(), source.nbytes(), t.dtype());
    if (const auto it = done_.find(key); it != done_.end()) return it->second;
    // A storage's bytes beyond its last whole element (possible in other writers' files)
    // have no value to cast; they are dropped.
    const std::size_t count = source.nbytes() / t.element_size();
    Storage cast = Storage::allocate(count * element_size(target_), source.device());
    for (std::size_t start = 0; start < count; start += kConvertChunkElements) {
      const std::size_t n = std::min(kConvertChunkElements, count - start);
      convert_elements(source.data() + start * t.element_size(), t.dtype(),
                       cast.mutable_data() + start * element_size(target_), target_, n);
      progress_.advance(n * t.element_size());
    }
    done_.emplace(key, cast);
    return cast;
  }

  DType target_;
  Progress& progress_;
  std::map<std::tuple<const std::byte*, std::size_t, DType>, Storage> done_;
};

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) text += (i ? separator : "") + items[i];
  return text;
}

}  // namespace

int run_convert(const ConvertArgs& args) {
  // Options that need no input are checked before it is read: a typo costs nothing.
  const std::optional<FileFormat> format = output_format(args.output);
  if (!format) {
    return usage_error("cannot tell the output format from '" + args.output +
                       "': use a .pt, .pth, .bin or .ckpt name (PyTorch zip format) or a "
                       ".safetensors name");
  }
  SaveOptions options{.fsync = !args.no_fsync};
  for (const std::string& entry : args.metadata) {
    if (*format != FileFormat::kSafetensors || entry.find('=') == std::string::npos) {
      return usage_error("--metadata takes KEY=VALUE and needs a .safetensors output");
    }
  }
  std::vector<Rename> rules;
  for (const std::string& entry : args.rename_prefix) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string::npos) {
      return usage_error(
          "--rename-prefix takes OLD=NEW (e.g. module.= to remove 'module.'), got '" + entry + "'");
    }
    rules.push_back({entry.substr(0, equals), entry.substr(equals + 1)});
  }
  std::optional<DType> target;
  if (!args.dtype.empty()) {
    target = parse_target_dtype(args.dtype);
    if (!target) return usage_error("--dtype takes bf16, f16 or f32, got '" + args.dtype + "'");
  }
  if (!args.only.empty() && args.strip_training_state) {
    return usage_error(
        "--only and --strip-training-state both pick the sub-tree to write: give one");
  }

  const FileFormat input_format = detect_format(args.input);
  Value content;
  {
    CallProgress progress(bar_label("reading", args.input), args.quiet);
    content = load(args.input, {.map_location = MapLocation::keep_saved(),
                                .mmap = true,
                                .mmap_mode = MapMode::kReadOnly,
                                .verify_crc = true,
                                .progress = progress.function()});
  }
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

  std::vector<std::string> notes;
  Value selected;
  if (!args.only.empty()) {
    std::string error;
    const Value* found = select_path(content, args.only, error);
    if (!found) return usage_error("--only " + args.only + ": " + error);
    selected = *found;
  } else if (args.strip_training_state) {
    const Value* found = nullptr;
    std::string key;
    if (content.is_dict()) {
      for (const char* candidate : kModelKeys) {
        found = content.as_dict().find(std::string(candidate));
        if (found) {
          key = candidate;
          break;
        }
      }
    }
    if (!found) {
      std::string message = "--strip-training-state: " + args.input +
                            " has no model_state_dict, state_dict or model to keep (" +
                            top_level_keys(content) + ")";
      if (content.is_dict() && !content.as_dict().empty() &&
          holds_only_tensors(content.as_dict())) {
        message += "; it holds only tensors: it is a state_dict already";
      } else {
        message += "; pick the weights with --only KEY";
      }
      return usage_error(message);
    }
    if (!found->is_dict()) {
      return usage_error("--strip-training-state: " + args.input + "['" + key + "'] is " +
                         kind_name(*found) +
                         ", not a state_dict; pick another sub-tree with --only KEY");
    }
    selected = *found;
    std::vector<std::string> dropped;
    for (const auto& [name, item] : content.as_dict()) {
      if (key_text(name) != key) dropped.push_back(key_text(name));
    }
    notes.push_back("kept " + key + (dropped.empty() ? "" : "; dropped " + join(dropped, ", ")));
  } else {
    selected = std::move(content);
  }

  if (!rules.empty()) {
    RenameResult result;
    rename_keys(selected, rules, "", result);
    if (!result.collision.empty()) return usage_error("--rename-prefix: " + result.collision);
    std::vector<std::string> rule_texts;
    std::vector<std::string> prefixes;
    for (const Rename& rule : rules) {
      rule_texts.push_back("'" + rule.from + "' -> '" + rule.to + "'");
      prefixes.push_back("'" + rule.from + "'");
    }
    // Not an error: scripts run the same conversion over files with and without the
    // prefix.
    notes.push_back(
        result.renamed == 0
            ? "no key of a state_dict starts with " + join(prefixes, " or ") + ": nothing renamed"
            : "renamed " + plural(result.renamed, "key") + " (" + join(rule_texts, ", ") + ")");
  }

  if (target) {
    Progress progress("cast", Caster::work(selected, *target), args.quiet);
    Caster caster(*target, progress);
    CastResult result;
    caster.cast(selected, result);
    progress.finish();
    std::string note =
        plural(result.cast, "floating tensor") + " now " + std::string(dtype_name(*target));
    if (result.unchanged > 0) {
      note += "; " + plural(result.unchanged, "other tensor") + " unchanged";
    }
    notes.push_back(note);
    // Optimizer moments (and an optimizer's float step) in half precision change how
    // training resumes; say so, since the usual intent is a smaller deployable model.
    if (selected.is_dict()) {
      for (const auto& [key, item] : selected.as_dict()) {
        if (key_text(key).find("optimizer") != std::string::npos) {
          notes.push_back("'" + key_text(key) +
                          "' was cast too; --strip-training-state writes the "
                          "model's weights alone");
          break;
        }
      }
    }
  }

  try {
    CallProgress progress(bar_label("writing", args.output), args.quiet);
    options.progress = progress.function();
    save(selected, args.output, options);
  } catch (const Error& e) {
    if (*format == FileFormat::kSafetensors && e.code() == ErrorCode::kUnsupported &&
        args.only.empty() && !args.strip_training_state) {
      throw Error(e.code(), std::string(e.what()) +
                                "; mnemo convert picks a sub-tree with --only KEY (nested "
                                "keys separated by '/') or --strip-training-state");
    }
    throw;
  }
  std::cout << args.input << " -> " << args.output << " (" << file_format_name(*format) << ")\n";
  for (const std::string& note : notes) std::cout << "note: " << note << "\n";
  if (dropped_metadata > 0) {
    std::cout << "note: the input's safetensors metadata (" << dropped_metadata
              << (dropped_metadata == 1 ? " entry" : " entries") << ") has no place in "
              << file_format_name(*format) << " and was not kept\n";
  }
  return kExitOk;
}

}  // namespace mnemo::cli
