#include "formats/safetensors/safetensors_header.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>

#include "formats/safetensors/safetensors_dtypes.h"
#include "mnemo/limits.h"

namespace mnemo::safetensors {
namespace {

namespace json = simdjson::ondemand;
using simdjson::error_code;

bool is_json_space(std::byte b) {
  return b == std::byte{' '} || b == std::byte{'\t'} || b == std::byte{'\n'} ||
         b == std::byte{'\r'};
}

std::uint64_t little_endian_u64(const std::byte* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<std::uint64_t>(bytes[i]);
  return value;
}

std::string_view type_name(json::json_type type) {
  switch (type) {
    case json::json_type::array:
      return "an array";
    case json::json_type::object:
      return "an object";
    case json::json_type::number:
      return "a number";
    case json::json_type::string:
      return "a string";
    case json::json_type::boolean:
      return "a boolean";
    case json::json_type::null:
      return "null";
  }
  return "a JSON value";
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_json_space(static_cast<std::byte>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string shape_text(const Shape& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Where UTF-8 decoding of `text` first fails (called once validate_utf8 said it does):
// a stray continuation byte, a truncated sequence, an overlong form, a surrogate or a
// code point past U+10FFFF.
std::size_t first_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code = lead & 0x07;
    } else {
      return i;
    }
    if (text.size() - i < length) return i;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return i;
      code = (code << 6) | (next & 0x3f);
    }
    constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += length;
  }
  return text.size();
}

// Validates one header. simdjson's On-Demand API checks what is read, so every value is
// read, including those the format ignores; it does not refuse duplicate keys, so they
// are tracked here.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::uint64_t file_size, const std::string& origin)
      : text_(text), file_size_(file_size), origin_(origin) {
    info_.header_bytes = text.size();
    info_.data_offset = kLengthBytes + text.size();
  }

  SafetensorsInfo parse() {
    if (!simdjson::validate_utf8(text_.data(), text_.size())) {
      const std::size_t at = first_invalid_utf8(text_);
      fail(ErrorCode::kCorrupt, origin_, ": the safetensors header is not valid UTF-8: byte ", at,
           " of the header (file byte ", kLengthBytes + at, ") is 0x", hex_byte(text_[at]),
           ", which cannot start or continue a UTF-8 character there");
    }
    json::parser parser;
    json::document document;
    // document_ (which check() asks for the error's location) is set only once iterate
    // succeeds: a document that failed to iterate has no tokens, and simdjson 3.0's
    // current_location() then reads through a null pointer (found by fuzzing;
    // tests/regress/safetensors/).
    check(parser
              .iterate(simdjson::padded_string_view(text_.data(), text_.size(),
                                                    text_.size() + simdjson::SIMDJSON_PADDING))
              .get(document));
    document_ = &document;
    json::json_type root_type = json::json_type::null;
    check(document.type().get(root_type));
    if (root_type != json::json_type::object) {
      fail(ErrorCode::kCorrupt, origin_, ": the safetensors header is ", type_name(root_type),
           ", expected a JSON object of tensors");
    }
    json::object root;
    check(document.get_object().get(root));
    bool has_metadata_key = false;
    for (auto item : root) {
      json::field field;
      check(std::move(item).get(field));
      std::string_view key;
      check(field.unescaped_key().get(key));
      if (key == kMetadataKey) {
        if (has_metadata_key) {
          fail(ErrorCode::kCorrupt, origin_, ": ", kMetadataKey,
               " appears twice in the safetensors header; names must be unique");
        }
        has_metadata_key = true;
        parse_metadata(field.value());
      } else {
        if (info_.tensors.size() >= limits::kMaxTensorCount) {
          fail(ErrorCode::kLimit, origin_, ": the safetensors header holds more than ",
               limits::kMaxTensorCount, " tensors (kMaxTensorCount)");
        }
        parse_tensor(key, field.value());
      }
    }
    // Only whitespace may follow the object.
    const simdjson::simdjson_result<const char*> rest = document.current_location();
    if (rest.error() != error_code::OUT_OF_BOUNDS) {
      const char* at = rest.error() ? nullptr : rest.value_unsafe();
      fail(ErrorCode::kCorrupt, origin_, ": the safetensors header has content after its JSON ",
           "object", at_text(at), "; expected only whitespace padding");
    }
    document_ = nullptr;
    check_unique_names();
    check_layout();
    return std::move(info_);
  }

 private:
  static std::string hex_byte(char c) {
    static constexpr char kDigits[] = "0123456789abcdef";
    const auto b = static_cast<unsigned char>(c);
    return {kDigits[b >> 4], kDigits[b & 15]};
  }

