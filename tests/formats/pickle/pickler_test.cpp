// The pickler writes protocol 2 byte for byte as torch.save in PyTorch 1.13: checked
// opcode by opcode against hand-written expectations, against data.pkl files PyTorch
// wrote (golden), and for each memo rule of pickler.h.
#include "formats/pickle/pickler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "formats/pickle/globals.h"
#include "formats/pickle/pickle_test_util.h"
#include "formats/pickle/torch_golden_pickles.h"
#include "mnemo/core/state_dict.h"

namespace mnemo::pickle::testing {
namespace {

std::string pickled(const Value& value) {
  KeysByStorage keys;
  return to_hex(pickle(value, keys.namer()));
}

// PROTO 2 <body> STOP, as hex.
std::string expected(const std::function<void(PickleBuilder&)>& body) {
  PickleBuilder b;
  b.proto();
  body(b);
  b.stop();
  return to_hex(b.span());
}

TEST(Pickler, IntsTakeTheSmallestOpcode) {
  EXPECT_EQ(pickled(0), expected([](PickleBuilder& b) { b.binint1(0); }));
  EXPECT_EQ(pickled(255), expected([](PickleBuilder& b) { b.binint1(255); }));
  EXPECT_EQ(pickled(256), expected([](PickleBuilder& b) { b.binint2(256); }));
  EXPECT_EQ(pickled(65535), expected([](PickleBuilder& b) { b.binint2(65535); }));
  EXPECT_EQ(pickled(65536), expected([](PickleBuilder& b) { b.binint(65536); }));
  EXPECT_EQ(pickled(-1), expected([](PickleBuilder& b) { b.binint(-1); }));
  EXPECT_EQ(pickled(std::numeric_limits<std::int32_t>::min()),
            expected([](PickleBuilder& b) { b.binint(std::numeric_limits<std::int32_t>::min()); }));
  // Outside int32: LONG1 with minimal two's complement (CPython's bytes, verified).
  EXPECT_EQ(pickled(std::int64_t{1} << 31), "80028a0500000080002e");
  EXPECT_EQ(pickled(-(std::int64_t{1} << 31) - 1), "80028a05ffffff7fff2e");
  EXPECT_EQ(pickled(std::numeric_limits<std::int64_t>::min()), "80028a0800000000000000802e");
  EXPECT_EQ(pickled(std::uint64_t{1} << 63), "80028a090000000000000080002e");
  std::vector<std::uint8_t> huge(300, 0);
  huge.back() = 1;  // 2**(8*299): LONG4
  const std::string text = pickled(BigInt::from_le_bytes(huge));
  EXPECT_EQ(text.substr(0, 14), "80028b2c010000");
}

TEST(Pickler, ScalarsStringsAndBytes) {
  EXPECT_EQ(pickled(none), "80024e2e");
  EXPECT_EQ(pickled(true), "8002882e");
  EXPECT_EQ(pickled(false), "8002892e");
  EXPECT_EQ(pickled(1.5), "8002473ff80000000000002e");
  EXPECT_EQ(pickled(-0.0), "8002478000000000000000" "2e");
  EXPECT_EQ(pickled("h\xc3\xa9"), expected([](PickleBuilder& b) { b.unicode("h\xc3\xa9").put(0); }));
  EXPECT_EQ(pickled(Bytes{}), expected([](PickleBuilder& b) {
              b.global("__builtin__", "bytes").put(0).op(Op::kEmptyTuple).op(Op::kReduce).put(1);
            }));
  EXPECT_EQ(pickled(Bytes{0x00, 0xff}), expected([](PickleBuilder& b) {
              b.global("_codecs", "encode").put(0).unicode(std::string("\0\xc3\xbf", 3)).put(1);
              b.unicode("latin1").put(2).op(Op::kTuple2).put(3).op(Op::kReduce).put(4);
            }));
}

// A list, a dict and an OrderedDict of `n` zeros, the dicts keyed 0 .. n - 1.
struct ZeroContainers {
  List list;
  Dict dict;
  Dict ordered;
};
ZeroContainers zero_containers(int n) {
  ZeroContainers z;
  z.ordered.set_ordered_dict(true);
  for (int i = 0; i < n; ++i) {
    z.list.push_back(0);
    z.dict.insert_or_assign(i, 0);
    z.ordered.insert_or_assign(i, 0);
  }
  return z;
}

// The items `from` .. `to` - 1 of zero_containers()'s dicts, as the pickler writes them.
void zero_items(PickleBuilder& b, int from, int to) {
  for (int i = from; i < to; ++i) {
    if (i < 256) b.binint1(static_cast<std::uint8_t>(i)); else b.binint2(static_cast<std::uint16_t>(i));
    b.binint1(0);
  }
}

TEST(Pickler, TuplesListsAndDictsAsCPythonBatchesThem) {
  EXPECT_EQ(pickled(Tuple{}), expected([](PickleBuilder& b) { b.op(Op::kEmptyTuple); }));
  EXPECT_EQ(pickled(Tuple{1, 2, 3}), expected([](PickleBuilder& b) {
              b.binint1(1).binint1(2).binint1(3).op(Op::kTuple3).put(0);
            }));
  EXPECT_EQ(pickled(Tuple{1, 2, 3, 4}), expected([](PickleBuilder& b) {
              b.mark().binint1(1).binint1(2).binint1(3).binint1(4).op(Op::kTuple).put(0);
            }));
  EXPECT_EQ(pickled(List{}), expected([](PickleBuilder& b) { b.op(Op::kEmptyList).put(0); }));
  EXPECT_EQ(pickled(List{7}), expected([](PickleBuilder& b) {
              b.op(Op::kEmptyList).put(0).binint1(7).op(Op::kAppend);
            }));
  EXPECT_EQ(pickled(Dict{{1, none}}), expected([](PickleBuilder& b) {
              b.op(Op::kEmptyDict).put(0).binint1(1).none().op(Op::kSetItem);
            }));
  // 1001 items: two batches; a dict subclass (OrderedDict) ends with a lone SETITEM.
  const auto [list, dict, ordered] = zero_containers(1001);
  EXPECT_EQ(pickled(list), expected([](PickleBuilder& b) {
              b.op(Op::kEmptyList).put(0).mark();
              for (int i = 0; i < 1000; ++i) b.binint1(0);
              b.op(Op::kAppends).mark().binint1(0).op(Op::kAppends);
            }));
  EXPECT_EQ(pickled(dict), expected([&](PickleBuilder& b) {
              b.op(Op::kEmptyDict).put(0).mark();
              zero_items(b, 0, 1000);
              b.op(Op::kSetItems).mark();
              zero_items(b, 1000, 1001);
              b.op(Op::kSetItems);
            }));
  EXPECT_EQ(pickled(ordered), expected([&](PickleBuilder& b) {
              b.global("collections", "OrderedDict").put(0).op(Op::kEmptyTuple).op(Op::kReduce).put(1);
              b.mark();
              zero_items(b, 0, 1000);
              b.op(Op::kSetItems);
              zero_items(b, 1000, 1001);
              b.op(Op::kSetItem);
            }));
}

TEST(Pickler, FullBatchesOfAnExactDictEndWithAnEmptyOne) {
  // CPython's loop over an exact dict runs once more after a full batch of 1000: a dict
  // of 1000 items ends with an empty MARK SETITEMS. A list's loop and a dict subclass's
  // do not.
  const auto [list, dict, ordered] = zero_containers(1000);
  EXPECT_EQ(pickled(dict), expected([&](PickleBuilder& b) {
              b.op(Op::kEmptyDict).put(0).mark();
              zero_items(b, 0, 1000);
              b.op(Op::kSetItems).mark().op(Op::kSetItems);
            }));
  EXPECT_EQ(pickled(list), expected([](PickleBuilder& b) {
              b.op(Op::kEmptyList).put(0).mark();
              for (int i = 0; i < 1000; ++i) b.binint1(0);
              b.op(Op::kAppends);
            }));
  EXPECT_EQ(pickled(ordered), expected([&](PickleBuilder& b) {
              b.global("collections", "OrderedDict").put(0).op(Op::kEmptyTuple).op(Op::kReduce).put(1);
              b.mark();
              zero_items(b, 0, 1000);
              b.op(Op::kSetItems);
            }));
}

TEST(Pickler, MemoIndicesFrom256UseLongBinput) {
  List names;
  for (int i = 0; i < 300; ++i) names.push_back("n." + std::to_string(i));  // never interned
  const std::string hex = pickled(names);
  EXPECT_NE(hex.find(to_hex(PickleBuilder().op(Op::kBinPut).byte(255).span())), std::string::npos);
  EXPECT_NE(hex.find(to_hex(PickleBuilder().op(Op::kLongBinPut).le(256, 4).span())), std::string::npos);
  EXPECT_NE(hex.find(to_hex(PickleBuilder().op(Op::kLongBinPut).le(300, 4).span())), std::string::npos);
}

TEST(Pickler, StorageClassForEveryDType) {
  const std::pair<DType, const char*> expected_classes[] = {
      {DType::kFloat64, "DoubleStorage"}, {DType::kFloat32, "FloatStorage"},
      {DType::kFloat16, "HalfStorage"},   {DType::kBFloat16, "BFloat16Storage"},
      {DType::kInt64, "LongStorage"},     {DType::kInt32, "IntStorage"},
      {DType::kInt16, "ShortStorage"},    {DType::kInt8, "CharStorage"},
      {DType::kUInt8, "ByteStorage"},     {DType::kBool, "BoolStorage"},
      {DType::kComplex128, "ComplexDoubleStorage"}, {DType::kComplex64, "ComplexFloatStorage"},
  };
  for (const auto& [dtype, name] : expected_classes) {
    EXPECT_EQ(storage_class_name(dtype), std::string_view(name));
    const std::string hex = pickled(zeros({1}, {.dtype = dtype}));
    EXPECT_NE(hex.find(to_hex(PickleBuilder().global("torch", name).span())), std::string::npos);
  }
}

// The state_dict of the golden file, built in C++: the pickle is PyTorch's, byte for byte.
TEST(Pickler, StateDictIsByteIdenticalToPyTorch) {
  StateDict sd;
  sd.insert("0.weight", zeros({3, 2}));
  sd.insert("0.bias", zeros({3}));
  sd.insert("1.weight", zeros({3}));
  sd.insert("1.bias", zeros({3}));
  sd.insert("1.running_mean", zeros({3}));
  sd.insert("1.running_var", zeros({3}));
  sd.insert("1.num_batches_tracked", zeros({}, {.dtype = DType::kInt64}));
  sd.set_version("", 1);
  sd.set_version("0", 1);
  sd.set_version("1", 2);
  KeysByStorage keys;
  EXPECT_EQ(to_hex(pickle(Value(sd), keys.namer())), std::string(kStateDictPickle));
  EXPECT_EQ(keys.calls, 7);
}

TEST(Pickler, RoundTripOfPyTorchCheckpointIsByteIdentical) {
  for (const char* golden : {kStateDictPickle, kCheckpointPickle}) {
    const auto data = from_hex(golden);
    ZeroStorages storages;
    const Value value = unpickle(data, storages.loader()).value;
    KeysByStorage keys;
    EXPECT_EQ(to_hex(pickle(value, keys.namer())), std::string(golden));
  }
}

TEST(Pickler, InternedStringsRepeatAsBinget) {
  // 'lr' is identifier-like: the second one is the first's memo entry (index 1).
  const Value v = Dict{{"lr", 1}, {"g", Dict{{"lr", 2}, {"a.b", 3}}}, {"a.b", 4}};
  EXPECT_EQ(pickled(v), expected([](PickleBuilder& b) {
              b.op(Op::kEmptyDict).put(0).mark().unicode("lr").put(1).binint1(1);
              b.unicode("g").put(2).op(Op::kEmptyDict).put(3).mark().get(1).binint1(2);
              b.unicode("a.b").put(4).binint1(3).op(Op::kSetItems);
              b.unicode("a.b").put(5).binint1(4).op(Op::kSetItems);
            }));
}

TEST(Pickler, MetadataKeysAndBytesTextAreFreshUnlessOneCharacter) {
  StateDict a;
  a.set_version("", 1);
  a.set_version("fc1", 1);
  const Value v = Dict{{"a", Value(a)}, {"b", Value(a)}, {"x", Bytes{'a', 'b'}},
                       {"y", Bytes{'a', 'b'}}, {"z", Bytes{'q'}}, {"w", Bytes{'q'}}};
  const std::string hex = pickled(v);
  auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t at = hex.find(needle); at != std::string::npos; at = hex.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("fc1").span())), 2u);  // sliced: fresh
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("").span())), 1u);     // the empty str
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("version").span())), 1u);
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("_metadata").span())), 1u);
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("ab").span())), 2u);   // decoded: fresh
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("q").span())), 1u);    // a cached character
  EXPECT_EQ(count(to_hex(PickleBuilder().unicode("latin1").span())), 1u);
}

