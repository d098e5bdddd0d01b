// Naming the parts of a checkpoint the way people write them: dotted keys
// ("model_state_dict.fc1.weight"), as safetensors flattens nested dicts and as
// load_state_dict's messages name parameters. The commands use these names to match a
// .pt file against a .safetensors one, to filter, and to pick sub-trees.
#pragma once

#include <string>
#include <vector>

#include "mnemo/core/value.h"

namespace mnemo::cli {

// A dict key as text: a string as is, an int key in decimal.
std::string key_text(const DictKey& key);

// `parent` + "." + `child`, or `child` alone at the top level.
std::string join_key(const std::string& parent, const std::string& child);

struct Leaf {
  std::string key;     // dotted; "" when the whole checkpoint is one leaf
  const Value* value;  // a tensor, a scalar, or an empty container
};

// Every leaf of `root` in stored order: dict keys joined with dots (int keys in decimal),
// list and tuple items by their index. An empty dict, list or tuple is a leaf of its own,
// so that it is not lost. Pointers are into `root`.
std::vector<Leaf> dotted_leaves(const Value& root);

// The value under `selection` ("a/b": key "a", then key "b"; a key that is not in a dict
// but is a decimal number matches an int key). nullptr, with `error` set, when absent.
const Value* select_path(const Value& root, const std::string& selection, std::string& error);

// "dict", "OrderedDict", "list", "tuple", or Python's name of a scalar's type.
std::string kind_name(const Value& value);

// "[2, 3]".
std::string shape_text(const Shape& sizes);

// A non-empty dict, list or tuple of scalars short enough to show on one line
// ("tuple (0.9, 0.999)"): inspect shows it as a leaf.
bool is_compact(const Value& value);

// One line about a leaf: "float32 [2, 3] cpu 24 B", "int 3", "str 'adam'" (long texts
// shortened), "dict (0 items)", "list [0, 1, 2]".
std::string describe_leaf(const Value& value);

// The items of a list or tuple.
const std::vector<Value>& sequence_items(const Value& value);

}  // namespace mnemo::cli
