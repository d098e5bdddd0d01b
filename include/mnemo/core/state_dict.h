// StateDict: what a model has learned — an insertion-ordered map from dotted names
// ("features.0.weight") to tensors, plus the per-module metadata PyTorch keeps in
// `_metadata` ({"": {"version": 1}, "bn": {"version": 2}, ...}), which load_state_dict
// consults (BatchNorm's rule for a missing num_batches_tracked).
//
// Entries are Values so that a module's `_extra_state`, which PyTorch lets be any
// object, survives a round trip; every other entry is a Tensor, and `at()` returns it.
//
// Converting to a Value gives what torch.save pickles for `model.state_dict()`: an
// OrderedDict whose attributes hold `_metadata`.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/value.h"

namespace mnemo {

class StateDict {
 public:
  using Item = std::pair<std::string, Value>;

  StateDict() = default;
  StateDict(std::initializer_list<std::pair<std::string, Tensor>> items);

  std::size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  auto begin() const { return map_.begin(); }
  auto end() const { return map_.end(); }
  auto begin() { return map_.begin(); }
  auto end() { return map_.end(); }
  std::vector<std::string> keys() const;

  bool contains(const std::string& name) const { return map_.contains(name); }
  const Value* find(const std::string& name) const { return map_.find(name); }
  // The tensor named `name`. Throws kInvalidArgument when absent or not a tensor.
  const Tensor& at(const std::string& name) const;
  // Inserts at the end, or replaces in place.
  void insert(std::string name, Tensor tensor);
  void insert(std::string name, Value value);
  bool erase(const std::string& name) { return map_.erase(name); }

  // --- metadata: module prefix -> {"version": n, ...} ----------------------------------
  // False for a state_dict read from a plain dict (PyTorch then treats every module as
  // an old version).
  bool has_metadata() const { return metadata_.has_value(); }
  const Dict* metadata() const { return metadata_ ? &*metadata_ : nullptr; }
  void set_metadata(Dict metadata);
  void clear_metadata() { metadata_.reset(); }
  // The "version" recorded for a module prefix ("" for the root), if any.
  std::optional<std::int64_t> version(std::string_view prefix) const;
  void set_version(std::string_view prefix, std::int64_t version);

  // An OrderedDict with attributes {"_metadata": OrderedDict(...)} when there is metadata.
  Value to_value() const;
  // Accepts a dict with str keys whose values are tensors (any value for keys ending in
  // "_extra_state"), reading "_metadata" from its attributes. Throws kInvalidArgument
  // naming the first offending entry, with a hint when the dict looks like a checkpoint.
  static StateDict from_value(const Value& value);

  friend bool operator==(const StateDict&, const StateDict&) = default;

 private:
  detail::OrderedMap<std::string, Value> map_;
  std::optional<Dict> metadata_;
};

std::ostream& operator<<(std::ostream& out, const StateDict& state_dict);

}  // namespace mnemo