  static std::string describe(std::string_view name) {
    return name == kMetadataKey ? std::string(kMetadataKey) : "tensor '" + std::string(name) + "'";
  }

  std::string at_text(const char* location) const {
    if (!location || location < text_.data() || location > text_.data() + text_.size()) return {};
    const auto offset = static_cast<std::size_t>(location - text_.data());
    return " at byte " + std::to_string(offset) + " of the header (file byte " +
           std::to_string(kLengthBytes + offset) + ")";
  }

  // A JSON syntax error (or an unexpected simdjson failure), with where it was found.
  void check(error_code error) const {
    if (!error) return;
    const char* location = nullptr;
    if (document_) {
      const simdjson::simdjson_result<const char*> at = document_->current_location();
      if (!at.error()) location = at.value_unsafe();
    }
    fail(ErrorCode::kCorrupt, origin_, ": the safetensors header is not valid JSON",
         context_ ? " (in " + describe(*context_) + ")" : "", at_text(location), ": ",
         simdjson::error_message(error));
  }

  template <class... Args>
  [[noreturn]] void fail_entry(ErrorCode code, std::string_view name, const Args&... args) const {
    fail(code, origin_, ": ", describe(name), " ", args...);
  }

  json::json_type type_of(json::value& value) {
    json::json_type type = json::json_type::null;
    check(value.type().get(type));
    return type;
  }

  // The atom "null", checked whole.
  void read_null(json::value& value) {
    bool is_null = false;
    check(value.is_null().get(is_null));
    if (!is_null) check(error_code::N_ATOM_ERROR);
  }

  // A non-negative integer that fits in 64 bits: element `index` of `field`. (Messages
  // are only built on failure: headers may hold millions of these.)
  std::uint64_t parse_uint(json::value value, std::string_view name, std::string_view field,
                           std::size_t index) {
    const json::json_type type = type_of(value);
    if (type != json::json_type::number) {
      fail_entry(ErrorCode::kCorrupt, name, "has ", element_text(field, index), " = ",
                 type_name(type), ", expected a non-negative integer");
    }
    std::uint64_t out = 0;
    const error_code error = value.get_uint64().get(out);
    if (error == error_code::INCORRECT_TYPE || error == error_code::NUMBER_OUT_OF_RANGE) {
      fail_entry(ErrorCode::kCorrupt, name, "has ", element_text(field, index), " = ",
                 trim(value.raw_json_token()), ", expected a non-negative integer below 2^64");
    }
    check(error);
    return out;
  }

  static std::string element_text(std::string_view field, std::size_t index) {
    std::string text = std::string(field) + "[" + std::to_string(index) + "]";
    if (field == "data_offsets") text += index == 0 ? " (begin)" : " (end)";
    return text;
  }

  void parse_metadata(json::value value) {
    context_ = kMetadataKey;
    const json::json_type type = type_of(value);
    if (type == json::json_type::null) {  // serde's Option: null is no metadata
      read_null(value);
      context_.reset();
      return;
    }
    if (type != json::json_type::object) {
      fail(ErrorCode::kCorrupt, origin_, ": ", kMetadataKey, " is ", type_name(type),
           ", expected an object mapping strings to strings");
    }
    std::map<std::string, std::string> metadata;
    json::object object;
    check(value.get_object().get(object));
    for (auto item : object) {
      json::field field;
      check(std::move(item).get(field));
      std::string_view key;
      check(field.unescaped_key().get(key));
      std::string owned_key(key);
      json::value entry = field.value();
      const json::json_type entry_type = type_of(entry);
      if (entry_type != json::json_type::string) {
        fail(ErrorCode::kCorrupt, origin_, ": ", kMetadataKey, "['", owned_key, "'] is ",
             type_name(entry_type), ", expected a string (metadata maps strings to strings)");
      }
      std::string_view text;
      check(entry.get_string().get(text));
      if (!metadata.emplace(owned_key, std::string(text)).second) {
        fail(ErrorCode::kCorrupt, origin_, ": ", kMetadataKey, " has the key '", owned_key,
             "' twice; keys must be unique");
      }
    }
    info_.metadata = std::move(metadata);
    context_.reset();
  }

