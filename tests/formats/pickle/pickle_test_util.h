// Helpers for the pickle tests: a builder of hand-written pickles (one call per opcode,
// operands encoded by hand, independent of the pickler under test), a StorageLoader that
// makes zero-filled storages, and golden data.pkl files written by PyTorch 1.13.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <utility>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/pickle/opcodes.h"
#include "formats/pickle/pickler.h"
#include "formats/pickle/unpickler.h"
#include "mnemo/core/error.h"

namespace mnemo::pickle::testing {

class PickleBuilder {
 public:
  PickleBuilder& op(Op o) { return byte(static_cast<std::uint8_t>(o)); }
  PickleBuilder& byte(std::uint8_t b) {
    bytes_.push_back(static_cast<std::byte>(b));
    return *this;
  }
  PickleBuilder& bytes(std::initializer_list<std::uint8_t> list) {
    for (std::uint8_t b : list) byte(b);
    return *this;
  }
  PickleBuilder& text(std::string_view s) {
    for (char c : s) byte(static_cast<std::uint8_t>(c));
    return *this;
  }
  PickleBuilder& le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) byte(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }

  PickleBuilder& proto(int version = 2) { return op(Op::kProto).byte(static_cast<std::uint8_t>(version)); }
  PickleBuilder& stop() { return op(Op::kStop); }
  PickleBuilder& mark() { return op(Op::kMark); }
  PickleBuilder& none() { return op(Op::kNone); }
  PickleBuilder& binint(std::int32_t v) { return op(Op::kBinInt).le(static_cast<std::uint32_t>(v), 4); }
  PickleBuilder& binint1(std::uint8_t v) { return op(Op::kBinInt1).byte(v); }
  PickleBuilder& binint2(std::uint16_t v) { return op(Op::kBinInt2).le(v, 2); }
  PickleBuilder& binfloat(double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, 8);
    op(Op::kBinFloat);
    for (int i = 7; i >= 0; --i) byte(static_cast<std::uint8_t>(bits >> (8 * i)));
    return *this;
  }
  PickleBuilder& unicode(std::string_view s) { return op(Op::kBinUnicode).le(s.size(), 4).text(s); }
  PickleBuilder& short_unicode(std::string_view s) {
    return op(Op::kShortBinUnicode).byte(static_cast<std::uint8_t>(s.size())).text(s);
  }
  PickleBuilder& global(std::string_view module, std::string_view name) {
    return op(Op::kGlobal).text(module).text("\n").text(name).text("\n");
  }
  PickleBuilder& put(std::uint8_t i) { return op(Op::kBinPut).byte(i); }
  PickleBuilder& get(std::uint8_t i) { return op(Op::kBinGet).byte(i); }

  // A tensor as torch.save writes it: _rebuild_tensor_v2((pid), offset, size, stride,
  // requires_grad, OrderedDict()), without memo entries.
  PickleBuilder& tensor(std::string_view storage_class, std::string_view key, int numel,
                        int offset, std::initializer_list<int> sizes,
                        std::initializer_list<int> strides, bool requires_grad = false,
                        std::string_view location = "cpu") {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    storage_pid(storage_class, key, numel, location).op(Op::kBinPersId);
    binint(offset);
    int_tuple(sizes).int_tuple(strides);
    op(requires_grad ? Op::kNewTrue : Op::kNewFalse);
    global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kReduce);
    return op(Op::kTuple).op(Op::kReduce);
  }
  PickleBuilder& storage_pid(std::string_view storage_class, std::string_view key, int numel,
                             std::string_view location = "cpu") {
    mark().unicode("storage").global("torch", storage_class).unicode(key).unicode(location);
    return binint(numel).op(Op::kTuple);
  }
  PickleBuilder& int_tuple(std::initializer_list<int> values) {
    mark();
    for (int v : values) binint(v);
    return op(Op::kTuple);
  }

  std::span<const std::byte> span() const { return bytes_; }
  const std::vector<std::byte>& data() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

// Makes a zero-filled storage per key, and returns the same one when a key repeats.
class ZeroStorages {
 public:
  // A reference as the loader saw it, with its texts copied (StorageRef's are views that
  // end with the call).
  struct Seen {
    DType dtype;
    bool untyped;
    std::string key;
    std::string location;
    std::int64_t numel;
    std::uint64_t byte_offset;
  };

