#include "mnemo/core/shape.h"

#include <limits>
#include <memory>
#include <stdexcept>

namespace mnemo {

void Shape::reallocate(size_type capacity) {
  if (capacity > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("mnemo::Shape of more than 2^32 - 1 dimensions");
  }
  auto block = std::make_unique_for_overwrite<value_type[]>(capacity);
  std::copy(data_, data_ + size_, block.get());
  if (on_heap()) delete[] data_;
  data_ = block.release();
  capacity_ = static_cast<std::uint32_t>(capacity);
}

void Shape::open_gap(size_type at, size_type count) {
  if (size_ + count > capacity_) reallocate(grown(size_ + count));
  std::copy_backward(data_ + at, data_ + size_, data_ + size_ + count);
  size_ += static_cast<std::uint32_t>(count);
}

Shape::iterator Shape::insert(const_iterator position, size_type count, value_type value) {
  const auto at = static_cast<size_type>(position - data_);
  open_gap(at, count);
  std::fill(data_ + at, data_ + at + count, value);
  return data_ + at;
}

}  // namespace mnemo