  void parse_tensor(std::string_view name, json::value value) {
    context_ = name;
    const json::json_type type = type_of(value);
    if (type != json::json_type::object) {
      fail_entry(ErrorCode::kCorrupt, name, "is ", type_name(type),
                 ", expected an object with \"dtype\", \"shape\" and \"data_offsets\"");
    }
    SafetensorsTensor tensor;
    tensor.name = std::string(name);
    bool has_dtype = false, has_shape = false, has_offsets = false;
    json::object object;
    check(value.get_object().get(object));
    for (auto item : object) {
      json::field field;
      check(std::move(item).get(field));
      std::string_view key;
      check(field.unescaped_key().get(key));
      bool* seen = key == "dtype"          ? &has_dtype
                   : key == "shape"        ? &has_shape
                   : key == "data_offsets" ? &has_offsets
                                           : nullptr;
      if (!seen) {
        consume(field.value());  // ignored, as the reference does, but checked
        continue;
      }
      if (*seen) fail_entry(ErrorCode::kCorrupt, name, "has \"", key, "\" twice");
      *seen = true;
      if (key == "dtype") {
        tensor.dtype = parse_dtype(field.value(), name);
      } else if (key == "shape") {
        tensor.shape = parse_shape(field.value(), name);
      } else {
        parse_offsets(field.value(), name, tensor);
      }
    }
    for (const auto& [present, key] : {std::pair{has_dtype, "dtype"}, std::pair{has_shape, "shape"},
                                       std::pair{has_offsets, "data_offsets"}}) {
      if (!present) {
        fail_entry(ErrorCode::kCorrupt, name, "lacks \"", key,
                   "\" (each tensor needs \"dtype\", \"shape\" and \"data_offsets\")");
      }
    }
    check_size(tensor);
    info_.tensors.push_back(std::move(tensor));
    context_.reset();
  }

  DType parse_dtype(json::value value, std::string_view name) {
    const json::json_type type = type_of(value);
    if (type != json::json_type::string) {
      fail_entry(ErrorCode::kCorrupt, name, "has a dtype that is ", type_name(type),
                 ", expected a string such as \"F32\"");
    }
    std::string_view text;
    check(value.get_string().get(text));
    const DTypeLookup lookup = lookup_dtype(text);
    switch (lookup.status) {
      case DTypeLookup::Status::kSupported:
        return lookup.dtype;
      case DTypeLookup::Status::kUnsupported:
        fail_entry(ErrorCode::kUnsupported, name, "has dtype ", text,
                   ", a safetensors dtype that mnemo does not support (it reads ",
                   supported_names(), ")");
      case DTypeLookup::Status::kUnknown:
        break;
    }
    fail_entry(ErrorCode::kCorrupt, name, "has dtype \"", text,
               "\", which is not a safetensors dtype; expected one of ", supported_names());
  }

  Shape parse_shape(json::value value, std::string_view name) {
    const json::json_type type = type_of(value);
    if (type != json::json_type::array) {
      fail_entry(ErrorCode::kCorrupt, name, "has a shape that is ", type_name(type),
                 ", expected an array of non-negative integers");
    }
    std::int64_t sizes[limits::kMaxTensorRank];
    std::size_t rank = 0;
    json::array array;
    check(value.get_array().get(array));
    for (auto item : array) {
      json::value dim;
      check(std::move(item).get(dim));
      if (rank == limits::kMaxTensorRank) {
        fail_entry(ErrorCode::kLimit, name, "has a shape of more than ", limits::kMaxTensorRank,
                   " dimensions (kMaxTensorRank)");
      }
      const std::uint64_t size = parse_uint(dim, name, "shape", rank);
      if (size > static_cast<std::uint64_t>(INT64_MAX)) {
        fail_entry(ErrorCode::kCorrupt, name, "has shape[", rank, "] = ", size,
                   ", more than a tensor dimension can hold (2^63 - 1)");
      }
      sizes[rank++] = static_cast<std::int64_t>(size);
    }
    return Shape(sizes, sizes + rank);
  }

  void parse_offsets(json::value value, std::string_view name, SafetensorsTensor& tensor) {
    const json::json_type type = type_of(value);
    if (type != json::json_type::array) {
      fail_entry(ErrorCode::kCorrupt, name, "has data_offsets that are ", type_name(type),
                 ", expected [begin, end]");
    }
    std::uint64_t offsets[2] = {};
    std::size_t count = 0;
    json::array array;
    check(value.get_array().get(array));
    for (auto item : array) {
      json::value offset;
      check(std::move(item).get(offset));
      if (count == 2) {
        fail_entry(ErrorCode::kCorrupt, name,
                   "has more than two data_offsets, expected [begin, end]");
      }
      offsets[count] = parse_uint(offset, name, "data_offsets", count);
      ++count;
    }
    if (count != 2) {
      fail_entry(ErrorCode::kCorrupt, name, "has ", count,
                 count == 1 ? " data offset" : " data offsets", ", expected two: [begin, end]");
    }
    if (offsets[1] < offsets[0]) {
      fail_entry(ErrorCode::kCorrupt, name, "has data_offsets [", offsets[0], ", ", offsets[1],
                 "]: its end is before its begin");
    }
    tensor.data_begin = offsets[0];
    tensor.data_end = offsets[1];
  }

