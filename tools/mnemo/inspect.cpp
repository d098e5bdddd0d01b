// mnemo inspect: what a checkpoint holds, as a readable tree or as JSON.
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "commands.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"

namespace mnemo::cli {
namespace {

struct Totals {
  std::size_t tensors = 0;
  std::uint64_t elements = 0;
  std::set<std::pair<const std::byte*, std::size_t>> storages;
  std::uint64_t storage_bytes = 0;
};

std::string shape_text(const Shape& sizes) {
  std::string out = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

std::string describe_leaf(const Value& value) {
  switch (value.type()) {
    case ValueType::kTensor: {
      const Tensor& t = value.as_tensor();
      return std::string(dtype_name(t.dtype())) + " " + shape_text(t.sizes()) + " " +
             t.device().str() + " " + human_bytes(t.nbytes());
    }
    case ValueType::kString:
    case ValueType::kBytes:
    case ValueType::kNone:
    case ValueType::kBool:
    case ValueType::kInt:
    case ValueType::kBigInt:
    case ValueType::kDouble: {
      std::string text = value.repr();
      if (text.size() > 60) text = text.substr(0, 57) + "...";
      return std::string(value_type_name(value.type())) + " " + text;
    }
    default: return {};
  }
}

void print_tree(const Value& value, const std::string& label, int depth, Totals& totals) {
  const std::string indent(static_cast<std::size_t>(2 * depth), ' ');
  if (value.is_dict() || value.is_list() || value.is_tuple()) {
    const bool dict = value.is_dict();
    const std::size_t size = dict ? value.as_dict().size()
                                   : (value.is_list() ? value.as_list().size() : value.as_tuple().size());
    const char* kind = dict ? (value.as_dict().is_ordered_dict() ? "OrderedDict" : "dict")
                            : (value.is_list() ? "list" : "tuple");
    std::cout << indent << label << (label.empty() ? "" : ": ") << kind << " (" << size
              << (size == 1 ? " item" : " items") << ")\n";
    if (dict) {
      for (const auto& [key, item] : value.as_dict()) {
        const std::string name = std::holds_alternative<std::string>(key)
                                     ? std::get<std::string>(key)
                                     : std::to_string(std::get<std::int64_t>(key));
        print_tree(item, name, depth + 1, totals);
      }
    } else {
      const std::vector<Value>& items =
          value.is_list() ? static_cast<const std::vector<Value>&>(value.as_list())
                          : static_cast<const std::vector<Value>&>(value.as_tuple());
      for (std::size_t i = 0; i < items.size(); ++i) {
        print_tree(items[i], "[" + std::to_string(i) + "]", depth + 1, totals);
      }
    }
    return;
  }
  if (value.is_tensor()) {
    const Tensor& t = value.as_tensor();
    ++totals.tensors;
    totals.elements += static_cast<std::uint64_t>(t.numel());
    if (totals.storages.insert({t.storage().data(), t.storage().nbytes()}).second) {
      totals.storage_bytes += t.storage().nbytes();
    }
  }
  std::cout << indent << label << (label.empty() ? "" : ": ") << describe_leaf(value) << "\n";
}

}  // namespace

int run_inspect(const InspectArgs& args) {
  const FileFormat format = detect_format(args.file);
  const Value content = load(args.file, {.map_location = MapLocation::keep_saved(),
                                         .mmap = true,
                                         .mmap_mode = MapMode::kReadOnly});
  // safetensors keeps a string -> string map beside its tensors.
  std::optional<std::map<std::string, std::string>> metadata;
  if (format == FileFormat::kSafetensors) metadata = inspect_safetensors(args.file).metadata;
  if (args.json) {
    std::cout << "{\n  \"format\": " << json_string(file_format_name(format))
              << ",\n  \"content\": ";
    write_json(std::cout, content, {.hash = args.hash}, 2);
    if (metadata) {
      Dict entries;
      for (const auto& [key, text] : *metadata) entries.insert_or_assign(key, text);
      std::cout << ",\n  \"metadata\": ";
      write_json(std::cout, entries, {}, 2);
    }
    std::cout << "\n}\n";
    return kExitOk;
  }
  std::cout << args.file << " (" << file_format_name(format) << ")\n";
  Totals totals;
  print_tree(content, "", 0, totals);
  if (metadata) {
    std::cout << "metadata (" << metadata->size() << (metadata->size() == 1 ? " item" : " items")
              << ")\n";
    for (const auto& [key, text] : *metadata) {
      std::cout << "  " << key << ": " << describe_leaf(Value(text)) << "\n";
    }
  }
  std::cout << "total: " << grouped(totals.tensors) << (totals.tensors == 1 ? " tensor, " : " tensors, ")
            << grouped(totals.elements) << " elements, " << human_bytes(totals.storage_bytes)
            << " in " << grouped(totals.storages.size())
            << (totals.storages.size() == 1 ? " storage" : " storages") << "\n";
  return kExitOk;
}

}  // namespace mnemo::cli
