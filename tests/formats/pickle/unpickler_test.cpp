// The unpickler reads every opcode of protocols 2 to 5 that it supports, keeps Python's
// reference semantics for the memo, and builds tensors from persistent ids; checked on
// hand-written pickles and on data.pkl files written by PyTorch 1.13.
#include "formats/pickle/unpickler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "formats/pickle/pickle_test_util.h"
#include "formats/pickle/torch_golden_pickles.h"
#include "mnemo/core/state_dict.h"

namespace mnemo::pickle::testing {
namespace {

TEST(Unpickler, ReadsScalarOpcodes) {
  PickleBuilder b;
  b.proto().mark().none().op(Op::kNewTrue).op(Op::kNewFalse);
  b.binint(-7).binint1(200).binint2(60000).binint(std::numeric_limits<std::int32_t>::min());
  b.op(Op::kLong1).byte(0);                                             // 0
  b.op(Op::kLong1).byte(8).le(0x8000000000000000ull, 8);                // INT64_MIN
  b.op(Op::kLong1).byte(9).le(0, 8).byte(1);                            // 2**64
  b.op(Op::kLong4).le(2, 4).bytes({0x00, 0xff});                        // -256
  b.binfloat(1.5).binfloat(-0.0).binfloat(INFINITY).binfloat(NAN);
  b.op(Op::kList).stop();
  const List list = read(b).as_list();
  ASSERT_EQ(list.size(), 15u);
  EXPECT_TRUE(list[0].is_none());
  EXPECT_EQ(list[1], Value(true));
  EXPECT_EQ(list[2], Value(false));
  EXPECT_EQ(list[3].as_int(), -7);
  EXPECT_EQ(list[4].as_int(), 200);
  EXPECT_EQ(list[5].as_int(), 60000);
  EXPECT_EQ(list[6].as_int(), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(list[7].as_int(), 0);
  EXPECT_EQ(list[8].as_int(), std::numeric_limits<std::int64_t>::min());
  ASSERT_TRUE(list[9].is_big_int());
  EXPECT_EQ(list[9].as_big_int().to_string(), "18446744073709551616");
  EXPECT_EQ(list[10].as_int(), -256);
  EXPECT_EQ(list[11].as_double(), 1.5);
  EXPECT_TRUE(std::signbit(list[12].as_double()));
  EXPECT_EQ(list[13].as_double(), INFINITY);
  EXPECT_TRUE(std::isnan(list[14].as_double()));
}

TEST(Unpickler, ReadsStringAndBytesOpcodes) {
  PickleBuilder b;
  b.proto(4).mark();
  b.short_unicode("\xc3\xa9");                                     // é
  b.unicode("h\xc3\xa9llo \xe2\x9c\x93");                          // héllo ✓
  b.op(Op::kBinUnicode8).le(1, 8).text("x");
  b.op(Op::kShortBinString).byte(3).text("ab\xe9");                // latin-1: abé
  b.op(Op::kBinString).le(2, 4).text("\xc3\xa9");                  // UTF-8: é
  b.op(Op::kShortBinBytes).byte(2).bytes({0x00, 0xff});
  b.op(Op::kBinBytes).le(1, 4).text("z");
  b.op(Op::kBinBytes8).le(0, 8);
  b.op(Op::kByteArray8).le(2, 8).text("hi");
  b.op(Op::kTuple).stop();
  const Tuple t = read(b).as_tuple();
  ASSERT_EQ(t.size(), 9u);
  EXPECT_EQ(t[0].as_string(), "\xc3\xa9");
  EXPECT_EQ(t[1].as_string(), "h\xc3\xa9llo \xe2\x9c\x93");
  EXPECT_EQ(t[2].as_string(), "x");
  EXPECT_EQ(t[3].as_string(), "ab\xc3\xa9");
  EXPECT_EQ(t[4].as_string(), "\xc3\xa9");
  EXPECT_EQ(t[5].as_bytes(), (Bytes{0x00, 0xff}));
  EXPECT_EQ(t[6].as_bytes(), (Bytes{'z'}));
  EXPECT_TRUE(t[7].as_bytes().empty());
  EXPECT_EQ(t[8].as_bytes(), (Bytes{'h', 'i'}));
}

TEST(Unpickler, ReadsContainerOpcodes) {
  PickleBuilder b;
  b.proto().op(Op::kEmptyDict);
  b.unicode("tuples").mark().op(Op::kEmptyTuple).binint1(1).op(Op::kTuple1);
  b.binint1(1).binint1(2).op(Op::kTuple2).binint1(1).binint1(2).binint1(3).op(Op::kTuple3);
  b.mark().binint1(1).binint1(2).binint1(3).binint1(4).op(Op::kTuple).op(Op::kTuple);
  b.op(Op::kSetItem);
  b.unicode("list").op(Op::kEmptyList).binint1(1).op(Op::kAppend);
  b.mark().binint1(2).binint1(3).op(Op::kAppends).op(Op::kSetItem);
  b.unicode("LIST").mark().none().op(Op::kList).op(Op::kSetItem);
  b.mark().binint1(7).unicode("seven").unicode("dup").binint1(1).unicode("dup").binint1(2);
  b.op(Op::kSetItems);
  b.unicode("DICT").mark().binint1(1).binint1(2).op(Op::kDict).op(Op::kSetItem);
  b.unicode("set").op(Op::kEmptySet).mark().binint1(5).binint1(6).op(Op::kAddItems);
  b.op(Op::kSetItem);
  b.unicode("frozenset").mark().unicode("a").op(Op::kFrozenSet).op(Op::kSetItem);
  b.stop();
  const Value v = read(b);
  EXPECT_EQ(v.repr(),
            "{'tuples': ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)), 'list': [1, 2, 3], "
            "'LIST': [None], 7: 'seven', 'dup': 2, 'DICT': {1: 2}, 'set': [5, 6], "
            "'frozenset': ['a']}");
  EXPECT_FALSE(v.as_dict().is_ordered_dict());
}

TEST(Unpickler, StackOpcodesDupPopAndPopMark) {
  PickleBuilder b;
  b.proto().mark().binint1(1).op(Op::kDup);  // [1, 1]
  b.binint1(9).op(Op::kPop);                 // 9 popped
  b.mark().binint1(5).binint1(6).op(Op::kPopMark);  // the inner mark and its items
  b.mark().op(Op::kPop);                     // POP takes a mark at the top
  b.op(Op::kList).stop();
  EXPECT_EQ(read(b).repr(), "[1, 1]");
}

TEST(Unpickler, MemoOpcodes) {
  PickleBuilder b;
  b.proto(4).mark();
  b.unicode("a").put(0).unicode("b").op(Op::kLongBinPut).le(300, 4);
  b.unicode("c").op(Op::kMemoize);  // index 2 = len(memo)
  b.get(0).op(Op::kLongBinGet).le(300, 4).get(2);
  b.op(Op::kList).stop();
  EXPECT_EQ(read(b).repr(), "['a', 'b', 'c', 'a', 'b', 'c']");
}

// A list that the memo hands out again is the same list: what is appended to it later
// shows wherever it was put, as in Python.
TEST(Unpickler, MemoKeepsReferenceSemantics) {
  PickleBuilder b;
  b.proto().op(Op::kEmptyDict);
  b.unicode("a").op(Op::kEmptyList).put(0).op(Op::kSetItem);
  b.unicode("b").get(0).op(Op::kSetItem);
  b.get(0).binint1(7).op(Op::kAppend).op(Op::kPop);
  b.stop();
  EXPECT_EQ(read(b).repr(), "{'a': [7], 'b': [7]}");
}

// A dict keeps plain values (scalars, tensors) as they will be in the result and
// containers as objects that may still change: a SETITEM that swaps one kind for the
// other keeps the key in its place, and the last value wins.
TEST(Unpickler, SetItemReplacesAValueInItsPlace) {
  PickleBuilder b;
  b.proto().op(Op::kEmptyDict);
  b.unicode("a").op(Op::kEmptyList).put(0).op(Op::kSetItem);  // a: the list
  b.unicode("b").binint1(1).op(Op::kSetItem);
  b.unicode("c").unicode("x").op(Op::kSetItem);
  b.unicode("a").binint1(5).op(Op::kSetItem);  // the list gives way to an int
  b.unicode("b").get(0).op(Op::kSetItem);      // the int gives way to the list
  b.unicode("c").unicode("y").op(Op::kSetItem);
  b.unicode("d").none().op(Op::kSetItem);
  b.get(0).binint1(7).op(Op::kAppend).op(Op::kPop);  // seen wherever the list is
  b.stop();
  EXPECT_EQ(read(b).repr(), "{'a': 5, 'b': [7], 'c': 'y', 'd': None}");
}

// OrderedDict(d) copies d's entries, plain and container values alike; a list they
// share stays one list.
TEST(Unpickler, OrderedDictOfADictCopiesItsEntries) {
  PickleBuilder b;
  b.proto().mark();
  b.op(Op::kEmptyDict).put(1);
  b.unicode("x").op(Op::kEmptyList).put(0).op(Op::kSetItem);
  b.unicode("y").binint1(2).op(Op::kSetItem);
  b.global("collections", "OrderedDict").get(1).op(Op::kTuple1).op(Op::kReduce);
  b.unicode("z").binint1(3).op(Op::kSetItem);  // the copy only
  b.get(0).binint1(7).op(Op::kAppend).op(Op::kPop);
  b.op(Op::kList).stop();
  const Value v = read(b);
  EXPECT_EQ(v.repr(), "[{'x': [7], 'y': 2}, OrderedDict([('x', [7]), ('y', 2), ('z', 3)])]");
  EXPECT_TRUE(v[1].as_dict().is_ordered_dict());
}

TEST(Unpickler, ProtocolFourPickleWithFramesFromPython) {
  // pickle.dumps({'a': [1, 'b', b'c'], 'x': (1.5,)}, protocol=4) in CPython 3.11.
  const auto data = from_hex(
      "80049526000000000000007d94288c0161945d94284b018c01629443016394658c017894473ff80000000000008594752e");
  const UnpickleResult result = unpickle(data, {});
  EXPECT_EQ(result.value.repr(), "{'a': [1, 'b', b'c'], 'x': (1.5,)}");
  EXPECT_EQ(result.bytes_read, data.size());
}

TEST(Unpickler, BytesReadStopsAtStopSoPicklesCanBeChained) {
  PickleBuilder b;
  b.proto().binint1(1).stop().proto().binint1(2).stop();
  const UnpickleResult first = unpickle(b.span(), {});
  EXPECT_EQ(first.value.as_int(), 1);
  EXPECT_EQ(first.bytes_read, 5u);
  const UnpickleResult second = unpickle(b.span().subspan(first.bytes_read), {});
  EXPECT_EQ(second.value.as_int(), 2);
}

TEST(Unpickler, OrderedDictWithMetadataBecomesAttributes) {
  PickleBuilder b;
  b.proto().global("collections", "OrderedDict").put(0).op(Op::kEmptyTuple).op(Op::kReduce);
  b.unicode("k").binint1(1).op(Op::kSetItem);
  b.op(Op::kEmptyDict).unicode("_metadata").get(0).op(Op::kEmptyTuple).op(Op::kReduce);
  b.unicode("").op(Op::kEmptyDict).unicode("version").binint1(2).op(Op::kSetItem);
  b.op(Op::kSetItem).op(Op::kSetItem).op(Op::kBuild).stop();
  const Value v = read(b);
  const Dict& dict = v.as_dict();
  EXPECT_TRUE(dict.is_ordered_dict());
  EXPECT_EQ(v["k"].as_int(), 1);
  ASSERT_NE(dict.attributes(), nullptr);
  const Value& metadata = dict.attributes()->at(std::string("_metadata"));
  EXPECT_TRUE(metadata.as_dict().is_ordered_dict());
  EXPECT_EQ(metadata[""]["version"].as_int(), 2);
}

TEST(Unpickler, TableGlobalsBuildData) {
  PickleBuilder b;
  b.proto().mark();
  b.global("collections", "Counter").op(Op::kEmptyDict).unicode("a").binint1(2);
  b.op(Op::kSetItem).op(Op::kTuple1).op(Op::kReduce);
  b.global("torch", "Size").binint1(2).binint1(3).op(Op::kTuple2).op(Op::kTuple1).op(Op::kReduce);
  b.global("torch", "device").unicode("cuda").binint1(1).op(Op::kTuple2).op(Op::kReduce);
  b.global("torch", "device").unicode("cpu").op(Op::kTuple1).op(Op::kReduce);
  b.global("_codecs", "encode").unicode("a\xc3\xbf").unicode("latin1").op(Op::kTuple2);
  b.op(Op::kReduce);
  b.global("__builtin__", "bytes").op(Op::kEmptyTuple).op(Op::kReduce);
  b.global("builtins", "bytearray").op(Op::kShortBinBytes).byte(1).text("q").op(Op::kTuple1);
  b.op(Op::kReduce);
  b.global("__builtin__", "set").op(Op::kEmptyList).mark().binint1(1).binint1(2);
  b.op(Op::kAppends).op(Op::kTuple1).op(Op::kReduce);
  b.global("builtins", "frozenset").op(Op::kEmptyTuple).op(Op::kReduce);
  b.global("torch", "float32");
  b.unicode("torch").unicode("bfloat16").op(Op::kStackGlobal);
  b.op(Op::kList).stop();
  EXPECT_EQ(read(b).repr(),
            "[{'a': 2}, (2, 3), 'cuda:1', 'cpu', b'a\\xff', b'', b'q', [1, 2], [], "
            "'torch.float32', 'torch.bfloat16']");
}

TEST(Unpickler, NewObjExAndSalvagedObjects) {
  PickleBuilder plain;  // NEWOBJ_EX of a table class with no keyword arguments
  plain.proto(4).global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kEmptyDict);
  plain.op(Op::kNewObjEx).stop();
  EXPECT_EQ(read(plain).repr(), "OrderedDict()");
  PickleBuilder keywords;
  keywords.proto(4).global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kEmptyDict);
  keywords.unicode("a").binint1(1).op(Op::kSetItem).op(Op::kNewObjEx).stop();
  EXPECT_TRUE(throws_error([&] { read(keywords); }, ErrorCode::kUnsupported,
                           {"collections.OrderedDict called with keyword arguments"}));
  PickleBuilder salvaged;  // an unknown class: recorded with its arguments and state
  salvaged.proto(4).global("mylib.config", "Config").binint1(1).op(Op::kTuple1);
  salvaged.op(Op::kEmptyDict).unicode("k").binint1(2).op(Op::kSetItem).op(Op::kNewObjEx);
  salvaged.op(Op::kEmptyDict).unicode("x").binint1(3).op(Op::kSetItem).op(Op::kBuild).stop();
  EXPECT_EQ(read(salvaged, {.salvage = true}).repr(),
            "{'__class__': 'mylib.config.Config', '__args__': (1,), '__kwargs__': {'k': 2}, "
            "'__state__': {'x': 3}}");
  EXPECT_TRUE(throws_error([&] { read(salvaged); }, ErrorCode::kUnsupported,
                           {"a pickled object of class 'mylib.config.Config' at byte 2"}));
}

TEST(Unpickler, TensorFromPersistentId) {
  PickleBuilder b;
  b.proto().tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1}).stop();
  ZeroStorages storages;
  const Value v = unpickle(b.span(), storages.loader()).value;
  ASSERT_EQ(storages.refs.size(), 1u);
  const ZeroStorages::Seen& ref = storages.refs[0];
  EXPECT_EQ(ref.dtype, DType::kFloat32);
  EXPECT_FALSE(ref.untyped);
  EXPECT_EQ(ref.key, "0");
  EXPECT_EQ(ref.location, "cpu");
  EXPECT_EQ(ref.numel, 6);
  EXPECT_EQ(ref.byte_offset, 89u);  // the BINPERSID after GLOBAL, MARK and the pid tuple
  const Tensor& t = v.as_tensor();
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(t.sizes(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.storage_offset(), 0);
  EXPECT_FALSE(t.requires_grad());
  EXPECT_TRUE(t.storage().is_same(storages.storages.at("0")));
}

