// The unpickler's fast path for torch.save's tensors (tensor_pattern.h) gives what the
// general path gives, on PyTorch's own pickles and on mnemo's; a pickle that fetches an
// argument the fast path did not build is read again in full; bad bytes in the pattern
// get the general path's message.
#include "formats/pickle/tensor_pattern.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "formats/pickle/pickle_test_util.h"
#include "formats/pickle/torch_golden_pickles.h"

namespace mnemo::pickle::testing {
namespace {

// Everything a Value says, tensors included: their dtype, geometry, flag and which
// storage (numbered in order of appearance) they view.
class Describer {
 public:
  std::string operator()(const Value& v) {
    switch (v.type()) {
      case ValueType::kTensor: {
        const Tensor& t = v.as_tensor();
        const auto [it, added] = storages_.try_emplace(t.storage().data(), storages_.size());
        return std::string("tensor(") + std::string(dtype_name(t.dtype())) + " size " +
               shape_text(t.sizes()) + " stride " + shape_text(t.strides()) + " offset " +
               std::to_string(t.storage_offset()) + (t.requires_grad() ? " grad" : "") +
               " storage#" + std::to_string(it->second) + " of " +
               std::to_string(t.storage().nbytes()) + ")";
      }
      case ValueType::kList: {
        std::string out = "[";
        for (const Value& item : v.as_list()) out += (*this)(item) + ", ";
        return out + "]";
      }
      case ValueType::kTuple: {
        std::string out = "(";
        for (const Value& item : v.as_tuple()) out += (*this)(item) + ", ";
        return out + ")";
      }
      case ValueType::kDict: {
        const Dict& d = v.as_dict();
        std::string out = d.is_ordered_dict() ? "OrderedDict{" : "{";
        for (const auto& [key, value] : d) out += key_repr(key) + ": " + (*this)(value) + ", ";
        if (d.attributes()) out += "attributes " + (*this)(Value(*d.attributes()));
        return out + "}";
      }
      default:
        return v.repr();
    }
  }

