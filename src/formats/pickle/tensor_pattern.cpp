#include "formats/pickle/tensor_pattern.h"

#include "formats/pickle/opcodes.h"

namespace mnemo::pickle::detail {
namespace {

// Reads opcodes and operands. Each reader returns false, having stored nothing
// reliable, on anything short or different; it never throws. Results go to out
// parameters: the pattern is a few hundred bytes, and copying it through optionals cost
// more than reading it.
class Cursor {
 public:
  Cursor(std::span<const std::byte> data, std::size_t pos)
      : begin_(reinterpret_cast<const std::uint8_t*>(data.data())),
        at_(begin_ + pos),
        end_(begin_ + data.size()) {}

  std::size_t pos() const { return static_cast<std::size_t>(at_ - begin_); }
  bool at(Op op) const { return at_ < end_ && static_cast<Op>(*at_) == op; }
  bool take_op(Op op) {
    if (!at(op)) return false;
    ++at_;
    return true;
  }

  // BINPUT or LONG_BINPUT: its index.
  [[gnu::always_inline]] bool put(std::size_t& index) {
    return indexed(Op::kBinPut, Op::kLongBinPut, index);
  }
  // BINGET or LONG_BINGET: its index.
  [[gnu::always_inline]] bool get(std::size_t& index) {
    return indexed(Op::kBinGet, Op::kLongBinGet, index);
  }

  // A non-negative BININT1, BININT2 or BININT.
  [[gnu::always_inline]] bool small_int(std::int64_t& value) {
    if (at_ >= end_) return false;
    std::uint64_t raw = 0;
    switch (static_cast<Op>(*at_)) {
      case Op::kBinInt1:
        if (!uint_le(1, raw)) return false;
        break;
      case Op::kBinInt2:
        if (!uint_le(2, raw)) return false;
        break;
      case Op::kBinInt:
        // Negative: the general path says what is wrong with it.
        if (!uint_le(4, raw) || raw > 0x7fffffffu) return false;
        break;
      default:
        return false;
    }
    value = static_cast<std::int64_t>(raw);
    return true;
  }

  // A str: BINUNICODE or SHORT_BINUNICODE and its BINPUT, or a BINGET.
  [[gnu::always_inline]] bool str(StrOperand& operand) {
    operand.text = {};
    operand.fetched = kNoMemo;
    operand.put = kNoMemo;
    if (get(operand.fetched)) return true;
    std::uint64_t length = 0;
    if (at(Op::kShortBinUnicode)) {
      if (!uint_le(1, length)) return false;
    } else if (at(Op::kBinUnicode)) {
      if (!uint_le(4, length)) return false;
    } else {
      return false;
    }
    if (static_cast<std::uint64_t>(end_ - at_) < length) return false;
    operand.text =
        std::string_view(reinterpret_cast<const char*>(at_), static_cast<std::size_t>(length));
    at_ += length;
    return put(operand.put);
  }

  // A tuple of ints: EMPTY_TUPLE, or ints then TUPLE1-3, or MARK ints TUPLE; then BINPUT
  // unless empty.
  [[gnu::always_inline]] bool int_tuple(IntTuple& tuple) {
    tuple.size = 0;
    tuple.put = kNoMemo;
    if (take_op(Op::kEmptyTuple)) return true;
    const bool marked = take_op(Op::kMark);
    // Ints up to the first other opcode; one that small_int refuses (a negative BININT)
    // refuses the tuple, for the general path to report.
    while (tuple.size < tuple.items.size() &&
           (at(Op::kBinInt1) || at(Op::kBinInt2) || at(Op::kBinInt))) {
      if (!small_int(tuple.items[tuple.size++])) return false;
    }
    if (tuple.size == 0 || at_ >= end_) return false;
    const auto close = static_cast<Op>(*at_++);
    const bool closed = marked ? close == Op::kTuple
                               : (tuple.size == 1 && close == Op::kTuple1) ||
                                     (tuple.size == 2 && close == Op::kTuple2) ||
                                     (tuple.size == 3 && close == Op::kTuple3);
    return closed && put(tuple.put);
  }

 private:
  // The opcode at the cursor and its n-byte little-endian operand.
  [[gnu::always_inline]] bool uint_le(std::size_t n, std::uint64_t& value) {
    if (static_cast<std::size_t>(end_ - at_) <= n) return false;
    value = 0;
    for (std::size_t i = n; i > 0; --i) value = (value << 8) | at_[i];
    at_ += n + 1;
    return true;
  }
  [[gnu::always_inline]] bool indexed(Op short_form, Op long_form, std::size_t& index) {
    std::uint64_t raw = 0;
    if (at(short_form)) {
      if (!uint_le(1, raw)) return false;
    } else if (at(long_form)) {
      if (!uint_le(4, raw)) return false;
    } else {
      return false;
    }
    index = static_cast<std::size_t>(raw);
    return true;
  }

  const std::uint8_t* begin_;
  const std::uint8_t* at_;
  const std::uint8_t* end_;
};

}  // namespace

bool match_tensor_item(std::span<const std::byte> data, std::size_t pos, TensorItem& item) {
  Cursor in(data, pos);
  StrOperand key;
  if (!in.str(key) || key.fetched != kNoMemo || !in.get(item.rebuild) || !in.at(Op::kMark)) {
    return false;
  }
  item.key = key.text;
  item.key_put = key.put;
  item.pattern = in.pos();
  return true;
}

bool match_tensor_pattern(std::span<const std::byte> data, std::size_t pos, TensorPattern& p) {
  // Each condition reads on from where the one before it stopped.
  Cursor in(data, pos);
  if (!in.take_op(Op::kMark) || !in.take_op(Op::kMark) || !in.str(p.tag) ||
      !in.get(p.storage_class) || !in.str(p.key) || !in.str(p.location) || !in.small_int(p.numel) ||
      !in.take_op(Op::kTuple) || !in.put(p.pid_put)) {
    return false;
  }
  p.persid_offset = in.pos();
  if (!in.take_op(Op::kBinPersId) || !in.small_int(p.storage_offset) || !in.int_tuple(p.sizes) ||
      !in.int_tuple(p.strides)) {
    return false;
  }
  p.requires_grad = in.take_op(Op::kNewTrue);
  if (!p.requires_grad && !in.take_op(Op::kNewFalse)) return false;
  if (!in.get(p.ordered_dict) || !in.take_op(Op::kEmptyTuple) || !in.take_op(Op::kReduce) ||
      !in.put(p.hooks_put) || !in.take_op(Op::kTuple) || !in.put(p.args_put)) {
    return false;
  }
  p.reduce_offset = in.pos();
  if (!in.take_op(Op::kReduce) || !in.put(p.tensor_put)) return false;
  p.end = in.pos();
  return true;
}

}  // namespace mnemo::pickle::detail