TEST(Unpickler, TensorsSharingAKeyShareTheStorage) {
  PickleBuilder b;
  b.proto().mark();
  b.tensor("LongStorage", "0", 10, 0, {10}, {1});
  b.tensor("LongStorage", "0", 10, 2, {2, 3}, {1, 2}, false, "cuda:0");
  b.tensor("DoubleStorage", "1", 4, 0, {}, {}, true);
  b.global("torch._utils", "_rebuild_tensor_v2").mark();  // an old file's torch.cuda class
  b.mark().unicode("storage").global("torch.cuda", "ByteStorage").unicode("2").unicode("cuda:1");
  b.binint(3).op(Op::kTuple).op(Op::kBinPersId).binint(0).int_tuple({3}).int_tuple({1});
  b.op(Op::kNewFalse).op(Op::kEmptyDict).op(Op::kTuple).op(Op::kReduce);
  b.op(Op::kList).stop();
  ZeroStorages storages;
  const List list = unpickle(b.span(), storages.loader()).value.as_list();
  const Tensor& base = list[0].as_tensor();
  const Tensor& view = list[1].as_tensor();
  const Tensor& scalar = list[2].as_tensor();
  EXPECT_TRUE(base.storage().is_same(view.storage()));
  EXPECT_EQ(view.storage_offset(), 2);
  EXPECT_EQ(view.strides(), (Shape{1, 2}));
  EXPECT_EQ(storages.refs[1].location, "cuda:0");
  EXPECT_EQ(scalar.dtype(), DType::kFloat64);
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_TRUE(scalar.requires_grad());
  EXPECT_EQ(list[3].as_tensor().dtype(), DType::kUInt8);
  EXPECT_EQ(storages.refs[3].location, "cuda:1");
}