TEST(Pickler, ParamGroupTuplesAreSharedOnlyWithinAListOfDicts) {
  const Value groups = List{Dict{{"betas", Tuple{0.9, 0.999}}, {"params", List{0}}},
                            Dict{{"betas", Tuple{0.9, 0.999}}, {"params", List{1}}}};
  const std::string betas = to_hex(PickleBuilder().binfloat(0.9).binfloat(0.999).span());
  const std::string hex = pickled(groups);
  EXPECT_EQ(hex.find(betas), hex.rfind(betas));  // written once
  const std::string top = pickled(Dict{{"a", Tuple{0.9, 0.999}}, {"b", Tuple{0.9, 0.999}}});
  EXPECT_NE(top.find(betas), top.rfind(betas));  // not in a list of dicts: twice
}

TEST(Pickler, TensorsFollowTorchSaveLayout) {
  const Tensor base = zeros({10});
  const Tensor view = base.narrow(0, 2, 3);
  base.set_requires_grad(true);
  KeysByStorage keys;
  const Value v = List{base, view, base};
  const std::string hex = to_hex(pickle(v, keys.namer()));
  EXPECT_EQ(keys.calls, 2);  // the repeated handle is fetched from the memo
  EXPECT_EQ(hex, expected([](PickleBuilder& b) {
              b.op(Op::kEmptyList).put(0).mark();
              b.global("torch._utils", "_rebuild_tensor_v2").put(1).mark();
              b.mark().unicode("storage").put(2).global("torch", "FloatStorage").put(3);
              b.unicode("0").put(4).unicode("cpu").put(5).binint1(10).op(Op::kTuple).put(6);
              b.op(Op::kBinPersId).binint1(0).binint1(10).op(Op::kTuple1).put(7);
              b.binint1(1).op(Op::kTuple1).put(8).op(Op::kNewTrue);
              b.global("collections", "OrderedDict").put(9).op(Op::kEmptyTuple).op(Op::kReduce).put(10);
              b.op(Op::kTuple).put(11).op(Op::kReduce).put(12);
              b.get(1).mark().mark().get(2).get(3).get(4).get(5).binint1(10).op(Op::kTuple).put(13);
              b.op(Op::kBinPersId).binint1(2).binint1(3).op(Op::kTuple1).put(14);
              b.binint1(1).op(Op::kTuple1).put(15).op(Op::kNewFalse);
              b.get(9).op(Op::kEmptyTuple).op(Op::kReduce).put(16);
              b.op(Op::kTuple).put(17).op(Op::kReduce).put(18);
              b.get(12).op(Op::kAppends);
            }));
  EXPECT_EQ(pickled(Tensor()), "80024e2e");  // an undefined tensor is None
}

