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
  std::copy(data(), data() + size_, block.get());
  if (on_heap()) delete[] heap_;
  heap_ = block.release();
  capacity_ = static_cast<std::uint32_t>(capacity);
}

void Shape::open_gap(size_type at, size_type count) {
  if (size_ + count > capacity_) reallocate(grown(size_ + count));
  std::copy_backward(data() + at, data() + size_, data() + size_ + count);
  size_ += static_cast<std::uint32_t>(count);
}

Shape::iterator Shape::insert(const_iterator position, size_type count, value_type value) {
  const auto at = static_cast<size_type>(position - data());
  open_gap(at, count);
  std::fill(data() + at, data() + at + count, value);
  return data() + at;
}

}  // namespace mnemo