TEST(Unpickler, ParameterAndOldAndNewRebuildFunctions) {
  PickleBuilder b;
  b.proto().mark();
  // _rebuild_parameter(tensor, True, OrderedDict()), the inner tensor memoised.
  b.global("torch._utils", "_rebuild_parameter");
  b.tensor("FloatStorage", "0", 2, 0, {2}, {1}).put(0).op(Op::kNewTrue);
  b.global("collections", "OrderedDict").op(Op::kEmptyTuple).op(Op::kReduce);
  b.op(Op::kTuple3).op(Op::kReduce);
  b.get(0);
  // _rebuild_tensor(storage, offset, size, stride): the pre-1.x form.
  b.global("torch._utils", "_rebuild_tensor").mark();
  b.storage_pid("HalfStorage", "1", 4).op(Op::kBinPersId).binint(1).int_tuple({3}).int_tuple({1});
  b.op(Op::kTuple).op(Op::kReduce);
  // _rebuild_tensor_v3(UntypedStorage, offset, size, stride, rg, hooks, dtype).
  b.global("torch._utils", "_rebuild_tensor_v3").mark();
  b.storage_pid("UntypedStorage", "2", 8).op(Op::kBinPersId).binint(0).int_tuple({4});
  b.int_tuple({1}).op(Op::kNewFalse).op(Op::kEmptyDict).global("torch", "bfloat16");
  b.op(Op::kTuple).op(Op::kReduce);
  // NEWOBJ torch.nn.parameter.Parameter(tensor, False).
  b.global("torch.nn.parameter", "Parameter").get(0).op(Op::kNewFalse).op(Op::kTuple2);
  b.op(Op::kNewObj);
  // _rebuild_parameter_with_state(tensor, True, hooks, {'attr': 1}): state dropped.
  b.global("torch._utils", "_rebuild_parameter_with_state").mark().get(0).op(Op::kNewTrue);
  b.op(Op::kEmptyDict).op(Op::kEmptyDict).unicode("attr").binint1(1).op(Op::kSetItem);
  b.op(Op::kTuple).op(Op::kReduce);
  b.op(Op::kList).stop();
  ZeroStorages storages;
  const List list = unpickle(b.span(), storages.loader()).value.as_list();
  ASSERT_EQ(list.size(), 6u);
  EXPECT_TRUE(list[0].as_tensor().requires_grad());
  EXPECT_FALSE(list[1].as_tensor().requires_grad());  // the Parameter is a new handle
  EXPECT_TRUE(list[0].as_tensor().storage().is_same(list[1].as_tensor().storage()));
  EXPECT_EQ(list[2].as_tensor().dtype(), DType::kFloat16);
  EXPECT_EQ(list[2].as_tensor().storage_offset(), 1);
  EXPECT_EQ(list[3].as_tensor().dtype(), DType::kBFloat16);
  EXPECT_EQ(list[3].as_tensor().sizes(), (Shape{4}));
  EXPECT_TRUE(storages.refs[2].untyped);
  EXPECT_EQ(storages.refs[2].dtype, DType::kUInt8);
  EXPECT_FALSE(list[4].as_tensor().requires_grad());  // Parameter(t, False)
  EXPECT_TRUE(list[5].as_tensor().requires_grad());   // with its state dropped
}

