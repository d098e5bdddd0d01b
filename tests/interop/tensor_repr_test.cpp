// Tensor::repr against repr() of the same tensors in PyTorch.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "mnemo/core/generator.h"
#include "mnemo/core/tensor.h"
#include "support/python.h"

namespace mnemo {
namespace {

using testing::python_output;
using testing::TempDir;

// A float32 tensor whose element i is fn(i), computed in float as torch computes it.
Tensor float_tensor(const Shape& sizes, const std::function<float(float)>& fn) {
  Tensor t = empty(sizes);
  float* out = t.mutable_data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) out[i] = fn(static_cast<float>(i));
  return t;
}

Tensor doubles(std::initializer_list<double> values, DType dtype = DType::kFloat32) {
  return tensor<double>(values).to(dtype);
}

struct ReprCase {
  std::string python;  // an expression; load('name') reads a tensor written by the test
  Tensor tensor;
  std::string raw_name = {};  // when set, the tensor is handed to Python through a file
};

constexpr const char* kReprScript = R"(
import sys
import numpy as np
import torch
directory, cases = sys.argv[1], sys.argv[2]
def load(name, dtype, shape):
    return torch.from_numpy(np.fromfile(f"{directory}/{name}", dtype=dtype).reshape(shape))
inf, nan = float("inf"), float("nan")
for line in open(cases).read().splitlines():
    sys.stdout.write(repr(eval(line)) + "\n<<end>>\n")
)";

TEST(TensorReprInterop, MatchesTorch) {
  Generator gen(2024);
  const Tensor normal = randn({7, 9}, {}, &gen);
  // Magnitudes from 1e-3 to 1e3: scientific notation.
  const Tensor scaled = randn({4, 5}, {.dtype = DType::kFloat64}, &gen);
  for (std::int64_t i = 0; i < scaled.numel(); ++i) {
    scaled.mutable_data<double>()[i] *= std::pow(10.0, static_cast<double>(i % 7 - 3));
  }
  const Tensor wide = rand({1200}, {}, &gen);
  const std::vector<ReprCase> cases = {
      {"torch.tensor([1., 2., 3.])", doubles({1, 2, 3})},
      {"torch.arange(6).view(2, 3)", arange(6).view({2, 3})},
      {"torch.tensor([[1.5, -2.25], [3.125, 4.]])", doubles({1.5, -2.25, 3.125, 4}).view({2, 2})},
      {"torch.arange(20.) / 3", float_tensor({20}, [](float i) { return i / 3.0f; })},
      {"torch.tensor([1e-5, 1., 1000.])", doubles({1e-5, 1, 1000})},
      {"torch.tensor([1e10, 1.])", doubles({1e10, 1})},
      {"torch.tensor([-1.5, -0., 2.])", doubles({-1.5, -0.0, 2})},
      {"torch.tensor(3.5)", scalar_tensor<float>(3.5f)},
      {"torch.tensor(-7)", scalar_tensor<std::int64_t>(-7)},
      {"torch.zeros(2, 0, 3)", zeros({2, 0, 3})},
      {"torch.zeros(0, dtype=torch.int32)", zeros({0}, {.dtype = DType::kInt32})},
      {"torch.tensor([1.5, 2.], dtype=torch.float64)", doubles({1.5, 2}, DType::kFloat64)},
      {"torch.arange(35, dtype=torch.int32)", arange(35, {.dtype = DType::kInt32})},
      {"torch.tensor([True, False, True])", tensor<bool>({true, false, true})},
      {"torch.arange(24.).view(2, 3, 4)", arange(24, {.dtype = DType::kFloat32}).view({2, 3, 4})},
      {"torch.arange(2000)", arange(2000)},
      {"torch.arange(2000.).view(40, 50) / 7",
       float_tensor({40, 50}, [](float i) { return i / 7.0f; })},
      {"torch.arange(1, 1201.).view(2, 3, 200) * 1000",
       float_tensor({2, 3, 200}, [](float i) { return (i + 1) * 1000; })},
      {"torch.tensor([1., inf, nan, -inf])", doubles({1, INFINITY, NAN, -INFINITY})},
      {"torch.tensor([0.1, 2], dtype=torch.half)", doubles({0.1, 2}, DType::kFloat16)},
      {"torch.tensor(1.5, dtype=torch.bfloat16)", scalar_tensor(BFloat16(1.5f))},
      {"torch.tensor([1+2j, -1.5-0.5j])", tensor<std::complex<float>>({{1, 2}, {-1.5f, -0.5f}})},
      {"torch.ones(2, 2, requires_grad=True)", ones({2, 2}, {.requires_grad = true})},
      {"torch.arange(100, dtype=torch.uint8).view(10, 10)",
       arange(100, {.dtype = DType::kUInt8}).view({10, 10})},
      {"torch.arange(12.).view(3, 4).t()", arange(12, {.dtype = DType::kFloat32}).view({3, 4}).t()},
      {"torch.tensor([[-100, 5], [3, 12345]], dtype=torch.int16)",
       tensor<std::int16_t>({-100, 5, 3, 12345}).view({2, 2})},
      {"load('normal', 'float32', (7, 9))", normal, "normal"},
      {"load('scaled', 'float64', (4, 5))", scaled, "scaled"},
      {"load('wide', 'float32', (1200,))", wide, "wide"},
  };

  TempDir dir;
  {
    std::ofstream lines(dir / "cases.txt");
    for (const ReprCase& c : cases) {
      lines << c.python << "\n";
      if (!c.raw_name.empty()) {
        const Tensor data = c.tensor.contiguous();
        std::ofstream(dir / c.raw_name, std::ios::binary)
            .write(static_cast<const char*>(data.data_ptr()),
                   static_cast<std::streamsize>(data.nbytes()));
      }
    }
  }
  const std::string output =
      python_output(kReprScript, dir.path().string() + " " + (dir / "cases.txt").string());
  std::vector<std::string> expected;
  const std::string marker = "\n<<end>>\n";
  for (std::size_t start = 0, end; (end = output.find(marker, start)) != std::string::npos;
       start = end + marker.size()) {
    expected.push_back(output.substr(start, end - start));
  }
  ASSERT_EQ(expected.size(), cases.size()) << output;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(cases[i].tensor.repr(), expected[i]) << cases[i].python;
  }
}

}  // namespace
}  // namespace mnemo