  // shape x element size, computed with overflow checks, must be the byte range.
  void check_size(const SafetensorsTensor& tensor) const {
    std::uint64_t count = 1;
    for (std::int64_t size : tensor.shape) {
      if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(size), &count) ||
          count > static_cast<std::uint64_t>(INT64_MAX)) {
        fail_entry(ErrorCode::kCorrupt, tensor.name, "has shape ", shape_text(tensor.shape),
                   ", more elements than 2^63 - 1 (the product overflows)");
      }
    }
    // With a dimension of 0 the others may be anything, but its strides must still fit.
    std::int64_t extent = 1;
    for (std::int64_t size : tensor.shape) {
      if (__builtin_mul_overflow(extent, std::max<std::int64_t>(size, 1), &extent)) {
        fail_entry(ErrorCode::kCorrupt, tensor.name, "has shape ", shape_text(tensor.shape),
                   ", whose strides would pass 2^63 - 1");
      }
    }
    const std::size_t element = element_size(tensor.dtype);
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(count, element, &bytes)) {
      fail_entry(ErrorCode::kCorrupt, tensor.name, "has shape ", shape_text(tensor.shape), " of ",
                 *wire_name(tensor.dtype), ", more than 2^64 bytes (the size overflows)");
    }
    const std::uint64_t span = tensor.data_end - tensor.data_begin;
    if (bytes != span) {
      fail_entry(ErrorCode::kCorrupt, tensor.name, "has dtype ", *wire_name(tensor.dtype),
                 " and shape ", shape_text(tensor.shape), ", which need ", count, " x ", element,
                 " = ", bytes, " bytes, but data_offsets [", tensor.data_begin, ", ",
                 tensor.data_end, "] span ", span);
    }
  }

  // Reads and checks a value the format does not use.
  void consume(json::value value) {
    switch (type_of(value)) {
      case json::json_type::object: {
        json::object object;
        check(value.get_object().get(object));
        for (auto item : object) {
          json::field field;
          check(std::move(item).get(field));
          check(field.unescaped_key().error());
          consume(field.value());
        }
        return;
      }
      case json::json_type::array: {
        json::array array;
        check(value.get_array().get(array));
        for (auto item : array) {
          json::value element;
          check(std::move(item).get(element));
          consume(element);
        }
        return;
      }
      case json::json_type::string:
        check(value.get_string().error());
        return;
      case json::json_type::number:
        check(value.get_number().error());
        return;
      case json::json_type::boolean:
        check(value.get_bool().error());
        return;
      case json::json_type::null:
        read_null(value);
        return;
    }
  }

  // Sorting hashes of the names finds duplicates faster than a hash set filled one name at
  // a time (headers may hold hundreds of thousands of names); names with equal hashes are
  // then compared.
  void check_unique_names() const {
    const std::vector<SafetensorsTensor>& tensors = info_.tensors;
    std::vector<std::pair<std::size_t, std::size_t>> hashes;  // (hash, index)
    hashes.reserve(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      hashes.emplace_back(std::hash<std::string_view>{}(tensors[i].name), i);
    }
    std::sort(hashes.begin(), hashes.end());
    for (std::size_t run = 0; run < hashes.size();) {
      std::size_t end = run + 1;
      while (end < hashes.size() && hashes[end].first == hashes[run].first) ++end;
      for (std::size_t i = run; i < end; ++i) {
        for (std::size_t j = i + 1; j < end; ++j) {
          const std::string& name = tensors[hashes[i].second].name;
          if (name == tensors[hashes[j].second].name) {
            fail(ErrorCode::kCorrupt, origin_, ": ", describe(name),
                 " appears twice in the safetensors header; names must be unique");
          }
        }
      }
      run = end;
    }
  }

  // Sorted by offsets, the tensors must tile the data section, which must end the file.
  void check_layout() {
    std::vector<SafetensorsTensor>& tensors = info_.tensors;
    const auto by_offsets = [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
      return std::pair(a.data_begin, a.data_end) < std::pair(b.data_begin, b.data_end);
    };
    // Writers list tensors in data order: sort only when they did not.
    if (!std::is_sorted(tensors.begin(), tensors.end(), by_offsets)) {
      std::stable_sort(tensors.begin(), tensors.end(), by_offsets);
    }
    std::uint64_t expected = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const SafetensorsTensor& t = tensors[i];
      if (t.data_begin != expected) {
        if (i == 0) {
          fail_entry(ErrorCode::kCorrupt, t.name, "is first in the data but starts at data byte ",
                     t.data_begin, ", expected 0 (tensors must cover the data section)");
        }
        const SafetensorsTensor& before = tensors[i - 1];
        if (t.data_begin > expected) {
          fail_entry(ErrorCode::kCorrupt, t.name, "starts at data byte ", t.data_begin,
                     " but the tensor before it, '", before.name, "', ends at ", expected,
                     ": a gap of ", t.data_begin - expected,
                     " bytes (tensors must follow each other with no gap)");
        }
        fail_entry(ErrorCode::kCorrupt, t.name, "starts at data byte ", t.data_begin,
                   ", inside tensor '", before.name, "' [", before.data_begin, ", ", expected,
                   "): the tensors overlap");
      }
      expected = t.data_end;
    }
    const std::uint64_t available = file_size_ - info_.data_offset;  // checked by the caller
    if (expected < available) {
      const std::uint64_t extra = available - expected;
      fail(ErrorCode::kCorrupt, origin_, ": the tensors end at data byte ", expected,
           " (file byte ", info_.data_offset + expected, "), but the file has ", extra,
           extra == 1 ? " more byte" : " more bytes",
           "; a safetensors file must end with its "
           "last tensor");
    }
    if (expected > available) {
      fail(ErrorCode::kCorrupt, origin_, ": the tensors need ", expected,
           " bytes of data after the header, but the file has ", available,
           " (the file is truncated, or the offsets are wrong)");
    }
  }

  std::string_view text_;
  std::uint64_t file_size_;
  const std::string& origin_;
  SafetensorsInfo info_;
  json::document* document_ = nullptr;
  std::optional<std::string_view> context_;  // the entry being parsed, for syntax errors
};

}  // namespace