// PyTorch 2.x pickles its newer dtypes as an UntypedStorage (numel in bytes) and a dtype.
TEST(Unpickler, RebuildTensorV3ReadsTheStorageDTypes) {
  struct Case {
    const char* name;
    DType dtype;
    int bytes;
  };
  for (const Case& c : {Case{"float8_e4m3fn", DType::kFloat8E4M3FN, 6},
                        Case{"float8_e5m2", DType::kFloat8E5M2, 6},
                        Case{"uint16", DType::kUInt16, 12}, Case{"uint32", DType::kUInt32, 24},
                        Case{"uint64", DType::kUInt64, 48}}) {
    SCOPED_TRACE(c.name);
    PickleBuilder b;
    b.proto().global("torch._utils", "_rebuild_tensor_v3").mark();
    b.storage_pid("UntypedStorage", "0", c.bytes).op(Op::kBinPersId).binint(0).int_tuple({2, 3});
    b.int_tuple({3, 1}).op(Op::kNewFalse).op(Op::kEmptyDict).global("torch", c.name);
    b.op(Op::kTuple).op(Op::kReduce).stop();
    ZeroStorages storages;
    const Tensor t = unpickle(b.span(), storages.loader()).value.as_tensor();
    EXPECT_EQ(t.dtype(), c.dtype);
    EXPECT_EQ(t.sizes(), (Shape{2, 3}));
    EXPECT_EQ(t.nbytes(), static_cast<std::size_t>(c.bytes));
  }
}

