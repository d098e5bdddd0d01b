// mnemo inspect: what a checkpoint holds, as a readable tree or as JSON.
//
// The text tree groups dotted keys by module ("layer1.0.conv.weight" under layer1, then
// 0, then conv), with tensor, parameter and byte counts per subtree, so that a model of
// 100,000 tensors reads as its structure rather than as 100,000 lines: a level with more
// than kCollapseThreshold entries is one summary line, and when the whole tree would still
// be longer than kLineBudget lines it is shown only as deep as fits. --all and --depth
// override both.
#include <fnmatch.h>

#include <climits>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "commands.h"
#include "keys.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

constexpr std::size_t kCollapseThreshold = 50;
constexpr std::size_t kLineBudget = 250;

// One line of the tree: a leaf (a tensor, a scalar, an empty container), a container of
// the checkpoint (a dict, list or tuple), or a group of dotted keys sharing a prefix.
struct Node {
  std::string name;
  const Value* value = nullptr;  // the leaf or the container; null for a prefix group
  bool leaf = false;
  std::vector<std::unique_ptr<Node>> children;
  std::unordered_map<std::string, Node*> groups;  // children that hold children, by name
  std::uint64_t leaves = 0;
  std::uint64_t tensors = 0;
  std::uint64_t params = 0;
  std::uint64_t bytes = 0;
};

// A container shown as a subtree; others (empty or compact ones) are leaves.
bool is_subtree(const Value& value) {
  if (is_compact(value)) return false;
  if (value.is_dict()) return !value.as_dict().empty();
  if (value.is_list() || value.is_tuple()) return !sequence_items(value).empty();
  return false;
}

class TreeBuilder {
 public:
  explicit TreeBuilder(const std::string& filter) : filter_(filter) {}

  // Adds `value` under `key` (split at its dots) below `parent`, whose dotted key is
  // `parent_key`.
  void add(Node& parent, const std::string& parent_key, const std::string& key,
           const Value& value) {
    Node* at = &parent;
    std::string full = parent_key;
    std::size_t start = 0;
    for (std::size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
      const std::string component = key.substr(start, dot - start);
      at = &group(*at, component);
      full = join_key(full, component);
      start = dot + 1;
    }
    const std::string name = key.substr(start);
    full = join_key(full, name);
    if (is_subtree(value)) {
      Node& node = group(*at, name);
      node.value = &value;
      add_items(node, full, value);
      return;
    }
    ++seen_;
    if (!filter_.empty() && ::fnmatch(filter_.c_str(), full.c_str(), 0) != 0) return;
    auto leaf = std::make_unique<Node>();
    leaf->name = name;
    leaf->value = &value;
    leaf->leaf = true;
    at->children.push_back(std::move(leaf));
  }

  void add_items(Node& node, const std::string& key, const Value& value) {
    if (value.is_dict()) {
      for (const auto& [name, item] : value.as_dict()) add(node, key, key_text(name), item);
      return;
    }
    const std::vector<Value>& items = sequence_items(value);
    for (std::size_t i = 0; i < items.size(); ++i) add(node, key, std::to_string(i), items[i]);
  }

  std::uint64_t seen() const { return seen_; }

 private:
  Node& group(Node& parent, const std::string& name) {
    const auto it = parent.groups.find(name);
    if (it != parent.groups.end()) return *it->second;
    auto node = std::make_unique<Node>();
    node->name = name;
    Node* raw = node.get();
    parent.children.push_back(std::move(node));
    parent.groups.emplace(name, raw);
    return *raw;
  }

  const std::string& filter_;
  std::uint64_t seen_ = 0;
};

