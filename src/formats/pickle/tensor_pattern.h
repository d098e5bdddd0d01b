// The bytes torch.save writes for one tensor, matched without building the pickle's
// objects: the unpickler's fast path for state_dicts of many tensors.
//
// After _rebuild_tensor_v2 has been fetched from the memo, torch.save (protocol 2)
// writes its arguments as
//
//   MARK
//     MARK 'storage' <storage class> '<key>' '<location>' <numel> TUPLE BINPUT  BINPERSID
//     <offset>  (<sizes>) BINPUT  (<strides>) BINPUT  NEWFALSE|NEWTRUE
//     <OrderedDict> EMPTY_TUPLE REDUCE BINPUT
//   TUPLE BINPUT
//   REDUCE BINPUT
//
// where each str is a BINUNICODE (then BINPUT) or a BINGET of one written before, the
// storage class and OrderedDict are BINGETs, and the ints are BININT1, BININT2 or BININT.
// match_tensor_pattern reads exactly that, or nothing: any other opcode, a negative int
// or a truncated operand, and the caller takes the general path, which reads the same
// bytes again and reports what is wrong with them. Matching has no side effects; the
// caller checks what the memo holds and builds the tensor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mnemo::pickle::detail {

inline constexpr std::size_t kNoMemo = static_cast<std::size_t>(-1);

// A str argument: new text (memoised at `put`, or kNoMemo) or a memo fetch.
struct StrOperand {
  std::string_view text;          // when fetched == kNoMemo
  std::size_t fetched = kNoMemo;  // the BINGET's index
  std::size_t put = kNoMemo;      // the BINPUT's index after new text
};

// An int tuple of up to 8 items (a higher rank takes the general path), memoised at
// `put` (kNoMemo when empty). Only the first `size` items are meaningful, so the rest are
// left unset.
struct IntTuple {
  std::array<std::int64_t, 8> items;
  std::size_t size = 0;
  std::size_t put = kNoMemo;
};

struct TensorPattern {
  StrOperand tag;                       // 'storage'
  std::size_t storage_class = kNoMemo;  // memo index of the storage class global
  StrOperand key;
  StrOperand location;
  std::int64_t numel = 0;
  std::size_t pid_put = kNoMemo;    // memo index of the persistent id tuple
  std::uint64_t persid_offset = 0;  // where BINPERSID is
  std::int64_t storage_offset = 0;
  IntTuple sizes;
  IntTuple strides;
  bool requires_grad = false;
  std::size_t ordered_dict = kNoMemo;  // memo index of the OrderedDict global
  std::size_t hooks_put = kNoMemo;     // memo index of the backward_hooks OrderedDict()
  std::size_t args_put = kNoMemo;      // memo index of the arguments tuple
  std::uint64_t reduce_offset = 0;     // where the tensor's REDUCE is
  std::size_t tensor_put = kNoMemo;    // memo index of the tensor
  std::size_t end = 0;                 // the position after the tensor's BINPUT
};

// An item of a state_dict whose value is a tensor, as torch.save writes it:
//
//   BINUNICODE '<key>' BINPUT  BINGET <_rebuild_tensor_v2>  <the pattern above>
//
// (SHORT_BINUNICODE and the long forms of BINPUT and BINGET too). Matched up to the
// pattern's MARK; the caller checks the str and what the memo holds.
struct TensorItem {
  std::string_view key;           // the key's UTF-8 text, as it lies in the pickle
  std::size_t key_put = kNoMemo;  // its BINPUT's index
  std::size_t rebuild = kNoMemo;  // the index the BINGET fetches
  std::size_t pattern = 0;        // where the pattern's MARK is
};

bool match_tensor_item(std::span<const std::byte> data, std::size_t pos, TensorItem& item);

// Matches the pattern at `pos`, the MARK after the _rebuild_tensor_v2 global, into
// `pattern`; false when the bytes there are anything else (`pattern` then holds no
// meaning).
bool match_tensor_pattern(std::span<const std::byte> data, std::size_t pos, TensorPattern& pattern);

}  // namespace mnemo::pickle::detail