TEST(Unpickler, RebuildFromTypeV2AndBuildOnTensorKeepTheTensor) {
  PickleBuilder b;
  b.proto();
  b.global("torch._tensor", "_rebuild_from_type_v2").mark();
  b.global("torch._utils", "_rebuild_tensor_v2").global("torch._tensor", "Tensor").mark();
  b.storage_pid("IntStorage", "0", 3).op(Op::kBinPersId).binint(0).int_tuple({3}).int_tuple({1});
  b.op(Op::kNewFalse).op(Op::kEmptyDict).op(Op::kTuple);
  b.op(Op::kEmptyDict).unicode("tag").binint1(1).op(Op::kSetItem);
  b.op(Op::kTuple).op(Op::kReduce);
  b.op(Op::kEmptyDict).unicode("attr").binint1(1).op(Op::kSetItem).op(Op::kBuild);
  b.stop();
  const Value v = read(b);
  EXPECT_EQ(v.as_tensor().dtype(), DType::kInt32);
  EXPECT_EQ(v.as_tensor().sizes(), (Shape{3}));
}

TEST(Unpickler, LegacySixTuplePersistentIdsWithAndWithoutViews) {
  PickleBuilder b;
  b.proto().mark();
  b.global("torch._utils", "_rebuild_tensor_v2").mark();
  b.mark().unicode("storage").global("torch", "FloatStorage").unicode("94000").unicode("cpu");
  b.binint(4).none().op(Op::kTuple).op(Op::kBinPersId);
  b.binint(0).int_tuple({4}).int_tuple({1}).op(Op::kNewFalse).op(Op::kEmptyDict);
  b.op(Op::kTuple).op(Op::kReduce);
  // A bare storage whose view covers elements 1..2 of storage '94000'.
  b.mark().unicode("storage").global("torch", "FloatStorage").unicode("94000").unicode("cpu");
  b.binint(4).unicode("94001").binint(1).binint(2).op(Op::kTuple3).op(Op::kTuple);
  b.op(Op::kBinPersId);
  b.op(Op::kList).stop();
  ZeroStorages storages;
  const List list = unpickle(b.span(), storages.loader()).value.as_list();
  const Tensor& whole = list[0].as_tensor();
  const Tensor& view = list[1].as_tensor();  // a bare storage reads as a 1-D tensor
  EXPECT_EQ(whole.sizes(), (Shape{4}));
  EXPECT_EQ(view.sizes(), (Shape{2}));
  EXPECT_EQ(static_cast<const std::byte*>(view.data_ptr()),
            static_cast<const std::byte*>(whole.data_ptr()) + 4);
}

