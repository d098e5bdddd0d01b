// The pickle opcodes of protocols 0 to 5, under pickletools' names: the one table both
// directions and every message use.
//
// The reader interprets a subset (protocol 2 to 5 binary opcodes, see `supported`); the
// rest exist here so that a refusal can name what it met.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace mnemo::pickle {

enum class Op : std::uint8_t {
  // protocol 0 and 1
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kFloat = 'F',
  kInt = 'I',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kLong = 'L',
  kBinInt2 = 'M',
  kNone = 'N',
  kPersId = 'P',
  kBinPersId = 'Q',
  kReduce = 'R',
  kString = 'S',
  kBinString = 'T',
  kShortBinString = 'U',
  kUnicode = 'V',
  kBinUnicode = 'X',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kDict = 'd',
  kEmptyDict = '}',
  kAppends = 'e',
  kGet = 'g',
  kBinGet = 'h',
  kInst = 'i',
  kLongBinGet = 'j',
  kList = 'l',
  kEmptyList = ']',
  kObj = 'o',
  kPut = 'p',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kEmptyTuple = ')',
  kSetItems = 'u',
  kBinFloat = 'G',
  // protocol 2
  kProto = 0x80,
  kNewObj = 0x81,
  kExt1 = 0x82,
  kExt2 = 0x83,
  kExt4 = 0x84,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  // protocol 3
  kBinBytes = 'B',
  kShortBinBytes = 'C',
  // protocol 4
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kBinBytes8 = 0x8e,
  kEmptySet = 0x8f,
  kAddItems = 0x90,
  kFrozenSet = 0x91,
  kNewObjEx = 0x92,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
  // protocol 5
  kByteArray8 = 0x96,
  kNextBuffer = 0x97,
  kReadOnlyBuffer = 0x98,
};

struct OpInfo {
  Op op;
  std::string_view name;  // pickletools' name
  bool supported;         // interpreted by the reader
};

inline constexpr OpInfo kOps[] = {
    {Op::kMark, "MARK", true},
    {Op::kStop, "STOP", true},
    {Op::kPop, "POP", true},
    {Op::kPopMark, "POP_MARK", true},
    {Op::kDup, "DUP", true},
    {Op::kFloat, "FLOAT", false},
    {Op::kInt, "INT", false},
    {Op::kBinInt, "BININT", true},
    {Op::kBinInt1, "BININT1", true},
    {Op::kLong, "LONG", false},
    {Op::kBinInt2, "BININT2", true},
    {Op::kNone, "NONE", true},
    {Op::kPersId, "PERSID", false},
    {Op::kBinPersId, "BINPERSID", true},
    {Op::kReduce, "REDUCE", true},
    {Op::kString, "STRING", false},
    {Op::kBinString, "BINSTRING", true},
    {Op::kShortBinString, "SHORT_BINSTRING", true},
    {Op::kUnicode, "UNICODE", false},
    {Op::kBinUnicode, "BINUNICODE", true},
    {Op::kAppend, "APPEND", true},
    {Op::kBuild, "BUILD", true},
    {Op::kGlobal, "GLOBAL", true},
    {Op::kDict, "DICT", true},
    {Op::kEmptyDict, "EMPTY_DICT", true},
    {Op::kAppends, "APPENDS", true},
    {Op::kGet, "GET", false},
    {Op::kBinGet, "BINGET", true},
    {Op::kInst, "INST", false},
    {Op::kLongBinGet, "LONG_BINGET", true},
    {Op::kList, "LIST", true},
    {Op::kEmptyList, "EMPTY_LIST", true},
    {Op::kObj, "OBJ", false},
    {Op::kPut, "PUT", false},
    {Op::kBinPut, "BINPUT", true},
    {Op::kLongBinPut, "LONG_BINPUT", true},
    {Op::kSetItem, "SETITEM", true},
    {Op::kTuple, "TUPLE", true},
    {Op::kEmptyTuple, "EMPTY_TUPLE", true},
    {Op::kSetItems, "SETITEMS", true},
    {Op::kBinFloat, "BINFLOAT", true},
    {Op::kProto, "PROTO", true},
    {Op::kNewObj, "NEWOBJ", true},
    {Op::kExt1, "EXT1", false},
    {Op::kExt2, "EXT2", false},
    {Op::kExt4, "EXT4", false},
    {Op::kTuple1, "TUPLE1", true},
    {Op::kTuple2, "TUPLE2", true},
    {Op::kTuple3, "TUPLE3", true},
    {Op::kNewTrue, "NEWTRUE", true},
    {Op::kNewFalse, "NEWFALSE", true},
    {Op::kLong1, "LONG1", true},
    {Op::kLong4, "LONG4", true},
    {Op::kBinBytes, "BINBYTES", true},
    {Op::kShortBinBytes, "SHORT_BINBYTES", true},
    {Op::kShortBinUnicode, "SHORT_BINUNICODE", true},
    {Op::kBinUnicode8, "BINUNICODE8", true},
    {Op::kBinBytes8, "BINBYTES8", true},
    {Op::kEmptySet, "EMPTY_SET", true},
    {Op::kAddItems, "ADDITEMS", true},
    {Op::kFrozenSet, "FROZENSET", true},
    {Op::kNewObjEx, "NEWOBJ_EX", true},
    {Op::kStackGlobal, "STACK_GLOBAL", true},
    {Op::kMemoize, "MEMOIZE", true},
    {Op::kFrame, "FRAME", true},
    {Op::kByteArray8, "BYTEARRAY8", true},
    {Op::kNextBuffer, "NEXT_BUFFER", false},
    {Op::kReadOnlyBuffer, "READONLY_BUFFER", false},
};

// The entry for a byte, or nullptr when the byte is no pickle opcode at all.
// For each byte value, its place in kOps plus one (0: not an opcode): the reader looks
// every opcode up, so this is a table, not a search.
inline constexpr auto kOpIndex = [] {
  std::array<std::uint8_t, 256> index{};
  for (std::size_t i = 0; i < std::size(kOps); ++i) {
    index[static_cast<std::uint8_t>(kOps[i].op)] = static_cast<std::uint8_t>(i + 1);
  }
  return index;
}();

constexpr const OpInfo* find_op(std::uint8_t byte) {
  const std::uint8_t i = kOpIndex[byte];
  return i == 0 ? nullptr : &kOps[i - 1];
}

constexpr std::string_view op_name(Op op) {
  const OpInfo* info = find_op(static_cast<std::uint8_t>(op));
  return info ? info->name : std::string_view("?");
}

// The protocol the writer emits (torch.save's DEFAULT_PROTOCOL) and the newest one read.
inline constexpr int kWriteProtocol = 2;
inline constexpr int kMaxReadProtocol = 5;

}  // namespace mnemo::pickle
