// Byte order: PyTorch writes storages in the machine's order and, since 2.1, records it
// in a "byteorder" record. mnemo keeps tensors little-endian in memory, so a big-endian
// file's elements are swapped on load.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>

#include "mnemo/core/dtype.h"

namespace mnemo::pt {

// The unit whose bytes are reversed: the element, or each half of a complex element.
inline std::size_t byteswap_unit(DType dtype) {
  return is_complex(dtype) ? element_size(dtype) / 2 : element_size(dtype);
}

inline void byteswap_in_place(std::span<std::byte> bytes, std::size_t unit) {
  if (unit <= 1) return;
  for (std::size_t i = 0; i + unit <= bytes.size(); i += unit) {
    std::reverse(bytes.begin() + static_cast<std::ptrdiff_t>(i),
                 bytes.begin() + static_cast<std::ptrdiff_t>(i + unit));
  }
}

}  // namespace mnemo::pt