TEST(Pickler, StorageNumbersMustCountUpFromZero) {
  const Value v = List{zeros({1}), zeros({1})};
  std::size_t calls = 0;
  try {
    pickle(v, [&](const Tensor&) { return StorageId{"k", "cpu", 1, calls++ == 0 ? 0u : 2u}; });
    ADD_FAILURE() << "a namer that skipped a number was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("numbered a new storage 2 after 1 storages"));
  }
}

TEST(Pickler, CudaLocationsAreFreshEachTime) {
  const Storage storage = Storage::allocate_zeroed(8, Device::cuda(0));
  const Value v = List{Tensor(storage, DType::kFloat32, {2}, {1}), Tensor(storage, DType::kFloat32, {1}, {1}, 1)};
  const std::string hex = pickled(v);
  const std::string cuda = to_hex(PickleBuilder().unicode("cuda:0").span());
  EXPECT_NE(hex.find(cuda), hex.rfind(cuda));
}

TEST(Pickler, TensorsFetchTheTagAndLocationFromWhereverTheMemoHasThem) {
  // 'storage' and 'cpu' come first as values, and the location changes between tensors:
  // each tensor's tag and location must fetch the memo entry that holds its text.
  const Tensor cuda(Storage::allocate_zeroed(8, Device::cuda(0)), DType::kFloat32, {2}, {1});
  const Value v = Dict{{"x", "storage"}, {"y", "cpu"},      {"a", zeros({2})},
                       {"b", cuda},      {"c", zeros({3})}, {"d", cuda.narrow(0, 1, 1)}};
  const std::string hex = pickled(v);
  const auto count = [&](std::string_view text) {
    const std::string needle = to_hex(PickleBuilder().unicode(text).span());
    std::size_t n = 0;
    for (std::size_t at = hex.find(needle); at != std::string::npos; at = hex.find(needle, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(count("storage"), 1u);
  EXPECT_EQ(count("cpu"), 1u);
  EXPECT_EQ(count("cuda:0"), 2u);  // not identifier-like: fresh each time

  ZeroStorages storages;
  const Value back = unpickle(from_hex(hex), storages.loader()).value;
  std::vector<std::string> locations;
  for (const ZeroStorages::Seen& ref : storages.refs) locations.push_back(ref.location);
  EXPECT_EQ(locations, (std::vector<std::string>{"cpu", "cuda:0", "cpu", "cuda:0"}));
  EXPECT_EQ(back["x"].as_string(), "storage");
  EXPECT_EQ(back["y"].as_string(), "cpu");
}

TEST(Pickler, PlainDictWithAttributesIsRefusedNamingThePath) {
  Dict inner;
  inner.set_attributes(Dict{{"_metadata", Dict{}}});
  const Value v = Dict{{"model", List{inner}}};
  EXPECT_TRUE(throws_error([&] { pickled(v); }, ErrorCode::kUnsupported,
                           {"['model'][0]", "only an OrderedDict can carry attributes"}));
}

}  // namespace
}  // namespace mnemo::pickle::testing