 private:
  static std::string shape_text(const Shape& shape) {
    std::string out = "[";
    for (std::int64_t n : shape) out += std::to_string(n) + ",";
    return out + "]";
  }
  std::map<const std::byte*, std::size_t> storages_;
};

struct Read {
  std::string described;
  std::size_t loader_calls;
};

Read read_with(std::span<const std::byte> pickle, bool fast) {
  ZeroStorages storages;
  const Value v = unpickle(pickle, storages.loader(), {.fast_tensors = fast}).value;
  return {Describer()(v), storages.refs.size()};
}

void expect_same_both_ways(std::span<const std::byte> pickle) {
  const Read fast = read_with(pickle, true);
  const Read general = read_with(pickle, false);
  EXPECT_EQ(fast.described, general.described);
}

TEST(TensorPattern, PyTorchPicklesReadTheSameBothWays) {
  expect_same_both_ways(from_hex(kStateDictPickle));
  expect_same_both_ways(from_hex(kCheckpointPickle));
}

TEST(TensorPattern, MnemoPicklesReadTheSameBothWays) {
  const Tensor base = arange(24, {.dtype = DType::kFloat32}).reshape({2, 3, 4});
  Dict model;
  model.set_ordered_dict(true);
  model.insert_or_assign(std::string("base"), base);
  model.insert_or_assign(std::string("transposed"), base.transpose(0, 2));
  model.insert_or_assign(std::string("slice"), base.select(0, 1));
  model.insert_or_assign(std::string("tied"), base);
  Tensor grad = ones({3}, {.dtype = DType::kFloat64});
  grad.set_requires_grad(true);
  model.insert_or_assign(std::string("grad"), grad);
  model.insert_or_assign(std::string("scalar"), full({}, 7, {.dtype = DType::kInt64}));
  model.insert_or_assign(std::string("empty"), zeros({0, 3}));
  model.insert_or_assign(std::string("rank5"), zeros({1, 2, 1, 2, 1}, {.dtype = DType::kFloat16}));
  model.insert_or_assign(std::string("flags"), zeros({4}, {.dtype = DType::kBool}));
  List many;  // past 256 memo entries: LONG_BINPUT and LONG_BINGET
  for (int i = 0; i < 300; ++i) many.push_back(full({2}, i, {.dtype = DType::kInt32}));
  const Value checkpoint =
      Dict{{std::string("model"), model}, {std::string("many"), many}, {std::string("epoch"), 3}};
  KeysByStorage keys;
  const std::vector<std::byte> bytes = pickle::pickle(checkpoint, keys.namer());
  expect_same_both_ways(bytes);
  const Read fast = read_with(bytes, true);
  EXPECT_EQ(fast.loader_calls, read_with(bytes, false).loader_calls);  // read once
}

// [t0, t1, <t1's size tuple, fetched from the memo>] with torch.save's memo entries: t1
// takes the fast path, whose size tuple is a placeholder, so the fetch reads it again.
PickleBuilder fetches_a_skipped_tuple(bool fetch) {
  PickleBuilder b;
  b.proto().op(Op::kEmptyList).put(0).mark();
  b.global("torch._utils", "_rebuild_tensor_v2").put(1).mark();
  b.mark().unicode("storage").put(2).global("torch", "FloatStorage").put(3);
  b.unicode("0").put(4).unicode("cpu").put(5).binint1(6).op(Op::kTuple).put(6);
  b.op(Op::kBinPersId).binint1(0);
  b.binint1(2).binint1(3).op(Op::kTuple2).put(7).binint1(3).binint1(1).op(Op::kTuple2).put(8);
  b.op(Op::kNewFalse).global("collections", "OrderedDict").put(9);
  b.op(Op::kEmptyTuple).op(Op::kReduce).put(10).op(Op::kTuple).put(11).op(Op::kReduce).put(12);
  b.get(1).mark();  // t1, as torch.save writes the tensors after the first
  b.mark().get(2).get(3).unicode("1").put(13).get(5).binint1(4).op(Op::kTuple).put(14);
  b.op(Op::kBinPersId).binint1(0);
  b.binint1(4).op(Op::kTuple1).put(15).binint1(1).op(Op::kTuple1).put(16);
  b.op(Op::kNewTrue).get(9).op(Op::kEmptyTuple).op(Op::kReduce).put(17);
  b.op(Op::kTuple).put(18).op(Op::kReduce).put(19);
  if (fetch) b.get(15);
  return b.op(Op::kAppends).stop();
}

TEST(TensorPattern, AFetchedArgumentIsReadAgainInFull) {
  const PickleBuilder plain = fetches_a_skipped_tuple(false);
  EXPECT_EQ(read_with(plain.span(), true).loader_calls, 2u);  // no second reading

  const PickleBuilder fetching = fetches_a_skipped_tuple(true);
  const Read fast = read_with(fetching.span(), true);
  const Read general = read_with(fetching.span(), false);
  EXPECT_EQ(fast.described, general.described);
  // The fast path took t1, met the fetch of its size tuple and started again.
  EXPECT_EQ(fast.loader_calls, 4u);
  EXPECT_EQ(general.loader_calls, 2u);
  const List list = read(fetching).as_list();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].as_tensor().sizes(), (Shape{4}));
  EXPECT_TRUE(list[1].as_tensor().requires_grad());
  EXPECT_EQ(list[2].repr(), "(4,)");
}

