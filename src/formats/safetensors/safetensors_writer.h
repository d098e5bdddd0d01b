// Writing safetensors files as the reference writer does (reference §9): tensors sorted
// by dtype (in descending order of the reference's Dtype enum) then by name, packed with
// no gaps; the header is compact JSON — "__metadata__" first, then each tensor as
// {"dtype":..,"shape":[..],"data_offsets":[b,e]} in data order — padded with spaces to a
// multiple of 8 bytes. For the same tensors and metadata (whose keys the reference
// writes in hash order, mnemo in sorted order) the bytes are the reference's.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mnemo/core/value.h"
#include "mnemo/io/byte_sink.h"

namespace mnemo::safetensors {

// A value made ready to write: the flattened tensors, in file order, and the header.
// Preparing checks everything that could refuse the value, so that a refused save
// touches no file.
class PreparedFile {
 public:
  // Throws kUnsupported naming the path inside `value` of anything safetensors cannot
  // hold (a non-tensor leaf, complex128, two paths flattening to one name),
  // kInvalidArgument for metadata that is not UTF-8, kLimit for a header over 100 MB.
  PreparedFile(const Value& value, const std::map<std::string, std::string>& metadata);

  void write(io::ByteSink& sink) const;
  std::uint64_t size() const;  // bytes write() puts in the sink

 private:
  // Where a tensor was in the value, as a chain of keys, for the messages that name it:
  // building every path as text, for messages that almost never come, was a large share
  // of preparing a tensor. Valid while the constructor runs (the keys are the value's).
  struct Place {
    std::size_t parent;  // index in places_, or kTop
    const DictKey* key;
  };
  static constexpr std::size_t kTop = static_cast<std::size_t>(-1);
  struct Entry {
    std::string name;
    std::size_t place;       // in places_
    Tensor data;             // contiguous, in the dtype written
    std::string_view dtype;  // the dtype's name in the header
    int position = 0;  // the dtype's place in the reference's enum, the first sort key
    std::uint64_t begin = 0, end = 0;
  };

  void flatten(const Value& value, const std::string& name, std::size_t place, const Value& root);
  void add(std::string name, std::size_t place, const Tensor& tensor);
  // "['model']['fc.weight']", for a place in places_.
  std::string path(std::size_t place) const;
  void build_header(const std::map<std::string, std::string>& metadata);

  std::vector<Entry> entries_;
  std::vector<Place> places_;
  std::string header_;  // the 8-byte length, then the padded JSON
};

}  // namespace mnemo::safetensors
