// What the unpickler refuses, with which code and message: opcodes outside its set,
// globals outside its table (code execution attempts above all), type confusion, limits,
// and damaged input (every truncation of a real pickle, byte flips) — always a clean
// mnemo::Error, never a crash.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <algorithm>
#include <filesystem>
#include <span>
#include <string>

#include "formats/pickle/pickle_test_util.h"
#include "formats/pickle/torch_golden_pickles.h"
#include "formats/pickle/unpickler.h"
#include "mnemo/limits.h"
#include "support/python.h"

namespace mnemo::pickle::testing {
namespace {

void run(const PickleBuilder& b, UnpickleOptions options = {}) { read(b, options); }

TEST(UnpicklerRefusal, OpcodesOutsideTheSetNameThemselves) {
  const std::pair<Op, const char*> refused[] = {
      {Op::kInst, "'INST' (0x69)"},     {Op::kObj, "'OBJ' (0x6f)"},
      {Op::kExt1, "'EXT1' (0x82)"},     {Op::kExt2, "'EXT2' (0x83)"},
      {Op::kExt4, "'EXT4' (0x84)"},     {Op::kPersId, "'PERSID' (0x50)"},
      {Op::kInt, "'INT' (0x49)"},       {Op::kLong, "'LONG' (0x4c)"},
      {Op::kFloat, "'FLOAT' (0x46)"},   {Op::kString, "'STRING' (0x53)"},
      {Op::kUnicode, "'UNICODE' (0x56)"}, {Op::kGet, "'GET' (0x67)"},
      {Op::kPut, "'PUT' (0x70)"},       {Op::kNextBuffer, "'NEXT_BUFFER' (0x97)"},
      {Op::kReadOnlyBuffer, "'READONLY_BUFFER' (0x98)"},
  };
  for (const auto& [op, name] : refused) {
    PickleBuilder b;
    b.proto().op(op).text("0\n").stop();
    EXPECT_TRUE(throws_error([&] { run(b, {.origin = "model.pt: data.pkl"}); },
                             ErrorCode::kUnsupported,
                             {"model.pt: data.pkl: pickle opcode ", name, " at byte 2 is not supported"}))
        << name;
  }
}

TEST(UnpicklerRefusal, UnknownByteAndNewerProtocol) {
  PickleBuilder unknown;
  unknown.proto().byte(0xff).stop();
  EXPECT_TRUE(throws_error([&] { run(unknown); }, ErrorCode::kCorrupt,
                           {"pickle: unknown pickle opcode 0xff at byte 2"}));
  PickleBuilder newer;
  newer.proto(6).none().stop();
  EXPECT_TRUE(throws_error([&] { run(newer); }, ErrorCode::kUnsupported, {"pickle protocol 6"}));
}

// Pickles that would run a command under Python's pickle: each is refused naming the
// global, and the command never runs (it would create the file).
TEST(UnpicklerRefusal, CodeExecutionAttemptsAreRefusedAndNothingRuns) {
  mnemo::testing::TempDir dir;
  const std::string marker = (dir / "ran").string();
  const std::string command = "touch " + marker;
  const std::pair<const char*, const char*> callables[] = {
      {"os", "system"},       {"posix", "system"},     {"nt", "system"},
      {"builtins", "eval"},   {"builtins", "exec"},    {"__builtin__", "eval"},
      {"subprocess", "call"}, {"builtins", "getattr"}, {"torch", "load"},
  };
  for (const auto& [module, name] : callables) {
    const std::string qualified = std::string(module) + "." + name;
    PickleBuilder b;
    b.proto().global(module, name).unicode(command).op(Op::kTuple1).op(Op::kReduce).stop();
    EXPECT_TRUE(throws_error([&] { run(b); }, ErrorCode::kUnsupported,
                             {"pickle global '" + qualified + "' at byte 2 is not allowed",
                              "mnemo reads data only"}))
        << qualified;
    PickleBuilder stack_global;  // protocol 4 spelling
    stack_global.proto(4).short_unicode(module).short_unicode(name).op(Op::kStackGlobal);
    stack_global.unicode(command).op(Op::kTuple1).op(Op::kReduce).stop();
    EXPECT_TRUE(throws_error([&] { run(stack_global); }, ErrorCode::kUnsupported, {qualified}));
    // Salvaging, the call is recorded as data, still not made.
    const Value salvaged = read(b, {.salvage = true});
    EXPECT_EQ(salvaged["__class__"].as_string(), qualified);
    EXPECT_EQ(salvaged["__args__"][0].as_string(), command);
  }
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(UnpicklerRefusal, PickledModuleIsRefusedNamingTheClass) {
  PickleBuilder b;
  b.proto().global("__main__", "Net").put(0).op(Op::kEmptyTuple).op(Op::kNewObj).stop();
  EXPECT_TRUE(throws_error([&] { run(b, {.origin = "model.pt: data.pkl"}); },
                           ErrorCode::kUnsupported,
                           {"model.pt: data.pkl: a pickled object of class '__main__.Net' at byte 2",
                            "whole pickled module", "mnemo does not run pickled code",
                            "model.state_dict()", "salvage = true"}));
  // The legacy format's ('module', cls, source_file, source) persistent id.
  PickleBuilder legacy;
  legacy.proto().mark().unicode("module").global("collections", "OrderedDict");
  legacy.unicode("net.py").unicode("class Net: ...").op(Op::kTuple).op(Op::kBinPersId).stop();
  EXPECT_TRUE(throws_error([&] { run(legacy); }, ErrorCode::kUnsupported,
                           {"pickled module class", "salvage = true"}));
}

TEST(UnpicklerRefusal, KnownUnsupportedGlobalsSayWhat) {
  const std::tuple<const char*, const char*, const char*> refused[] = {
      {"torch.serialization", "_get_layout", "sparse tensors are not supported"},
      {"torch._utils", "_rebuild_sparse_tensor", "sparse tensors are not supported"},
      {"torch._utils", "_rebuild_qtensor", "quantized tensors are not supported"},
      {"torch", "QInt8Storage", "quantized tensors are not supported"},
      {"torch._utils", "_rebuild_meta_tensor_no_storage", "meta tensors"},
      {"torch._utils", "_rebuild_nested_tensor", "nested tensors"},
      {"torch._utils", "_rebuild_wrapper_subclass", "subclasses"},
      {"torch._utils", "_rebuild_device_tensor_from_numpy", "XLA"},
      {"builtins", "complex", "complex numbers"},
      {"numpy.core.multiarray", "_reconstruct", "numpy arrays"},
  };
  for (const auto& [module, name, reason] : refused) {
    PickleBuilder b;
    b.proto().global(module, name).stop();
    EXPECT_TRUE(throws_error([&] { run(b, {.salvage = true}); }, ErrorCode::kUnsupported,
                             {reason, std::string(module) + "." + name, "at byte 2"}))
        << name;
  }
}

TEST(UnpicklerRefusal, UnsupportedTensorsAndPersistentIds) {
  PickleBuilder fnuz;  // _rebuild_tensor_v3 with a dtype mnemo lacks
  fnuz.proto().global("torch._utils", "_rebuild_tensor_v3").mark();
  fnuz.storage_pid("UntypedStorage", "0", 4).op(Op::kBinPersId).binint(0).int_tuple({4});
  fnuz.int_tuple({1}).op(Op::kNewFalse).op(Op::kEmptyDict).global("torch", "float8_e4m3fnuz");
  fnuz.op(Op::kTuple).op(Op::kReduce).stop();
  EXPECT_TRUE(throws_error([&] { run(fnuz); }, ErrorCode::kUnsupported,
                           {"dtype torch.float8_e4m3fnuz are not supported"}));

  auto with_metadata = [](const char* bit, bool set) {
    PickleBuilder b;
    b.proto().global("torch._utils", "_rebuild_tensor_v2").mark();
    b.storage_pid("FloatStorage", "0", 2).op(Op::kBinPersId).binint(0).int_tuple({2});
    b.int_tuple({1}).op(Op::kNewFalse).op(Op::kEmptyDict);
    b.op(Op::kEmptyDict).unicode(bit).op(set ? Op::kNewTrue : Op::kNewFalse).op(Op::kSetItem);
    return b.op(Op::kTuple).op(Op::kReduce).stop();
  };
  EXPECT_TRUE(throws_error([&] { run(with_metadata("neg", true)); }, ErrorCode::kUnsupported,
                           {"neg bit set"}));
  EXPECT_TRUE(throws_error([&] { run(with_metadata("conj", true)); }, ErrorCode::kUnsupported,
                           {"conj bit set"}));
  EXPECT_NO_THROW(run(with_metadata("conj", false)));

  PickleBuilder other_kind;
  other_kind.proto().mark().unicode("tensor").binint1(1).op(Op::kTuple).op(Op::kBinPersId).stop();
  EXPECT_TRUE(throws_error([&] { run(other_kind); }, ErrorCode::kUnsupported,
                           {"persistent id of kind 'tensor'"}));
  PickleBuilder no_loader;
  no_loader.proto().storage_pid("FloatStorage", "0", 1).op(Op::kBinPersId).stop();
  EXPECT_TRUE(throws_error([&] { unpickle(no_loader.span(), {}); }, ErrorCode::kUnsupported,
                           {"no storage loader"}));
}

TEST(UnpicklerRefusal, TensorViewsAreCheckedAgainstTheirStorage) {
  auto tensor = [](std::initializer_list<int> sizes, std::initializer_list<int> strides,
                   int offset, const char* storage_class = "FloatStorage", bool grad = false) {
    PickleBuilder b;
    return b.proto().tensor(storage_class, "0", 6, offset, sizes, strides, grad).stop();
  };
  EXPECT_NO_THROW(run(tensor({2, 3}, {3, 1}, 0)));
  EXPECT_TRUE(throws_error([&] { run(tensor({7}, {1}, 0)); }, ErrorCode::kCorrupt,
                           {"reaches outside storage '0' of 24 bytes", "at byte"}));
  EXPECT_TRUE(throws_error([&] { run(tensor({2}, {1}, 5)); }, ErrorCode::kCorrupt,
                           {"reaches outside storage"}));
  EXPECT_TRUE(throws_error([&] { run(tensor({2}, {-1}, 1)); }, ErrorCode::kCorrupt,
                           {"negative"}));
  EXPECT_TRUE(throws_error([&] { run(tensor({2}, {1}, -1)); }, ErrorCode::kCorrupt,
                           {"negative"}));
  EXPECT_TRUE(throws_error([&] { run(tensor({2, 2}, {1}, 0)); }, ErrorCode::kCorrupt,
                           {"different lengths"}));
  EXPECT_TRUE(throws_error([&] { run(tensor({2, 2}, {0x7fffffff, 0x7fffffff}, 0)); },
                           ErrorCode::kCorrupt, {"reaches outside"}));
  EXPECT_TRUE(throws_error([&] { run(tensor({6}, {1}, 0, "LongStorage", true)); },
                           ErrorCode::kCorrupt, {"int64 tensor cannot require grad"}));
  PickleBuilder rank;
  rank.proto().global("torch._utils", "_rebuild_tensor_v2").mark();
  rank.storage_pid("FloatStorage", "0", 1).op(Op::kBinPersId).binint(0);
  rank.mark();
  for (int i = 0; i < 65; ++i) rank.binint1(1);
  rank.op(Op::kTuple).mark();
  for (int i = 0; i < 65; ++i) rank.binint1(1);
  rank.op(Op::kTuple).op(Op::kNewFalse).op(Op::kEmptyDict).op(Op::kTuple).op(Op::kReduce).stop();
  EXPECT_TRUE(throws_error([&] { run(rank); }, ErrorCode::kLimit, {"rank 65", "kMaxTensorRank"}));

  // A loader that returns less than the persistent id promises.
  PickleBuilder small;
  small.proto().tensor("FloatStorage", "0", 6, 0, {6}, {1}).stop();
  const StorageLoader short_loader = [](const StorageRef&) { return Storage::allocate_zeroed(8); };
  EXPECT_TRUE(throws_error([&] { unpickle(small.span(), short_loader); }, ErrorCode::kCorrupt,
                           {"storage '0' holds 8 bytes", "6 elements (24 bytes)"}));
}

TEST(UnpicklerRefusal, TypeConfusionIsRefused) {
  struct Case {
    const char* name;
    std::function<void(PickleBuilder&)> body;
    ErrorCode code;
    const char* message;
  };
  const Case cases[] = {
      {"SETITEM on a list", [](PickleBuilder& b) { b.op(Op::kEmptyList).binint1(1).binint1(2).op(Op::kSetItem); },
       ErrorCode::kCorrupt, "SETITEM onto a list (it needs a dict) at byte"},
      {"SETITEMS on a list", [](PickleBuilder& b) { b.op(Op::kEmptyList).mark().binint1(1).binint1(2).op(Op::kSetItems); },
       ErrorCode::kCorrupt, "SETITEMS onto a list"},
      {"APPEND on a dict", [](PickleBuilder& b) { b.op(Op::kEmptyDict).binint1(1).op(Op::kAppend); },
       ErrorCode::kCorrupt, "APPEND onto a dict (it needs a list)"},
      {"APPENDS on a tuple", [](PickleBuilder& b) { b.op(Op::kEmptyTuple).mark().binint1(1).op(Op::kAppends); },
       ErrorCode::kCorrupt, "APPENDS onto a tuple"},
      {"ADDITEMS on a list", [](PickleBuilder& b) { b.op(Op::kEmptyList).mark().op(Op::kAddItems); },
       ErrorCode::kCorrupt, "ADDITEMS onto a list"},
      {"BUILD on a str", [](PickleBuilder& b) { b.unicode("s").op(Op::kEmptyDict).unicode("a").none().op(Op::kSetItem).op(Op::kBuild); },
       ErrorCode::kUnsupported, "BUILD on a str"},
      {"BUILD on a plain dict", [](PickleBuilder& b) { b.op(Op::kEmptyDict).op(Op::kEmptyDict).unicode("a").none().op(Op::kSetItem).op(Op::kBuild); },
       ErrorCode::kUnsupported, "BUILD on a dict"},
      {"BINPERSID with an int", [](PickleBuilder& b) { b.binint1(3).op(Op::kBinPersId); },
       ErrorCode::kCorrupt, "persistent id must be a tuple ('storage', ...), got an int"},
      {"pid with a str as class", [](PickleBuilder& b) { b.mark().unicode("storage").unicode("torch.FloatStorage").unicode("0").unicode("cpu").binint1(1).op(Op::kTuple).op(Op::kBinPersId); },
       ErrorCode::kCorrupt, "argument 2 (storage_type) must be a storage class, got a str"},
      {"BINGET of an unset index", [](PickleBuilder& b) { b.none().put(0).get(1); },
       ErrorCode::kCorrupt, "BINGET of memo index 1, which was never set"},
      {"LONG_BINGET of an unset index", [](PickleBuilder& b) { b.op(Op::kLongBinGet).le(70000, 4); },
       ErrorCode::kCorrupt, "LONG_BINGET of memo index 70000"},
      {"REDUCE with a list", [](PickleBuilder& b) { b.global("collections", "OrderedDict").op(Op::kEmptyList).op(Op::kReduce); },
       ErrorCode::kCorrupt, "needs a tuple of arguments, got a list"},
      {"REDUCE of a str", [](PickleBuilder& b) { b.unicode("os.system").op(Op::kEmptyTuple).op(Op::kReduce); },
       ErrorCode::kCorrupt, "REDUCE calls a str, which is not callable"},
      {"NEWOBJ of a function", [](PickleBuilder& b) { b.global("torch._utils", "_rebuild_tensor_v2").op(Op::kEmptyTuple).op(Op::kNewObj); },
       ErrorCode::kCorrupt, "NEWOBJ of torch._utils._rebuild_tensor_v2, which is not a class"},
      {"calling a dtype", [](PickleBuilder& b) { b.global("torch", "float32").op(Op::kEmptyTuple).op(Op::kReduce); },
       ErrorCode::kUnsupported, "calling it is not supported"},
      {"a tuple dict key", [](PickleBuilder& b) { b.op(Op::kEmptyDict).op(Op::kEmptyTuple).none().op(Op::kSetItem); },
       ErrorCode::kUnsupported, "a dict key of type tuple"},
      {"a float dict key", [](PickleBuilder& b) { b.op(Op::kEmptyDict).binfloat(1.0).none().op(Op::kSetItem); },
       ErrorCode::kUnsupported, "a dict key of type float"},
      {"a None dict key", [](PickleBuilder& b) { b.mark().none().none().op(Op::kDict); },
       ErrorCode::kUnsupported, "a dict key of type None"},
      {"a list in a set", [](PickleBuilder& b) { b.mark().op(Op::kEmptyList).op(Op::kFrozenSet); },
       ErrorCode::kCorrupt, "unhashable"},
      {"STACK_GLOBAL of ints", [](PickleBuilder& b) { b.binint1(1).binint1(2).op(Op::kStackGlobal); },
       ErrorCode::kCorrupt, "STACK_GLOBAL needs two str"},
      {"odd SETITEMS", [](PickleBuilder& b) { b.op(Op::kEmptyDict).mark().unicode("a").op(Op::kSetItems); },
       ErrorCode::kCorrupt, "odd number"},
      {"APPENDS without MARK", [](PickleBuilder& b) { b.op(Op::kEmptyList).op(Op::kAppends); },
       ErrorCode::kCorrupt, "APPENDS without a MARK"},
      {"SETITEMS without MARK", [](PickleBuilder& b) { b.op(Op::kEmptyDict).unicode("a").none().op(Op::kSetItems); },
       ErrorCode::kCorrupt, "SETITEMS without a MARK"},
      {"SETITEMS with nothing below its MARK", [](PickleBuilder& b) { b.mark().unicode("a").none().op(Op::kSetItems); },
       ErrorCode::kCorrupt, "SETITEMS needs a value on the stack, found none"},
      {"SETITEMS with a dict beyond an inner MARK", [](PickleBuilder& b) { b.op(Op::kEmptyDict).mark().mark().unicode("a").none().op(Op::kSetItems); },
       ErrorCode::kCorrupt, "SETITEMS needs a value on the stack above the last MARK"},
      {"POP of an empty stack", [](PickleBuilder& b) { b.op(Op::kPop); },
       ErrorCode::kCorrupt, "POP pops from an empty stack"},
      {"APPEND across a MARK", [](PickleBuilder& b) { b.op(Op::kEmptyList).mark().op(Op::kAppend); },
       ErrorCode::kCorrupt, "above the last MARK"},
      {"a list holding itself", [](PickleBuilder& b) { b.op(Op::kEmptyList).put(0).get(0).op(Op::kAppend); },
       ErrorCode::kUnsupported, "a list that contains itself"},
      {"FRAME beyond the data", [](PickleBuilder& b) { b.op(Op::kFrame).le(100, 8); },
       ErrorCode::kCorrupt, "FRAME of 100 bytes, 1 remain"},
      {"BINSTRING of negative length", [](PickleBuilder& b) { b.op(Op::kBinString).le(0xffffffffu, 4); },
       ErrorCode::kCorrupt, "BINSTRING with a negative length"},
      {"LONG4 of negative length", [](PickleBuilder& b) { b.op(Op::kLong4).le(0xfffffffeu, 4); },
       ErrorCode::kCorrupt, "LONG4 with a negative length -2"},
      {"GLOBAL that is not UTF-8", [](PickleBuilder& b) { b.global("os\xff", "x"); },
       ErrorCode::kCorrupt, "not UTF-8"},
      {"a class left as data", [](PickleBuilder& b) { b.op(Op::kEmptyList).global("collections", "OrderedDict").op(Op::kAppend); },
       ErrorCode::kUnsupported, "pickle global 'collections.OrderedDict' is left in the result"},
  };
  for (const Case& c : cases) {
    PickleBuilder b;
    b.proto();
    c.body(b);
    b.stop();
    EXPECT_TRUE(throws_error([&] { run(b); }, c.code, {c.message})) << c.name;
  }
  PickleBuilder two;
  two.proto().none().none().stop();
  EXPECT_TRUE(throws_error([&] { run(two); }, ErrorCode::kCorrupt, {"STOP leaves 2 values"}));
  PickleBuilder invalid_utf8;
  invalid_utf8.proto().unicode("\xc3(").stop();
  EXPECT_TRUE(throws_error([&] { run(invalid_utf8); }, ErrorCode::kCorrupt, {"invalid UTF-8"}));
  PickleBuilder surrogate;
  surrogate.proto().unicode("\xed\xa0\x80").stop();
  EXPECT_TRUE(throws_error([&] { run(surrogate); }, ErrorCode::kUnsupported, {"lone surrogate"}));
}

TEST(UnpicklerRefusal, LimitsAreNamed) {
  PickleBuilder marks;
  marks.proto();
  for (std::size_t i = 0; i <= limits::kMaxPickleDepth; ++i) marks.mark();
  EXPECT_TRUE(throws_error([&] { run(marks); }, ErrorCode::kLimit, {"kMaxPickleDepth"}));

  PickleBuilder nested;  // 1001 nested lists: the stack is fine, the Value too deep
  nested.proto();
  for (std::size_t i = 0; i <= limits::kMaxPickleDepth + 1; ++i) nested.op(Op::kEmptyList);
  for (std::size_t i = 0; i <= limits::kMaxPickleDepth; ++i) nested.op(Op::kAppend);
  nested.stop();
  EXPECT_TRUE(throws_error([&] { run(nested); }, ErrorCode::kLimit, {"nest deeper", "kMaxPickleDepth"}));

  PickleBuilder stack;
  stack.proto();
  for (std::size_t i = 0; i <= limits::kMaxPickleStack; ++i) stack.none();
  EXPECT_TRUE(throws_error([&] { run(stack); }, ErrorCode::kLimit, {"kMaxPickleStack"}));

  PickleBuilder string;
  string.proto().op(Op::kBinUnicode8).le(std::uint64_t{1} << 31, 8);
  EXPECT_TRUE(throws_error([&] { run(string); }, ErrorCode::kLimit,
                           {"BINUNICODE8 of 2147483648 bytes", "kMaxStringBytes"}));
  PickleBuilder bytes;
  bytes.proto().op(Op::kBinBytes).le(0xffffffffu, 4);
  EXPECT_TRUE(throws_error([&] { run(bytes); }, ErrorCode::kLimit, {"kMaxStringBytes"}));
  PickleBuilder long4;
  long4.proto().op(Op::kLong4).le(limits::kMaxBigIntBytes + 1, 4);
  EXPECT_TRUE(throws_error([&] { run(long4); }, ErrorCode::kLimit, {"kMaxBigIntBytes"}));

  EXPECT_TRUE(
      throws_error([&] { run(billion_laughs()); }, ErrorCode::kLimit, {"kMaxPickleValues"}));
  EXPECT_TRUE(
      throws_error([&] { run(shared_text(2100)); }, ErrorCode::kLimit, {"kMaxPickleBytes"}));

  // The same through dicts, whose plain values and keys are counted without a node each.
  PickleBuilder dicts;  // 1000 lists of 1000 dicts of 1000 ints
  dicts.proto().op(Op::kEmptyDict).mark();
  for (int i = 0; i < 1000; ++i) dicts.binint2(static_cast<std::uint16_t>(i)).binint1(1);
  dicts.op(Op::kSetItems).put(0).op(Op::kPop).mark();
  for (int i = 0; i < 1000; ++i) dicts.get(0);
  dicts.op(Op::kList).put(1).op(Op::kPop).mark();
  for (int i = 0; i < 1000; ++i) dicts.get(1);
  dicts.op(Op::kList).stop();
  EXPECT_TRUE(throws_error([&] { run(dicts); }, ErrorCode::kLimit, {"kMaxPickleValues"}));
  PickleBuilder keys;  // 2100 dicts keyed by one str of 1 MiB
  keys.proto().op(Op::kEmptyDict).unicode(std::string(1 << 20, 'k')).none().op(Op::kSetItem);
  keys.put(0).op(Op::kPop).mark();
  for (int i = 0; i < 2100; ++i) keys.get(0);
  keys.op(Op::kList).stop();
  EXPECT_TRUE(throws_error([&] { run(keys); }, ErrorCode::kLimit, {"kMaxPickleBytes"}));
  PickleBuilder values;  // one dict whose 2100 values are one str of 1 MiB
  values.proto().unicode(std::string(1 << 20, 'v')).put(0).op(Op::kPop).op(Op::kEmptyDict).mark();
  for (int i = 0; i < 2100; ++i) values.binint2(static_cast<std::uint16_t>(i)).get(0);
  values.op(Op::kSetItems).stop();
  EXPECT_TRUE(throws_error([&] { run(values); }, ErrorCode::kLimit, {"kMaxPickleBytes"}));
}

// Lists N1 = [], N2 = [N1], ..., Nk = [Nk-1], all held by one root list in that order:
// each is first met one level down, where it is shallow, yet Nk nests k deep. The
// depth limit must hold through the shared lists, or the conversion recurses k deep
// (a stack overflow for a large k; the fuzzer found a short form of this).
TEST(UnpicklerRefusal, SharedListsCannotNestPastTheLimit) {
  const auto ladder = [](std::uint32_t k) {
    PickleBuilder b;
    b.proto().mark().op(Op::kEmptyList).op(Op::kLongBinPut).le(1, 4);
    for (std::uint32_t i = 2; i <= k; ++i) {
      b.mark().op(Op::kLongBinGet).le(i - 1, 4).op(Op::kList).op(Op::kLongBinPut).le(i, 4);
    }
    return b.op(Op::kList).stop();
  };
  Value shallow = read(ladder(limits::kMaxPickleDepth - 1));
  ASSERT_EQ(shallow.as_list().size(), limits::kMaxPickleDepth - 1);
  EXPECT_TRUE(throws_error(
      [&] { run(ladder(limits::kMaxPickleDepth + 1)); }, ErrorCode::kLimit,
      {"nest deeper than 1000 levels", "kMaxPickleDepth", "held in more than one place"}));
  EXPECT_TRUE(throws_error([&] { run(ladder(50000)); }, ErrorCode::kLimit, {"kMaxPickleDepth"}));
}

// The legacy format hands the unpickler the rest of the file: a pickle followed by
// more than kMaxPickleBytes of storages is read, and one that would need bytes past the
// limit is refused as over it, not as truncated.
// A list of `elements` Nones, then a list holding it `references` times: a tree of
// 1 + references * (1 + elements) values from about elements + 2 * references bytes.
PickleBuilder shared_list(int elements, int references) {
  PickleBuilder b;
  b.proto().mark();
  for (int i = 0; i < elements; ++i) b.none();
  b.op(Op::kList).put(0).op(Op::kPop).mark();
  for (int i = 0; i < references; ++i) b.get(0);
  return b.op(Op::kList).stop();
}
std::uint64_t shared_list_values(int elements, int references) {
  return 1 + static_cast<std::uint64_t>(references) * (1 + static_cast<std::uint64_t>(elements));
}

TEST(UnpicklerRefusal, HowFarAPickleMayExpandDependsOnItsSize) {
  ASSERT_EQ(limits::kMaxPickleValuesPerByte, 64u);
  ASSERT_EQ(limits::kPickleValuesAlwaysAllowed, std::uint64_t{1} << 20);
  // Any pickle may expand to 2^20 values: 100,100 from 1.2 KB.
  const Value moderate = read(shared_list(1000, 100));
  ASSERT_EQ(moderate.as_list().size(), 100u);
  EXPECT_EQ(moderate.as_list()[99].as_list().size(), 1000u);

  // One reference more than 2^20 values allow, from 3.1 KB.
  const PickleBuilder floor = shared_list(1000, 1048);
  ASSERT_LT(floor.data().size(), 16384u);
  ASSERT_GT(shared_list_values(1000, 1048), std::uint64_t{1} << 20);
  ASSERT_LE(shared_list_values(1000, 1047), std::uint64_t{1} << 20);
  EXPECT_TRUE(throws_error([&] { run(floor); }, ErrorCode::kLimit,
                           {"expands to more than 1048576 values (limits "
                            "kPickleValuesAlwaysAllowed and kMaxPickleValuesPerByte: 64 per byte "
                            "of its " +
                            std::to_string(floor.data().size()) + " bytes)"}));

  // Past 16 KiB (2^20 / 64) the budget grows with the pickle: 1.4 million values from 20 KB are
  // refused, against a budget of 64 x 20 K, itself over 2^20.
  const PickleBuilder larger = shared_list(20000, 70);
  const std::uint64_t budget = 64 * larger.data().size();
  ASSERT_GT(budget, std::uint64_t{1} << 20);
  ASSERT_GT(shared_list_values(20000, 70), budget);
  EXPECT_TRUE(throws_error([&] { run(larger); }, ErrorCode::kLimit,
                           {"expands to more than " + std::to_string(budget) +
                            " values (limit kMaxPickleValuesPerByte: 64 per byte of its " +
                            std::to_string(larger.data().size()) + " bytes)"}));

  // A pickle of 1 MiB and more meets kMaxPickleValues first: 100 references to a list
  // of a million values, beside a str that makes the pickle 1.1 MB long.
  PickleBuilder big;
  big.proto().mark();
  for (int i = 0; i < 1000; ++i) big.none();
  big.op(Op::kList).put(0).op(Op::kPop).mark();
  for (int i = 0; i < 1000; ++i) big.get(0);
  big.op(Op::kList).put(1).op(Op::kPop).mark().unicode(std::string(1'100'000, 'x'));
  for (int i = 0; i < 100; ++i) big.get(1);
  big.op(Op::kList).stop();
  ASSERT_GE(64 * big.data().size(), limits::kMaxPickleValues);
  EXPECT_TRUE(throws_error([&] { run(big); }, ErrorCode::kLimit,
                           {"expands to more than 67108864 values (limit kMaxPickleValues)"}));
}

TEST(UnpicklerRefusal, BytesPastThePickleMayExceedTheLimit) {
  const std::size_t size = limits::kMaxPickleBytes + 4096;
  void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  const std::span<std::byte> bytes(static_cast<std::byte*>(memory), size);
  auto write = [&](const PickleBuilder& b) { std::ranges::copy(b.span(), bytes.begin()); };

  PickleBuilder small;
  small.proto().unicode("model").stop();
  write(small);
  const UnpickleResult result = unpickle(bytes, {});
  EXPECT_EQ(result.value.as_string(), "model");
  EXPECT_EQ(result.bytes_read, small.span().size());

  PickleBuilder framed;  // a FRAME that ends past the limit
  framed.proto(4).op(Op::kFrame).le(limits::kMaxPickleBytes, 8);
  write(framed);
  EXPECT_TRUE(throws_error([&] { unpickle(bytes, {}); }, ErrorCode::kLimit,
                           {"the pickle runs past 2147483648 bytes", "kMaxPickleBytes"}));
  EXPECT_TRUE(throws_error([&] { run(framed); }, ErrorCode::kCorrupt,
                           {"truncated pickle: FRAME of 2147483648 bytes"}));
  ::munmap(memory, size);
}

TEST(UnpicklerRefusal, MemoLimitAndFarIndices) {
  PickleBuilder memo;  // MEMOIZE adds an entry per byte
  memo.proto(4).none();
  for (std::size_t i = 0; i <= limits::kMaxPickleMemo; ++i) memo.op(Op::kMemoize);
  EXPECT_TRUE(throws_error([&] { run(memo); }, ErrorCode::kLimit,
                           {"the memo exceeds 16777216 entries", "kMaxPickleMemo"}));

  PickleBuilder far;  // a far index costs one entry
  far.proto().none().op(Op::kLongBinPut).le(0xfffffff0u, 4).op(Op::kPop);
  far.op(Op::kLongBinGet).le(0xfffffff0u, 4).stop();
  EXPECT_TRUE(read(far).is_none());
}

TEST(UnpicklerRefusal, EveryTruncationOfARealPickleIsCorrupt) {
  for (const char* golden : {kStateDictPickle, kCheckpointPickle}) {
    const auto data = from_hex(golden);
    for (std::size_t n = 0; n < data.size(); ++n) {
      ZeroStorages storages;
      const std::span<const std::byte> prefix(data.data(), n);
      EXPECT_TRUE(throws_error([&] { unpickle(prefix, storages.loader()); }, ErrorCode::kCorrupt,
                               {"pickle: ", " at byte "}))
          << "prefix of " << n << " bytes";
    }
  }
}

TEST(UnpicklerRefusal, ByteFlipsGiveValuesOrCleanErrors) {
  const auto original = from_hex(kCheckpointPickle);
  std::size_t errors = 0;
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (std::uint8_t value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      auto data = original;
      data[i] = static_cast<std::byte>(value);
      ZeroStorages storages;
      try {
        unpickle(data, storages.loader());
      } catch (const Error&) {
        ++errors;
      }  // any other exception fails the test
    }
  }
  EXPECT_GT(errors, original.size());
}

}  // namespace
}  // namespace mnemo::pickle::testing
