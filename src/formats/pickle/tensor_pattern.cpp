#include "formats/pickle/tensor_pattern.h"

#include "formats/pickle/opcodes.h"

namespace mnemo::pickle::detail {
namespace {

// Reads opcodes and operands, reporting failure (never throwing) on anything short.
class Cursor {
 public:
  Cursor(std::span<const std::byte> data, std::size_t pos) : data_(data), pos_(pos) {}

  std::size_t pos() const { return pos_; }
  bool at(Op op) const { return pos_ < data_.size() && static_cast<Op>(data_[pos_]) == op; }
  bool take_op(Op op) {
    if (!at(op)) return false;
    ++pos_;
    return true;
  }
  std::optional<std::uint64_t> uint_le(std::size_t n) {
    if (data_.size() - pos_ < n) return std::nullopt;
    std::uint64_t value = 0;
    for (std::size_t i = n; i-- > 0;)
      value = (value << 8) | static_cast<std::uint8_t>(data_[pos_ + i]);
    pos_ += n;
    return value;
  }
  std::optional<std::string_view> text(std::size_t n) {
    if (data_.size() - pos_ < n) return std::nullopt;
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  // BINPUT or LONG_BINPUT: its index.
  std::optional<std::size_t> put() {
    if (take_op(Op::kBinPut)) return as_size(uint_le(1));
    if (take_op(Op::kLongBinPut)) return as_size(uint_le(4));
    return std::nullopt;
  }
  // BINGET or LONG_BINGET: its index.
  std::optional<std::size_t> get() {
    if (take_op(Op::kBinGet)) return as_size(uint_le(1));
    if (take_op(Op::kLongBinGet)) return as_size(uint_le(4));
    return std::nullopt;
  }
  // A non-negative BININT1, BININT2 or BININT.
  std::optional<std::int64_t> small_int() {
    if (take_op(Op::kBinInt1)) return as_int(uint_le(1));
    if (take_op(Op::kBinInt2)) return as_int(uint_le(2));
    if (take_op(Op::kBinInt)) {
      const auto raw = uint_le(4);
      if (!raw || *raw > 0x7fffffffu) return std::nullopt;  // negative: the general path says so
      return static_cast<std::int64_t>(*raw);
    }
    return std::nullopt;
  }
  // A str: BINUNICODE or SHORT_BINUNICODE and its BINPUT, or a BINGET.
  std::optional<StrOperand> str() {
    StrOperand operand;
    operand.offset = pos_;
    if (const auto fetched = get()) {
      operand.fetched = *fetched;
      return operand;
    }
    std::optional<std::uint64_t> length;
    if (take_op(Op::kShortBinUnicode)) {
      length = uint_le(1);
    } else if (take_op(Op::kBinUnicode)) {
      length = uint_le(4);
    }
    if (!length) return std::nullopt;
    const auto text = this->text(static_cast<std::size_t>(*length));
    const auto put = this->put();
    if (!text || !put) return std::nullopt;
    operand.text = *text;
    operand.put = *put;
    return operand;
  }
  // A tuple of ints: EMPTY_TUPLE, or ints then TUPLE1-3, or MARK ints TUPLE; then BINPUT
  // unless empty.
  std::optional<IntTuple> int_tuple() {
    IntTuple tuple;
    if (take_op(Op::kEmptyTuple)) return tuple;
    const bool marked = take_op(Op::kMark);
    while (!at(Op::kTuple) && !at(Op::kTuple1) && !at(Op::kTuple2) && !at(Op::kTuple3)) {
      if (tuple.size == tuple.items.size()) return std::nullopt;
      const auto value = small_int();
      if (!value) return std::nullopt;
      tuple.items[tuple.size++] = *value;
    }
    const std::size_t expected = marked ? 0 : tuple.size;
    const bool closed = marked ? take_op(Op::kTuple)
                               : (expected == 1 && take_op(Op::kTuple1)) ||
                                     (expected == 2 && take_op(Op::kTuple2)) ||
                                     (expected == 3 && take_op(Op::kTuple3));
    if (!closed || tuple.size == 0) return std::nullopt;
    const auto put = this->put();
    if (!put) return std::nullopt;
    tuple.put = *put;
    return tuple;
  }

 private:
  static std::optional<std::size_t> as_size(std::optional<std::uint64_t> v) {
    if (!v) return std::nullopt;
    return static_cast<std::size_t>(*v);
  }
  static std::optional<std::int64_t> as_int(std::optional<std::uint64_t> v) {
    if (!v) return std::nullopt;
    return static_cast<std::int64_t>(*v);
  }

  std::span<const std::byte> data_;
  std::size_t pos_;
};

// Stores an operand the cursor read into its field; false when there was none.
template <class T>
bool into(std::optional<T> operand, T& field) {
  if (!operand) return false;
  field = *operand;
  return true;
}

}  // namespace

std::optional<TensorPattern> match_tensor_pattern(std::span<const std::byte> data,
                                                  std::size_t pos) {
  // Each condition reads on from where the one before it stopped.
  Cursor in(data, pos);
  TensorPattern p;
  if (!in.take_op(Op::kMark) || !in.take_op(Op::kMark) || !into(in.str(), p.tag) ||
      !into(in.get(), p.storage_class) || !into(in.str(), p.key) || !into(in.str(), p.location) ||
      !into(in.small_int(), p.numel) || !in.take_op(Op::kTuple) || !into(in.put(), p.pid_put)) {
    return std::nullopt;
  }
  p.persid_offset = in.pos();
  if (!in.take_op(Op::kBinPersId) || !into(in.small_int(), p.storage_offset) ||
      !into(in.int_tuple(), p.sizes) || !into(in.int_tuple(), p.strides)) {
    return std::nullopt;
  }
  p.requires_grad = in.take_op(Op::kNewTrue);
  if (!p.requires_grad && !in.take_op(Op::kNewFalse)) return std::nullopt;
  if (!into(in.get(), p.ordered_dict) || !in.take_op(Op::kEmptyTuple) || !in.take_op(Op::kReduce) ||
      !into(in.put(), p.hooks_put) || !in.take_op(Op::kTuple) || !into(in.put(), p.args_put)) {
    return std::nullopt;
  }
  p.reduce_offset = in.pos();
  if (!in.take_op(Op::kReduce) || !into(in.put(), p.tensor_put)) return std::nullopt;
  p.end = in.pos();
  return p;
}

}  // namespace mnemo::pickle::detail