TEST(Unpickler, ReadsPyTorchStateDict) {
  const auto data = from_hex(kStateDictPickle);
  ZeroStorages storages;
  const Value v = unpickle(data, storages.loader(), {.origin = "golden"}).value;
  const StateDict sd = v.to_state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{
                           "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                           "1.running_var", "1.num_batches_tracked"}));
  EXPECT_EQ(sd.at("0.weight").sizes(), (Shape{3, 2}));
  EXPECT_EQ(sd.at("0.weight").strides(), (Shape{2, 1}));
  EXPECT_EQ(sd.at("1.running_var").sizes(), (Shape{3}));
  EXPECT_EQ(sd.at("1.num_batches_tracked").dtype(), DType::kInt64);
  EXPECT_EQ(sd.at("1.num_batches_tracked").dim(), 0);
  EXPECT_EQ(sd.version(""), 1);
  EXPECT_EQ(sd.version("0"), 1);
  EXPECT_EQ(sd.version("1"), 2);
  EXPECT_EQ(storages.storages.size(), 7u);
}

TEST(Unpickler, ReadsPyTorchCheckpoint) {
  const auto data = from_hex(kCheckpointPickle);
  ZeroStorages storages;
  const Value v = unpickle(data, storages.loader()).value;
  EXPECT_EQ(v["epoch"].as_int(), 3);
  EXPECT_EQ(v["loss"].as_double(), 0.5);
  EXPECT_EQ(v["names"].value().repr(), "['a', 'bb']");
  EXPECT_EQ(v["shape"].value().repr(), "(2, 3)");
  EXPECT_EQ(v["big"].as_big_int().to_string(), "1180591620717411303424");
  EXPECT_EQ(v["neg"].as_int(), -5);
  EXPECT_EQ(v["blob"].as_bytes(), (Bytes{0x00, 0xff}));
  EXPECT_TRUE(v["empty"].as_bytes().empty());
  const Tensor& weight = v["model"]["0.weight"].as_tensor();
  const Tensor& view = v["w_view"].as_tensor();
  EXPECT_TRUE(view.storage().is_same(weight.storage()));
  EXPECT_EQ(view.storage_offset(), 2);
  EXPECT_EQ(view.sizes(), (Shape{2, 2}));
  EXPECT_EQ(v["model"].to_state_dict().version("1"), 2);
}

}  // namespace
}  // namespace mnemo::pickle::testing
