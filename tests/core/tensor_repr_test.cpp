// Tensor::repr against the text PyTorch 1.13 prints for the same tensors (recorded from
// torch; the live comparison is in tests/interop/tensor_repr_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor_test_util.h"
#include "mnemo/core/tensor.h"

namespace mnemo {
namespace {

using testing::kInf;
using testing::kNan;

// A float32 tensor whose element i is fn(i), computed in float as torch would.
Tensor float_tensor(const Shape& sizes, const std::function<float(float)>& fn) {
  Tensor t = empty(sizes);
  float* out = t.mutable_data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) out[i] = fn(static_cast<float>(i));
  return t;
}

Tensor doubles(std::initializer_list<double> values, DType dtype = DType::kFloat32) {
  return tensor<double>(values).to(dtype);
}

TEST(TensorReprTest, IntegralFloats) {
  EXPECT_EQ(doubles({1, 2, 3}).repr(), "tensor([1., 2., 3.])");
  EXPECT_EQ(doubles({-0.0, 1}).repr(), "tensor([-0., 1.])");
  EXPECT_EQ(doubles({65504, -65504}, DType::kFloat16).repr(),
            "tensor([ 65504., -65504.], dtype=torch.float16)");
  EXPECT_EQ(arange(24, {.dtype = DType::kFloat32}).view({2, 3, 4}).repr(),
            "tensor([[[ 0.,  1.,  2.,  3.],\n"
            "         [ 4.,  5.,  6.,  7.],\n"
            "         [ 8.,  9., 10., 11.]],\n"
            "\n"
            "        [[12., 13., 14., 15.],\n"
            "         [16., 17., 18., 19.],\n"
            "         [20., 21., 22., 23.]]])");
  EXPECT_EQ(arange(12, {.dtype = DType::kFloat32}).view({1, 2, 1, 6}).repr(),
            "tensor([[[[ 0.,  1.,  2.,  3.,  4.,  5.]],\n"
            "\n"
            "         [[ 6.,  7.,  8.,  9., 10., 11.]]]])");
}

TEST(TensorReprTest, FixedFourDecimals) {
  EXPECT_EQ(doubles({1.5, -2.25, 3.125, 4}).view({2, 2}).repr(),
            "tensor([[ 1.5000, -2.2500],\n"
            "        [ 3.1250,  4.0000]])");
  EXPECT_EQ(doubles({0.1, 2}, DType::kFloat16).repr(),
            "tensor([0.1000, 2.0000], dtype=torch.float16)");
  EXPECT_EQ(float_tensor({20}, [](float i) { return i / 3.0f; }).repr(),
            "tensor([0.0000, 0.3333, 0.6667, 1.0000, 1.3333, 1.6667, 2.0000, 2.3333, 2.6667,\n"
            "        3.0000, 3.3333, 3.6667, 4.0000, 4.3333, 4.6667, 5.0000, 5.3333, 5.6667,\n"
            "        6.0000, 6.3333])");
}

TEST(TensorReprTest, ScientificMode) {
  EXPECT_EQ(doubles({1e-5, 1, 1000}).repr(), "tensor([1.0000e-05, 1.0000e+00, 1.0000e+03])");
  EXPECT_EQ(doubles({1e10, 1}).repr(), "tensor([1.0000e+10, 1.0000e+00])");  // integral too
  EXPECT_EQ(doubles({123456789, 0.5}).repr(), "tensor([1.2346e+08, 5.0000e-01])");
  EXPECT_EQ(doubles({0.00012, 0.5}).repr(), "tensor([1.2000e-04, 5.0000e-01])");
  EXPECT_EQ(doubles({0.5, 1e-8}).repr(), "tensor([5.0000e-01, 1.0000e-08])");
  EXPECT_EQ(doubles({1e20, -1e20}).repr(), "tensor([ 1.0000e+20, -1.0000e+20])");
  EXPECT_EQ(doubles({1e-10, 1}).view({1, 2}).repr(), "tensor([[1.0000e-10, 1.0000e+00]])");
}

TEST(TensorReprTest, NonFiniteValuesDoNotSetTheWidth) {
  EXPECT_EQ(doubles({1, kInf, kNan, -kInf}).repr(), "tensor([1., inf, nan, -inf])");
  EXPECT_EQ(doubles({0, kNan}).repr(), "tensor([0., nan])");
  EXPECT_EQ(doubles({-kNan}).repr(), "tensor([nan])");
}

TEST(TensorReprTest, ZeroDim) {
  EXPECT_EQ(scalar_tensor<float>(3.5f).repr(), "tensor(3.5000)");
  EXPECT_EQ(scalar_tensor<std::int64_t>(-2).repr(), "tensor(-2)");
  EXPECT_EQ(scalar_tensor<float>(0).repr(), "tensor(0.)");
  EXPECT_EQ(scalar_tensor(BFloat16(1.5f)).repr(), "tensor(1.5000, dtype=torch.bfloat16)");
  EXPECT_EQ(scalar_tensor<std::complex<float>>({2, -3}).repr(), "tensor(2.-3.j)");
}

TEST(TensorReprTest, Empty) {
  EXPECT_EQ(zeros({2, 0, 3}).repr(), "tensor([], size=(2, 0, 3))");
  EXPECT_EQ(zeros({0}).repr(), "tensor([])");
  EXPECT_EQ(zeros({0}, {.dtype = DType::kInt64}).repr(), "tensor([], dtype=torch.int64)");
  EXPECT_EQ(zeros({3, 0}, {.dtype = DType::kBool}).repr(),
            "tensor([], size=(3, 0), dtype=torch.bool)");
}

TEST(TensorReprTest, Integers) {
  EXPECT_EQ(arange(6).view({2, 3}).repr(), "tensor([[0, 1, 2],\n        [3, 4, 5]])");
  EXPECT_EQ(tensor<std::int64_t>({1, -1000000}).repr(), "tensor([       1, -1000000])");
  EXPECT_EQ(tensor<std::int8_t>({-1, 100}).repr(), "tensor([ -1, 100], dtype=torch.int8)");
  EXPECT_EQ(full({5}, 7, {.dtype = DType::kInt16}).repr(),
            "tensor([7, 7, 7, 7, 7], dtype=torch.int16)");
  // A wrapped row, and a suffix that still fits on the last line.
  EXPECT_EQ(arange(30, {.dtype = DType::kInt32}).repr(),
            "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
            "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29], dtype=torch.int32)");
  EXPECT_EQ(arange(100, {.dtype = DType::kUInt8}).view({10, 10}).select(0, 9).repr(),
            "tensor([90, 91, 92, 93, 94, 95, 96, 97, 98, 99], dtype=torch.uint8)");
}

TEST(TensorReprTest, SuffixMovesToANewLineWhenTheLineIsFull) {
  // 18 elements of width 2 fill the first line; 6 more plus the suffix pass 80 columns.
  EXPECT_EQ(arange(18 + 17, {.dtype = DType::kInt32}).repr(),
            "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
            "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34],\n"
            "       dtype=torch.int32)");
}

TEST(TensorReprTest, Bools) {
  EXPECT_EQ(tensor<bool>({true, false}).repr(), "tensor([ True, False])");
  EXPECT_EQ(tensor<bool>({true, true}).repr(), "tensor([True, True])");
  std::uint8_t bytes[2] = {2, 0};  // a non-canonical true byte prints as True
  EXPECT_EQ(from_blob(bytes, {2}, DType::kBool).repr(), "tensor([ True, False])");
}

TEST(TensorReprTest, Complex) {
  EXPECT_EQ(tensor<std::complex<float>>({{1, 2}, {-1.5f, -0.5f}}).repr(),
            "tensor([ 1.0000+2.0000j, -1.5000-0.5000j])");
  EXPECT_EQ(tensor<std::complex<double>>({{1, 2}}).repr(),
            "tensor([1.+2.j], dtype=torch.complex128)");
}

TEST(TensorReprTest, Summarised) {
  EXPECT_EQ(arange(2000).repr(), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  EXPECT_EQ(float_tensor({40, 50}, [](float i) { return i / 7.0f; }).repr(),
            "tensor([[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 6.7143e+00, 6.8571e+00,\n"
            "         7.0000e+00],\n"
            "        [7.1429e+00, 7.2857e+00, 7.4286e+00,  ..., 1.3857e+01, 1.4000e+01,\n"
            "         1.4143e+01],\n"
            "        [1.4286e+01, 1.4429e+01, 1.4571e+01,  ..., 2.1000e+01, 2.1143e+01,\n"
            "         2.1286e+01],\n"
            "        ...,\n"
            "        [2.6429e+02, 2.6443e+02, 2.6457e+02,  ..., 2.7100e+02, 2.7114e+02,\n"
            "         2.7129e+02],\n"
            "        [2.7143e+02, 2.7157e+02, 2.7171e+02,  ..., 2.7814e+02, 2.7829e+02,\n"
            "         2.7843e+02],\n"
            "        [2.7857e+02, 2.7871e+02, 2.7886e+02,  ..., 2.8529e+02, 2.8543e+02,\n"
            "         2.8557e+02]])");
  EXPECT_EQ(float_tensor({2, 3, 200}, [](float i) { return (i + 1) * 1000; }).repr(),
            "tensor([[[1.0000e+03, 2.0000e+03, 3.0000e+03,  ..., 1.9800e+05,\n"
            "          1.9900e+05, 2.0000e+05],\n"
            "         [2.0100e+05, 2.0200e+05, 2.0300e+05,  ..., 3.9800e+05,\n"
            "          3.9900e+05, 4.0000e+05],\n"
            "         [4.0100e+05, 4.0200e+05, 4.0300e+05,  ..., 5.9800e+05,\n"
            "          5.9900e+05, 6.0000e+05]],\n"
            "\n"
            "        [[6.0100e+05, 6.0200e+05, 6.0300e+05,  ..., 7.9800e+05,\n"
            "          7.9900e+05, 8.0000e+05],\n"
            "         [8.0100e+05, 8.0200e+05, 8.0300e+05,  ..., 9.9800e+05,\n"
            "          9.9900e+05, 1.0000e+06],\n"
            "         [1.0010e+06, 1.0020e+06, 1.0030e+06,  ..., 1.1980e+06,\n"
            "          1.1990e+06, 1.2000e+06]]])");
}

TEST(TensorReprTest, SummaryFormatComesFromTheShownElementsOnly) {
  // The hidden middle holds a fraction; the shown edges are integral, so integer mode.
  Tensor t = arange(1001, {.dtype = DType::kFloat32});
  t.mutable_at<float>({500}) = 0.5f;
  EXPECT_EQ(t.repr(), "tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])");
}

TEST(TensorReprTest, SuffixesDeviceAndRequiresGrad) {
  EXPECT_EQ(ones({2}, {.requires_grad = true}).repr(), "tensor([1., 1.], requires_grad=True)");
  const Tensor gpu(Storage::allocate_zeroed(8, Device::cuda(0)), DType::kFloat64, {1}, {1});
  EXPECT_EQ(gpu.repr(), "tensor([0.], device='cuda:0', dtype=torch.float64)");
  EXPECT_EQ(Tensor().repr(), "tensor(undefined)");
}

TEST(TensorReprTest, NonContiguousViewsPrintTheirElements) {
  EXPECT_EQ(arange(6).view({2, 3}).t().repr(),
            "tensor([[0, 3],\n        [1, 4],\n        [2, 5]])");
  EXPECT_EQ(arange(10).slice(0, 1, 10, 3).repr(), "tensor([1, 4, 7])");
}

// PyTorch 2.x's text for its storage dtypes (1.13 lacks them).
TEST(TensorReprTest, UnsignedAndFloat8DTypes) {
  EXPECT_EQ(tensor<std::uint16_t>({1, 65535}).repr(), "tensor([    1, 65535], dtype=torch.uint16)");
  EXPECT_EQ(tensor<std::uint32_t>({7}).repr(), "tensor([7], dtype=torch.uint32)");
  EXPECT_EQ(tensor<std::uint64_t>({0, 18446744073709551615u}).repr(),
            "tensor([                   0, 18446744073709551615], dtype=torch.uint64)");
  EXPECT_EQ(doubles({1, 448}, DType::kFloat8E4M3FN).repr(),
            "tensor([  1., 448.], dtype=torch.float8_e4m3fn)");
  EXPECT_EQ(doubles({0.5, -2}, DType::kFloat8E5M2).repr(),
            "tensor([ 0.5000, -2.0000], dtype=torch.float8_e5m2)");
  EXPECT_EQ(empty({0}, {.dtype = DType::kUInt64}).repr(), "tensor([], dtype=torch.uint64)");
}

TEST(TensorReprTest, StreamsTheRepr) {
  std::ostringstream out;
  out << tensor<float>({0.5f});
  EXPECT_EQ(out.str(), "tensor([0.5000])");
}

}  // namespace
}  // namespace mnemo