// Sums each subtree and drops the groups a filter left empty.
void total(Node& node) {
  if (node.leaf) {
    node.leaves = 1;
    if (node.value->is_tensor()) {
      const Tensor& t = node.value->as_tensor();
      node.tensors = 1;
      node.params = static_cast<std::uint64_t>(t.numel());
      node.bytes = t.nbytes();
    }
    return;
  }
  std::vector<std::unique_ptr<Node>> kept;
  for (auto& child : node.children) {
    total(*child);
    if (child->leaves == 0) continue;
    node.leaves += child->leaves;
    node.tensors += child->tensors;
    node.params += child->params;
    node.bytes += child->bytes;
    kept.push_back(std::move(child));
  }
  node.children = std::move(kept);
  node.groups.clear();  // not needed after building; the pointers may now dangle
}

std::string totals_text(const Node& node) {
  if (node.tensors == 0) return plural(node.leaves, "value");
  std::string text = plural(node.tensors, "tensor") + ", " + human_count(node.params) +
                     " params, " + human_bytes(node.bytes);
  if (node.leaves > node.tensors) text += ", " + plural(node.leaves - node.tensors, "other value");
  return text;
}

std::string group_text(const Node& node) {
  std::string text;
  if (node.value) {
    const std::size_t size =
        node.value->is_dict() ? node.value->as_dict().size() : sequence_items(*node.value).size();
    text = kind_name(*node.value) + " (" + plural(size, "item") + "), ";
  }
  return text + totals_text(node);
}

// "layers.0 … layers.99: 100 subtrees, 400 tensors, 1.2 M params, 4.6 MiB".
std::string collapsed_text(const Node& node) {
  std::size_t groups = 0;
  std::size_t tensors = 0;
  for (const auto& child : node.children) {
    if (!child->leaf) ++groups;
    if (child->leaf && child->value->is_tensor()) ++tensors;
  }
  const std::string prefix = node.name.empty() ? "" : node.name + ".";
  std::string text = prefix + node.children.front()->name + " \u2026 " + prefix +
                     node.children.back()->name + ": ";
  const std::size_t n = node.children.size();
  if (groups == n) return text + plural(n, "subtree") + ", " + totals_text(node);
  if (tensors == n) {
    return text + plural(n, "tensor") + ", " + human_count(node.params) + " params, " +
           human_bytes(node.bytes);
  }
  return text + plural(n, "item") + ", " + totals_text(node);
}

class TreePrinter {
 public:
  explicit TreePrinter(bool all) : all_(all) {}

  // The lines print_children would print.
  std::size_t count(const Node& node, int depth_left) const {
    if (depth_left <= 0) return 0;
    if (collapses(node)) return 1;
    std::size_t lines = 0;
    for (const auto& child : node.children) {
      ++lines;
      if (!child->leaf && !collapses(*child)) lines += count(*child, depth_left - 1);
    }
    return lines;
  }

  void print_children(const Node& node, int indent, int depth_left) {
    if (depth_left <= 0) return;
    const std::string pad(static_cast<std::size_t>(indent), ' ');
    if (collapses(node)) {  // only the top level gets here: deeper levels collapse below
      std::cout << pad << collapsed_text(node) << "\n";
      collapsed_ = true;
      return;
    }
    for (const auto& child : node.children) {
      if (child->leaf) {
        std::cout << pad << child->name << ": " << describe_leaf(*child->value) << "\n";
      } else if (collapses(*child)) {
        std::cout << pad << collapsed_text(*child) << "\n";
        collapsed_ = true;
      } else {
        std::cout << pad << child->name << ": " << group_text(*child) << "\n";
        if (depth_left > 1) {
          print_children(*child, indent + 2, depth_left - 1);
        } else if (!child->children.empty()) {
          cut_ = true;
        }
      }
    }
  }

  bool collapsed() const { return collapsed_; }
  bool cut() const { return cut_; }

 private:
  bool collapses(const Node& node) const {
    return !all_ && !node.leaf && node.children.size() > kCollapseThreshold;
  }

  bool all_;
  bool collapsed_ = false;
  bool cut_ = false;
};

struct StorageTotals {
  std::size_t tensors = 0;
  std::uint64_t elements = 0;
  std::set<std::pair<const std::byte*, std::size_t>> storages;
  std::uint64_t storage_bytes = 0;
};