bool is_valid_utf8(std::string_view text) {
  return simdjson::validate_utf8(text.data(), text.size());
}

bool looks_like_safetensors(std::span<const std::byte> head, std::uint64_t file_size) {
  if (head.size() <= kLengthBytes || file_size < head.size()) return false;
  const std::uint64_t length = little_endian_u64(head.data());
  if (length < 2) return false;  // "{}" at least
  // A damaged or truncated file still counts when its length is within the format's
  // limit; beyond it, the length must at least fit the file.
  if (length > limits::kMaxSafetensorsHeaderBytes && length > file_size - kLengthBytes) {
    return false;
  }
  for (std::size_t i = kLengthBytes; i < head.size(); ++i) {
    if (is_json_space(head[i])) continue;
    return head[i] == std::byte{'{'} && i - kLengthBytes < length;
  }
  return false;
}

SafetensorsInfo read_info(const io::ByteSource& source) {
  const std::uint64_t size = source.size();
  const std::string origin = source.describe();
  if (size < kLengthBytes) {
    fail(ErrorCode::kCorrupt, origin,
         ": a safetensors file starts with an 8-byte header length, "
         "but the file has ",
         size, " bytes");
  }
  std::byte length_bytes[kLengthBytes];
  source.read_at(0, length_bytes);
  const std::uint64_t length = little_endian_u64(length_bytes);
  if (length > limits::kMaxSafetensorsHeaderBytes) {
    fail(ErrorCode::kLimit, origin, ": the safetensors header length is ", length,
         " bytes, more than the limit of ", limits::kMaxSafetensorsHeaderBytes,
         " (kMaxSafetensorsHeaderBytes, as the reference implementation)");
  }
  if (length > size - kLengthBytes) {
    fail(ErrorCode::kCorrupt, origin, ": the safetensors header length is ", length,
         " bytes, so the header would end at file byte ", kLengthBytes + length,
         ", past the end of the file (", size, " bytes)");
  }
  // simdjson reads up to SIMDJSON_PADDING bytes past the text (never using them).
  const auto text_length = static_cast<std::size_t>(length);
  std::unique_ptr<char[]> buffer(new char[text_length + simdjson::SIMDJSON_PADDING]);
  std::memset(buffer.get() + text_length, 0, simdjson::SIMDJSON_PADDING);
  source.read_at(kLengthBytes, std::as_writable_bytes(std::span(buffer.get(), text_length)));
  return HeaderParser(std::string_view(buffer.get(), text_length), size, origin).parse();
}

}  // namespace mnemo::safetensors