// The pattern with t1's stride replaced: the fast path declines, and the general path
// reports the bytes as it always did.
std::string error_of(std::span<const std::byte> pickle, bool fast) {
  try {
    ZeroStorages storages;
    unpickle(pickle, storages.loader(), {.origin = "t", .fast_tensors = fast});
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(TensorPattern, BadTensorsGetTheGeneralPathsMessage) {
  for (const std::uint8_t stride : {7, 200}) {  // 4 elements of stride 7 overrun 4 floats
    PickleBuilder b = fetches_a_skipped_tuple(false);
    std::vector<std::byte> bytes(b.data());
    // t1's stride is the BININT1 1 before its TUPLE1 and BINPUT 16.
    const std::vector<std::byte> stride_tuple = {std::byte{'K'}, std::byte{1}, std::byte{0x85},
                                                 std::byte{'q'}, std::byte{16}};
    const auto at =
        std::search(bytes.begin(), bytes.end(), stride_tuple.begin(), stride_tuple.end());
    ASSERT_NE(at, bytes.end());
    at[1] = std::byte{stride};
    const std::string fast = error_of(bytes, true);
    EXPECT_EQ(fast, error_of(bytes, false));
    EXPECT_NE(fast.find("reaches outside storage '1'"), std::string::npos) << fast;
  }
}

// t1's size and stride tuples written with MARK and TUPLE, each ending in a negative
// BININT: the fast path must refuse the whole tuple, not read it as one int shorter
// (a shape of (2,) that fits its storage).
TEST(TensorPattern, ANegativeIntRefusesItsWholeTuple) {
  PickleBuilder b = fetches_a_skipped_tuple(false);
  std::vector<std::byte> bytes(b.data());
  const auto replace = [&](std::vector<std::uint8_t> from, std::vector<std::uint8_t> to) {
    const auto as_bytes = [](const std::vector<std::uint8_t>& v) {
      std::vector<std::byte> out;
      for (std::uint8_t x : v) out.push_back(std::byte{x});
      return out;
    };
    const std::vector<std::byte> needle = as_bytes(from);
    const auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
    ASSERT_NE(at, bytes.end());
    const std::vector<std::byte> with = as_bytes(to);
    bytes.insert(bytes.erase(at, at + static_cast<std::ptrdiff_t>(needle.size())), with.begin(),
                 with.end());
  };
  // (4,) -> (2, -1) and (1,) -> (1, -1): BININT1 n TUPLE1 BINPUT k becomes
  // MARK BININT1 n BININT -1 TUPLE BINPUT k.
  replace({'K', 4, 0x85, 'q', 15}, {'(', 'K', 2, 'J', 0xff, 0xff, 0xff, 0xff, 't', 'q', 15});
  replace({'K', 1, 0x85, 'q', 16}, {'(', 'K', 1, 'J', 0xff, 0xff, 0xff, 0xff, 't', 'q', 16});
  const std::string fast = error_of(bytes, true);
  EXPECT_EQ(fast, error_of(bytes, false));
  EXPECT_NE(fast.find("negative"), std::string::npos) << fast;
}

TEST(TensorPattern, MatchesOnlyTheWholePattern) {
  const PickleBuilder b = fetches_a_skipped_tuple(false);
  const std::vector<std::byte>& bytes = b.data();
  // t1's MARK follows its BINGET of the rebuild function: h 0x01 (.
  const std::vector<std::byte> start = {std::byte{'h'}, std::byte{1}, std::byte{'('}};
  const auto at = std::search(bytes.begin(), bytes.end(), start.begin(), start.end());
  ASSERT_NE(at, bytes.end());
  const auto pos = static_cast<std::size_t>(at - bytes.begin()) + 2;
  detail::TensorPattern found;
  ASSERT_TRUE(detail::match_tensor_pattern(bytes, pos, found));
  EXPECT_EQ(found.key.text, "1");
  EXPECT_EQ(found.tag.fetched, 2u);
  EXPECT_EQ(found.sizes.size, 1u);
  EXPECT_EQ(found.sizes.items[0], 4);
  EXPECT_EQ(found.sizes.put, 15u);
  EXPECT_TRUE(found.requires_grad);
  EXPECT_EQ(found.tensor_put, 19u);
  EXPECT_EQ(static_cast<Op>(bytes[found.end]), Op::kAppends);
  // Every prefix is too short to match.
  for (std::size_t end = pos; end < found.end; ++end) {
    detail::TensorPattern cut;
    EXPECT_FALSE(detail::match_tensor_pattern(std::span(bytes).first(end), pos, cut)) << end;
  }
}

// {'a': t0, <key 1>: t1, 'c': t2} with torch.save's memo entries, then two items that
// fetch what the fast path memoised: t1's key and t2. t1 and t2 are the items a state_dict
// is made of after its first (read_tensor_items): a str key, its BINPUT, the fetch of
// _rebuild_tensor_v2, the pattern.
PickleBuilder state_dict_items(std::string_view key1 = "b", std::uint8_t key1_put = 14) {
  PickleBuilder b;
  b.proto().op(Op::kEmptyDict).put(0).mark();
  b.unicode("a").put(1).global("torch._utils", "_rebuild_tensor_v2").put(2).mark();
  b.mark().unicode("storage").put(3).global("torch", "FloatStorage").put(4);
  b.unicode("0").put(5).unicode("cpu").put(6).binint1(4).op(Op::kTuple).put(7);
  b.op(Op::kBinPersId).binint1(0);
  b.binint1(4).op(Op::kTuple1).put(8).binint1(1).op(Op::kTuple1).put(9);
  b.op(Op::kNewFalse).global("collections", "OrderedDict").put(10);
  b.op(Op::kEmptyTuple).op(Op::kReduce).put(11).op(Op::kTuple).put(12).op(Op::kReduce).put(13);
  const auto item = [&](std::string_view key, std::uint8_t key_put, std::string_view storage,
                        std::uint8_t first) {
    b.unicode(key).put(key_put).get(2).mark();
    b.mark().get(3).get(4).unicode(storage).put(first).get(6).binint1(6).op(Op::kTuple);
    b.put(first + 1).op(Op::kBinPersId).binint1(0);
    b.binint1(2).binint1(3).op(Op::kTuple2).put(first + 2);
    b.binint1(3).binint1(1).op(Op::kTuple2).put(first + 3);
    b.op(Op::kNewTrue).get(10).op(Op::kEmptyTuple).op(Op::kReduce).put(first + 4);
    b.op(Op::kTuple).put(first + 5).op(Op::kReduce).put(first + 6);
  };
  item(key1, key1_put, "1", 15);
  b.short_unicode("c").put(22);
  b.get(2).mark();  // t2 with a SHORT_BINUNICODE key, its pattern as t1's
  b.mark().get(3).get(4).unicode("2").put(23).get(6).binint1(6).op(Op::kTuple).put(24);
  b.op(Op::kBinPersId).binint1(0).binint1(2).binint1(3).op(Op::kTuple2).put(25);
  b.binint1(3).binint1(1).op(Op::kTuple2).put(26).op(Op::kNewFalse).get(10);
  b.op(Op::kEmptyTuple).op(Op::kReduce).put(27).op(Op::kTuple).put(28).op(Op::kReduce).put(29);
  b.op(Op::kSetItems);
  b.unicode("again").get(key1_put).op(Op::kSetItem);
  b.unicode("tied").get(29).op(Op::kSetItem);
  return b.stop();
}

TEST(TensorPattern, StateDictItemsReadTheSameBothWays) {
  const PickleBuilder items = state_dict_items();
  expect_same_both_ways(items.span());
  const Dict dict = read(items).as_dict();
  ASSERT_EQ(dict.size(), 5u);
  EXPECT_EQ(dict.at(std::string("again")).as_string(), "b");  // the key, memoised
  const Tensor& b = dict.at(std::string("b")).as_tensor();
  EXPECT_EQ(b.sizes(), (Shape{2, 3}));
  EXPECT_EQ(b.strides(), (Shape{3, 1}));
  EXPECT_TRUE(b.requires_grad());
  const Tensor& tied = dict.at(std::string("tied")).as_tensor();
  EXPECT_TRUE(tied.storage().is_same(dict.at(std::string("c")).as_tensor().storage()));

  // A key put out of order, and one that is not UTF-8: the general path reads them, and
  // refuses the second with its message.
  expect_same_both_ways(state_dict_items("b", 200).span());
  EXPECT_EQ(read(state_dict_items("b", 200)).as_dict().at(std::string("again")).as_string(), "b");
  const PickleBuilder bad = state_dict_items("\xff");
  const std::string fast = error_of(bad.span(), true);
  EXPECT_EQ(fast, error_of(bad.span(), false));
  EXPECT_NE(fast.find("invalid UTF-8"), std::string::npos) << fast;
}

TEST(TensorPattern, MatchesAnItemUpToItsPattern) {
  const PickleBuilder b = state_dict_items();
  const std::vector<std::byte>& bytes = b.data();
  // t1's item: X, its length, 'b', q 14, h 2, (.
  const std::vector<std::byte> start = {std::byte{'X'}, std::byte{1},   std::byte{0},  std::byte{0},
                                        std::byte{0},   std::byte{'b'}, std::byte{'q'}};
  const auto at = std::search(bytes.begin(), bytes.end(), start.begin(), start.end());
  ASSERT_NE(at, bytes.end());
  const auto pos = static_cast<std::size_t>(at - bytes.begin());
  detail::TensorItem item;
  ASSERT_TRUE(detail::match_tensor_item(bytes, pos, item));
  EXPECT_EQ(item.key, "b");
  EXPECT_EQ(item.key_put, 14u);
  EXPECT_EQ(item.rebuild, 2u);
  EXPECT_EQ(item.pattern, pos + 10);
  EXPECT_EQ(static_cast<Op>(bytes[item.pattern]), Op::kMark);
  for (std::size_t end = pos; end <= item.pattern; ++end) {
    detail::TensorItem cut;
    EXPECT_FALSE(detail::match_tensor_item(std::span(bytes).first(end), pos, cut)) << end;
  }
  // A key fetched from the memo, or a str not followed by the fetch and a MARK, is no item.
  PickleBuilder fetched;
  fetched.get(1).put(3).get(2).mark();
  EXPECT_FALSE(detail::match_tensor_item(fetched.data(), 0, item));
  PickleBuilder no_mark;
  no_mark.unicode("k").put(3).get(2).none();
  EXPECT_FALSE(detail::match_tensor_item(no_mark.data(), 0, item));
}

}  // namespace
}  // namespace mnemo::pickle::testing