void count_storages(const Node& node, StorageTotals& totals) {
  if (node.leaf) {
    if (!node.value->is_tensor()) return;
    const Tensor& t = node.value->as_tensor();
    ++totals.tensors;
    totals.elements += static_cast<std::uint64_t>(t.numel());
    if (totals.storages.insert({t.storage().data(), t.storage().nbytes()}).second) {
      totals.storage_bytes += t.storage().nbytes();
    }
    return;
  }
  for (const auto& child : node.children) count_storages(*child, totals);
}

void print_text(const InspectArgs& args, FileFormat format, const Value& content,
                const std::optional<std::map<std::string, std::string>>& metadata) {
  std::cout << args.file << " (" << file_format_name(format) << ")\n";
  Node root;
  TreeBuilder builder(args.filter);
  if (!is_subtree(content)) {
    // torch.save(tensor), or a scalar: one line, no tree.
    auto leaf = std::make_unique<Node>();
    leaf->value = &content;
    leaf->leaf = true;
    root.children.push_back(std::move(leaf));
    total(root);
    std::cout << describe_leaf(content) << "\n";
  } else {
    root.value = &content;
    builder.add_items(root, "", content);
    total(root);
    std::cout << group_text(root) << "\n";
  }
  TreePrinter printer(args.all);
  int depth = root.value ? args.depth.value_or(INT_MAX) : 0;
  bool automatic = false;
  if (root.value && !args.depth && !args.all && printer.count(root, INT_MAX) > kLineBudget) {
    // The deepest view that fits; at least the top level.
    depth = 1;
    while (printer.count(root, depth + 1) <= kLineBudget &&
           printer.count(root, depth + 1) > printer.count(root, depth)) {
      ++depth;
    }
    automatic = true;
  }
  printer.print_children(root, 2, depth);
  const bool cut = automatic && printer.cut();
  if (cut && printer.collapsed()) {
    std::cout << "(" << plural(static_cast<std::uint64_t>(depth), "level") << " shown and levels "
              << "of more than " << kCollapseThreshold
              << " entries summarised: --depth N or --all shows more)\n";
  } else if (cut) {
    std::cout << "(" << plural(static_cast<std::uint64_t>(depth), "level")
              << " shown: --depth N or --all shows more)\n";
  } else if (printer.collapsed()) {
    std::cout << "(levels of more than " << kCollapseThreshold
              << " entries summarised: --all shows every entry)\n";
  }

  if (!args.filter.empty()) {
    std::cout << "filter '" << args.filter << "': " << grouped(root.leaves) << " of "
              << plural(builder.seen(), "key") << " match\n";
  }
  if (metadata) {
    std::cout << "metadata (" << plural(metadata->size(), "item") << ")\n";
    for (const auto& [key, text] : *metadata) {
      std::cout << "  " << key << ": " << describe_leaf(Value(text)) << "\n";
    }
  }
  StorageTotals totals;
  count_storages(root, totals);
  std::cout << "total: " << plural(totals.tensors, "tensor") << ", " << grouped(totals.elements)
            << " elements, " << human_bytes(totals.storage_bytes) << " in "
            << plural(totals.storages.size(), "storage") << "\n";
}

}  // namespace

int run_inspect(const InspectArgs& args) {
  const FileFormat format = detect_format(args.file);
  const Value content = load_to_look_at(args.file, args.quiet);
  // safetensors keeps a string -> string map beside its tensors.
  std::optional<std::map<std::string, std::string>> metadata;
  if (format == FileFormat::kSafetensors) metadata = inspect_safetensors(args.file).metadata;
  if (!args.json) {
    print_text(args, format, content, metadata);
    return kExitOk;
  }
  std::cout << "{\n  \"format\": " << json_string(file_format_name(format)) << ",\n  \"content\": ";
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

}  // namespace mnemo::cli
