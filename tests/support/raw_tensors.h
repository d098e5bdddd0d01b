// Exchanges tensors with the Python side of the live tests as raw little-endian files
// (numpy.fromfile / ndarray.tofile), so that no format under test is used to test itself.
#pragma once

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "mnemo/core/tensor.h"

namespace mnemo::testing {

// A shape as the scripts read it: "2,3", or "-" for a scalar.
inline std::string shape_text(const Shape& sizes) {
  if (sizes.empty()) return "-";
  std::string out;
  for (std::size_t i = 0; i < sizes.size(); ++i) out += (i ? "," : "") + std::to_string(sizes[i]);
  return out;
}

// Writes the tensor's elements in row-major order, in its own dtype.
inline void write_raw(const std::filesystem::path& path, const Tensor& tensor) {
  Tensor data = tensor.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data.data_ptr()), static_cast<std::streamsize>(data.nbytes()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Reads a tensor of `sizes` and `dtype` written by ndarray.tofile.
inline Tensor read_raw(const std::filesystem::path& path, const Shape& sizes,
                       DType dtype = DType::kFloat32) {
  Tensor result = empty(sizes, {.dtype = dtype});
  std::ifstream in(path, std::ios::binary);
  in.read(static_cast<char*>(result.mutable_data_ptr()), static_cast<std::streamsize>(result.nbytes()));
  if (!in || in.peek() != std::char_traits<char>::eof()) {
    throw std::runtime_error(path.string() + " does not hold exactly " +
                             std::to_string(result.nbytes()) + " bytes");
  }
  return result;
}

}  // namespace mnemo::testing