  Storage operator()(const StorageRef& ref) {
    refs.push_back({ref.dtype, ref.untyped, std::string(ref.key), std::string(ref.location),
                    ref.numel, ref.byte_offset});
    auto it = storages.find(ref.key);
    if (it != storages.end()) return it->second;
    const std::size_t nbytes = static_cast<std::size_t>(ref.numel) * element_size(ref.dtype);
    // A real loader checks the size against its record; this one against a test's needs.
    if (nbytes > (std::size_t{64} << 20)) fail(ErrorCode::kCorrupt, "test storage too large");
    return storages.emplace(std::string(ref.key), Storage::allocate_zeroed(nbytes)).first->second;
  }
  StorageLoader loader() {
    return [this](const StorageRef& ref) { return (*this)(ref); };
  }
  std::map<std::string, Storage, std::less<>> storages;
  std::vector<Seen> refs;
};

// Names storages as torch.save does: keys "0", "1", ... by storage identity in order of
// first appearance, the tensor's device as location, the whole storage's element count.
class KeysByStorage {
 public:
  StorageId operator()(const Tensor& tensor) {
    ++calls;
    const std::int64_t numel =
        static_cast<std::int64_t>(tensor.storage().nbytes() / tensor.element_size());
    location_ = tensor.device().str();
    auto& same_address = seen_[tensor.storage().data()];
    for (const Named& named : same_address) {
      if (named.storage.is_same(tensor.storage())) {
        return {named.key, location_, numel, named.number};
      }
    }
    const Named& named =
        same_address.emplace_back(Named{tensor.storage(), std::to_string(count_), count_});
    ++count_;
    return {named.key, location_, numel, named.number};
  }
  StorageNamer namer() {
    return [this](const Tensor& tensor) { return (*this)(tensor); };
  }
  int calls = 0;

 private:
  struct Named {
    Storage storage;
    std::string key;
    std::size_t number;
  };
  std::unordered_map<const std::byte*, std::vector<Named>> seen_;
  std::size_t count_ = 0;
  std::string location_;  // of the last storage named
};

// A "billion laughs": 1000 references to a list of 1000 references to a list of 1000
// Nones, a few kilobytes that would expand to 10^9 values.
inline PickleBuilder billion_laughs() {
  PickleBuilder laughs;
  laughs.proto().mark();
  for (int i = 0; i < 1000; ++i) laughs.none();
  laughs.op(Op::kList).put(0).op(Op::kPop).mark();
  for (int i = 0; i < 1000; ++i) laughs.get(0);
  laughs.op(Op::kList).put(1).op(Op::kPop).mark();
  for (int i = 0; i < 1000; ++i) laughs.get(1);
  laughs.op(Op::kList).stop();
  return laughs;
}

// A list of `references` references to one str of 1 MiB: 2100 of them would make
// 2.1 GiB of text.
inline PickleBuilder shared_text(int references) {
  PickleBuilder text;
  text.proto().unicode(std::string(1 << 20, 'x')).put(0).op(Op::kPop).mark();
  for (int i = 0; i < references; ++i) text.get(0);
  text.op(Op::kList).stop();
  return text;
}

inline std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out += kDigits[static_cast<std::uint8_t>(b) >> 4];
    out += kDigits[static_cast<std::uint8_t>(b) & 15];
  }
  return out;
}

inline Value read(const PickleBuilder& b, UnpickleOptions options = {}) {
  ZeroStorages storages;
  return unpickle(b.span(), storages.loader(), options).value;
}

inline std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Runs `fn`; passes when it throws a mnemo::Error of `code` whose message holds every
// one of `parts`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, ErrorCode code,
                                               std::initializer_list<std::string_view> parts) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.code() != code) {
      return ::testing::AssertionFailure() << "code " << error_code_name(e.code()) << ", expected "
                                           << error_code_name(code) << ": " << e.what();
    }
    for (std::string_view part : parts) {
      if (std::string_view(e.what()).find(part) == std::string_view::npos) {
        return ::testing::AssertionFailure() << "message lacks '" << part << "': " << e.what();
      }
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "not a mnemo::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing thrown";
}

}  // namespace mnemo::pickle::testing
