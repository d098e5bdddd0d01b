// Tensor::repr: torch-style text ("tensor([[1., 2.],\n        [3., 4.]])"), following the
// choices of PyTorch's printing (torch/_tensor_str.py, default print options): one number
// format for all elements, chosen from the elements shown; padding to a common width;
// line wrapping at 80 columns; summarisation of tensors over 1000 elements to their first
// and last 3 items per dimension; suffixes for a non-default dtype, an empty tensor's
// size, a device other than the CPU, and requires_grad.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor_impl.h"

namespace mnemo {
namespace {

constexpr std::int64_t kSummarizeThreshold = 1000;  // more elements than this: summarise
constexpr std::int64_t kEdgeItems = 3;
constexpr std::int64_t kLineWidth = 80;
constexpr std::int64_t kIndent = 7;  // "tensor("

// Python's "{:.Nf}" / "{:.Ne}" of a float: printf's digits, but every NaN is "nan".
std::string python_format(const char* format, double v) {
  if (std::isnan(v)) return "nan";
  char buffer[512];  // "%.0f" of 1e308 has 309 digits
  std::snprintf(buffer, sizeof(buffer), format, v);
  return buffer;
}

std::string pad_left(std::string s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

// The number format shared by all elements of a floating tensor (or by the real, or the
// imaginary, parts of a complex one), chosen from the nonzero finite values shown.
class FloatFormatter {
 public:
  explicit FloatFormatter(const std::vector<double>& shown) {
    std::vector<double> nonzero_finite;
    for (double v : shown) {
      if (std::isfinite(v) && v != 0) nonzero_finite.push_back(v);
    }
    if (nonzero_finite.empty()) return;  // integer mode, width 1
    double min_abs = INFINITY, max_abs = 0;
    for (double v : nonzero_finite) {
      min_abs = std::min(min_abs, std::fabs(v));
      max_abs = std::max(max_abs, std::fabs(v));
      int_mode_ = int_mode_ && std::ceil(v) == v;
    }
    if (int_mode_) {
      sci_mode_ = max_abs / min_abs > 1000.0 || max_abs > 1.0e8;
    } else {
      sci_mode_ = max_abs / min_abs > 1000.0 || max_abs > 1.0e8 || min_abs < 1.0e-4;
    }
    for (double v : nonzero_finite) {
      const std::size_t width = sci_mode_   ? python_format("%.4e", v).size()
                                : int_mode_ ? python_format("%.0f", v).size() + 1
                                            : python_format("%.4f", v).size();
      max_width_ = std::max(max_width_, width);
    }
  }

  std::size_t width() const { return max_width_; }

  std::string format(double v) const {
    std::string text;
    if (sci_mode_) {
      text = python_format("%.4e", v);
    } else if (int_mode_) {
      text = python_format("%.0f", v);
      if (std::isfinite(v)) text += ".";
    } else {
      text = python_format("%.4f", v);
    }
    return pad_left(std::move(text), max_width_);
  }

 private:
  bool int_mode_ = true;
  bool sci_mode_ = false;
  std::size_t max_width_ = 1;
};

// Walks the elements of a contiguous tensor that the printout shows.
class Printer {
 public:
  Printer(const Tensor& data, bool summarize) : data_(data), summarize_(summarize) {}

  // Indices shown along a dimension of `size`; -1 stands for the ellipsis.
  std::vector<std::int64_t> shown(std::int64_t size) const {
    std::vector<std::int64_t> idx;
    if (summarize_ && size > 2 * kEdgeItems) {
      for (std::int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (std::int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
    } else {
      for (std::int64_t i = 0; i < size; ++i) idx.push_back(i);
    }
    return idx;
  }

  // Calls fn(element offset) for every element shown, in order.
  void for_each_shown(const std::function<void(std::int64_t)>& fn, std::int64_t dim = 0,
                      std::int64_t offset = 0) const {
    if (dim == data_.dim()) {
      fn(offset);
      return;
    }
    for (std::int64_t i : shown(data_.size(dim))) {
      if (i >= 0) for_each_shown(fn, dim + 1, offset + i * data_.stride(dim));
    }
  }

  // `cell(offset)` is an element's text; `element_length` its width plus separators.
  std::string body(const std::function<std::string(std::int64_t)>& cell,
                   std::int64_t element_length, std::int64_t dim = 0, std::int64_t offset = 0,
                   std::int64_t indent = kIndent) const {
    const std::int64_t rank = data_.dim();
    if (dim == rank) return cell(offset);  // a 0-dim tensor
    const std::vector<std::int64_t> idx = shown(data_.size(dim));
    std::string out = "[";
    if (dim == rank - 1) {
      const std::int64_t per_line =
          std::max<std::int64_t>(1, (kLineWidth - indent) / element_length);
      for (std::size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) {
          const bool new_line = static_cast<std::int64_t>(k) % per_line == 0;
          out += new_line ? ",\n" + std::string(static_cast<std::size_t>(indent) + 1, ' ') : ", ";
        }
        // The ellipsis of a row counts as an element and carries a space of its own.
        out += idx[k] < 0 ? std::string(" ...") : cell(offset + idx[k] * data_.stride(dim));
      }
    } else {
      const std::string separator = "," +
                                    std::string(static_cast<std::size_t>(rank - dim - 1), '\n') +
                                    std::string(static_cast<std::size_t>(indent) + 1, ' ');
      for (std::size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) out += separator;
        out += idx[k] < 0 ? std::string("...")
                          : body(cell, element_length, dim + 1, offset + idx[k] * data_.stride(dim),
                                 indent + 1);
      }
    }
    return out + "]";
  }

 private:
  const Tensor& data_;
  bool summarize_;
};

// The elements' text for a non-empty tensor, without "tensor(" and suffixes.
std::string tensor_body(const Tensor& t) {
  const bool summarize = t.numel() > kSummarizeThreshold;
  const DType dtype = t.dtype();

  if (is_complex(dtype)) {
    const Tensor data = t.to(DType::kComplex128).contiguous();
    const auto* v = data.data<std::complex<double>>();
    const Printer printer(data, summarize);
    std::vector<double> reals, imags;
    printer.for_each_shown([&](std::int64_t i) {
      reals.push_back(v[i].real());
      imags.push_back(v[i].imag());
    });
    const FloatFormatter real_format(reals), imag_format(imags);
    auto cell = [&](std::int64_t i) {
      std::string imag = imag_format.format(v[i].imag()) + "j";
      imag.erase(0, imag.find_first_not_of(' '));
      const bool signed_imag = imag[0] == '+' || imag[0] == '-';
      return real_format.format(v[i].real()) + (signed_imag ? "" : "+") + imag;
    };
    const auto length =
        static_cast<std::int64_t>(real_format.width() + 2 + imag_format.width() + 1);
    return printer.body(cell, length);
  }

  if (is_floating_point(dtype)) {
    const Tensor data = t.to(DType::kFloat64).contiguous();
    const double* v = data.data<double>();
    const Printer printer(data, summarize);
    std::vector<double> shown;
    printer.for_each_shown([&](std::int64_t i) { shown.push_back(v[i]); });
    const FloatFormatter format(shown);
    return printer.body([&](std::int64_t i) { return format.format(v[i]); },
                        static_cast<std::int64_t>(format.width() + 2));
  }

  // Integers and bools: their Python str(), padded to the widest shown.
  const bool is_bool = dtype == DType::kBool;
  const bool is_uint64 = dtype == DType::kUInt64;
  // Bool bytes read as 0 or 1; uint64 wraps into int64 and is read back unsigned.
  const Tensor data = t.to(DType::kInt64).contiguous();
  const std::int64_t* v = data.data<std::int64_t>();
  auto text = [&](std::int64_t i) {
    if (is_bool) return std::string(v[i] ? "True" : "False");
    return is_uint64 ? std::to_string(static_cast<std::uint64_t>(v[i])) : std::to_string(v[i]);
  };
  const Printer printer(data, summarize);
  std::size_t width = 1;
  printer.for_each_shown([&](std::int64_t i) { width = std::max(width, text(i).size()); });
  return printer.body([&](std::int64_t i) { return pad_left(text(i), width); },
                      static_cast<std::int64_t>(width + 2));
}

// Appends ", suffix" to the text, or moves the suffix to a new line when the last line
// would pass the line width (with PyTorch's arithmetic for that length).
std::string add_suffixes(std::string text, const std::vector<std::string>& suffixes) {
  const std::size_t newline = text.rfind('\n');
  const std::int64_t last_newline =
      newline == std::string::npos ? -1 : static_cast<std::int64_t>(newline);
  std::int64_t last_line = static_cast<std::int64_t>(text.size()) - last_newline + 1;
  for (const std::string& suffix : suffixes) {
    const auto length = static_cast<std::int64_t>(suffix.size());
    if (last_line + length + 2 > kLineWidth) {
      text += ",\n" + std::string(static_cast<std::size_t>(kIndent), ' ') + suffix;
      last_line = kIndent + length;
    } else {
      text += ", " + suffix;
      last_line += length + 2;
    }
  }
  return text + ")";
}

}  // namespace

std::string Tensor::repr() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<std::string> suffixes;
  if (!device().is_cpu()) suffixes.push_back("device='" + device().str() + "'");

  const std::string dtype_suffix = "dtype=torch." + std::string(dtype_name(dtype()));
  std::string text;
  if (numel() == 0) {
    text = "[]";
    if (dim() != 1) {
      std::string size = "size=(";
      for (std::int64_t d = 0; d < dim(); ++d)
        size += (d ? ", " : "") + std::to_string(this->size(d));
      suffixes.push_back(size + ")");
    }
    // No element shows the dtype of an empty tensor: every dtype but float32 is named.
    if (dtype() != DType::kFloat32) suffixes.push_back(dtype_suffix);
  } else {
    const bool default_dtype = dtype() == DType::kFloat32 || dtype() == DType::kComplex64 ||
                               dtype() == DType::kInt64 || dtype() == DType::kBool;
    if (!default_dtype) suffixes.push_back(dtype_suffix);
    text = tensor_body(*this);
  }
  if (requires_grad()) suffixes.push_back("requires_grad=True");
  return add_suffixes("tensor(" + text, suffixes);
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) { return out << tensor.repr(); }

}  // namespace mnemo
