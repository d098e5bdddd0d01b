// copy_, clone, contiguous, to, fill_, equal and allclose.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>

#include "core/tensor_test_util.h"
#include "mnemo/core/tensor.h"

namespace mnemo {
namespace {

using Floats = std::vector<float>;
using Int64s = std::vector<std::int64_t>;
using testing::iota;
using testing::kInf;
using testing::kNan;
using testing::throws_error;
using testing::values;

// --- copy_ ---------------------------------------------------------------------------------------

TEST(TensorCopyTest, CopiesValuesIntoExistingStorage) {
  const Tensor dst = zeros({2, 3});
  const Storage before = dst.storage();
  const Tensor& result = dst.copy_(iota({2, 3}).to(DType::kFloat32));
  EXPECT_TRUE(result.is_same(dst));
  EXPECT_TRUE(dst.storage().is_same(before));
  EXPECT_EQ(values<float>(dst), (Floats{0, 1, 2, 3, 4, 5}));
}

TEST(TensorCopyTest, CastsByTheConversionRules) {
  const Tensor src = tensor<float>({2.9f, -2.9f, 300.5f, NAN, -0.0f, 1e10f});
  const Tensor as_int8 = zeros({6}, {.dtype = DType::kInt8});
  as_int8.copy_(src);
  EXPECT_EQ(values<std::int8_t>(as_int8), (std::vector<std::int8_t>{2, -2, 127, 0, 0, 127}));
  const Tensor as_bool = zeros({6}, {.dtype = DType::kBool});
  as_bool.copy_(src);
  EXPECT_EQ(values<std::uint8_t>(as_bool), (std::vector<std::uint8_t>{1, 1, 1, 1, 0, 1}));
  const Tensor as_half = zeros({6}, {.dtype = DType::kFloat16});
  as_half.copy_(src);
  const Half* h = as_half.data<Half>();
  EXPECT_EQ(h[0].bits, Half(2.9f).bits);
  EXPECT_EQ(h[3].bits, 0x7e00);
  EXPECT_EQ(h[4].bits, 0x8000);
  EXPECT_EQ(h[5].bits, 0x7c00);
  const Tensor wrapped = zeros({2}, {.dtype = DType::kUInt8});
  wrapped.copy_(tensor<std::int64_t>({-1, 256 + 7}));
  EXPECT_EQ(values<std::int64_t>(wrapped), (Int64s{255, 7}));
  const Tensor complex = zeros({2}, {.dtype = DType::kComplex64});
  complex.copy_(tensor<double>({1.5, -2}));
  EXPECT_EQ(complex.at<std::complex<float>>({0}), std::complex<float>(1.5f, 0));
}

TEST(TensorCopyTest, CastsBetweenNonContiguousTensors) {
  const Tensor src = iota({3, 4}).t();  // {4, 3}, strides {1, 4}
  const Tensor dst = zeros({3, 4}, {.dtype = DType::kFloat64}).t();
  dst.copy_(src);
  EXPECT_EQ(values<double>(dst), values<double>(src));
  EXPECT_EQ(values<double>(dst.t()), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  const Tensor base = zeros({8}, {.dtype = DType::kInt16});
  base.slice(0, 0, 8, 2).copy_(tensor<float>({1.5f, 2.5f, 3.5f, 4.5f}));
  EXPECT_EQ(values<std::int16_t>(base), (std::vector<std::int16_t>{1, 0, 2, 0, 3, 0, 4, 0}));
}

TEST(TensorCopyTest, Broadcasts) {
  const Tensor dst = zeros({2, 3});
  dst.copy_(tensor<float>({1, 2, 3}));
  EXPECT_EQ(values<float>(dst), (Floats{1, 2, 3, 1, 2, 3}));
  dst.copy_(tensor<std::int32_t>({7, 8}).view({2, 1}));
  EXPECT_EQ(values<float>(dst), (Floats{7, 7, 7, 8, 8, 8}));
  dst.copy_(scalar_tensor<double>(-1));
  EXPECT_EQ(values<float>(dst), (Floats{-1, -1, -1, -1, -1, -1}));
  EXPECT_TRUE(throws_error([&] { dst.copy_(zeros({4})); }, ErrorCode::kInvalidArgument,
                           "must match the existing size"));
  EXPECT_TRUE(throws_error(
      [&] {
        dst.copy_(zeros({1, 2, 3}));
      },
      ErrorCode::kInvalidArgument, "expand"));
  EXPECT_TRUE(throws_error([&] { dst.copy_(Tensor()); }, ErrorCode::kInvalidArgument, "undefined"));
}

TEST(TensorCopyTest, OverlappingSelfCopyOfTheTranspose) {
  const Tensor t = iota({3, 3});
  t.copy_(t.t());
  EXPECT_EQ(values<std::int64_t>(t), (Int64s{0, 3, 6, 1, 4, 7, 2, 5, 8}));
  const Tensor f = iota({4, 4}).to(DType::kFloat32);
  f.copy_(f.t());
  EXPECT_EQ(f.at<float>({0, 1}), 4);
  EXPECT_EQ(f.at<float>({1, 0}), 1);
  EXPECT_EQ(f.at<float>({3, 2}), 11);
}

TEST(TensorCopyTest, OverlappingShiftActsLikeMemmove) {
  const Tensor t = iota({10});
  t.narrow(0, 1, 9).copy_(t.narrow(0, 0, 9));
  EXPECT_EQ(values<std::int64_t>(t), (Int64s{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  const Tensor u = iota({10});
  u.narrow(0, 0, 9).copy_(u.narrow(0, 1, 9));
  EXPECT_EQ(values<std::int64_t>(u), (Int64s{1, 2, 3, 4, 5, 6, 7, 8, 9, 9}));
  // Overlap through another dtype's view of the same bytes.
  const Tensor v = iota({4});
  const Tensor same_memory(v.storage(), DType::kInt64, {4}, {1});
  v.copy_(same_memory);  // identical view: nothing to do
  EXPECT_EQ(values<std::int64_t>(v), (Int64s{0, 1, 2, 3}));
  const Tensor reversed = v.as_strided({2}, {1}, 2);
  v.narrow(0, 1, 2).copy_(reversed);
  EXPECT_EQ(values<std::int64_t>(v), (Int64s{0, 2, 3, 3}));
}

TEST(TensorCopyTest, SelfCopyIsANoOp) {
  const Tensor t = iota({4});
  t.copy_(t);
  EXPECT_EQ(values<std::int64_t>(t), (Int64s{0, 1, 2, 3}));
  t.copy_(t.view({2, 2}).view({4}));
  EXPECT_EQ(values<std::int64_t>(t), (Int64s{0, 1, 2, 3}));
}

TEST(TensorCopyTest, EmptyCopyDoesNothing) {
  const Tensor dst = zeros({0, 3});
  EXPECT_NO_THROW(dst.copy_(zeros({0, 3})));
  EXPECT_NO_THROW(dst.copy_(zeros({3})));
}

TEST(TensorCopyTest, BoolBytesFromAFileReadAsTrue) {
  std::uint8_t bytes[4] = {0, 1, 2, 255};
  const Tensor flags = from_blob(bytes, {4}, DType::kBool);
  EXPECT_EQ(values<float>(flags), (Floats{0, 1, 1, 1}));
  EXPECT_EQ(values<std::int64_t>(flags.slice(0, 0, 4, 2)), (Int64s{0, 1}));
  const Tensor copied = zeros({4}, {.dtype = DType::kBool});
  copied.copy_(flags);
  EXPECT_EQ(values<std::uint8_t>(copied), (std::vector<std::uint8_t>{0, 1, 1, 1}));
  EXPECT_TRUE(flags.equal(tensor<bool>({false, true, true, true})));
  EXPECT_EQ(flags.select(0, 2).item<std::int32_t>(), 1);
}

// --- clone, contiguous, to
// ----------------------------------------------------------------------------

TEST(TensorCopyTest, CloneIsAContiguousCopy) {
  const Tensor t = iota({3, 4}).t().narrow(0, 1, 2);  // {2, 3}, strides {1, 4}, offset 1
  const Tensor c = t.clone();
  EXPECT_FALSE(c.storage().is_same(t.storage()));
  EXPECT_EQ(c.sizes(), (Shape{2, 3}));
  EXPECT_EQ(c.strides(), (Shape{3, 1}));
  EXPECT_EQ(c.storage_offset(), 0);
  EXPECT_EQ(c.dtype(), DType::kInt64);
  EXPECT_EQ(values<std::int64_t>(c), (Int64s{1, 5, 9, 2, 6, 10}));
  c.mutable_at<std::int64_t>({0, 0}) = -1;
  EXPECT_EQ(t.at<std::int64_t>({0, 0}), 1);
  const Tensor expanded = scalar_tensor<float>(2).expand({2, 2}).clone();
  EXPECT_EQ(expanded.strides(), (Shape{2, 1}));
  EXPECT_EQ(values<float>(expanded), (Floats{2, 2, 2, 2}));
  const Tensor contiguous = iota({2});
  EXPECT_FALSE(contiguous.clone().storage().is_same(contiguous.storage()));
  EXPECT_EQ(Tensor(Storage::allocate(8, Device::cuda(0)), DType::kInt8, {8}, {1}).clone().device(),
            Device::cuda(0));
}

TEST(TensorCopyTest, ContiguousReturnsItselfOrACopy) {
  const Tensor t = iota({2, 3});
  EXPECT_TRUE(t.contiguous().is_same(t));
  const Tensor tt = t.t();
  const Tensor c = tt.contiguous();
  EXPECT_FALSE(c.storage().is_same(t.storage()));
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(values<std::int64_t>(c), (Int64s{0, 3, 1, 4, 2, 5}));
}

TEST(TensorCopyTest, To) {
  const Tensor t = tensor<double>({1.5, -2.5, 0});
  EXPECT_TRUE(t.to(DType::kFloat64).is_same(t));
  const Tensor i = t.to(DType::kInt32);
  EXPECT_EQ(i.dtype(), DType::kInt32);
  EXPECT_EQ(values<std::int32_t>(i), (std::vector<std::int32_t>{1, -2, 0}));
  EXPECT_FALSE(i.storage().is_same(t.storage()));
  EXPECT_EQ(values<std::uint8_t>(t.to(DType::kBool)), (std::vector<std::uint8_t>{1, 1, 0}));
  EXPECT_EQ(t.to(DType::kBFloat16).data<BFloat16>()[1].bits, BFloat16(-2.5f).bits);
  const Tensor view = iota({2, 2}).t().to(DType::kFloat32);
  EXPECT_EQ(values<float>(view), (Floats{0, 2, 1, 3}));
}

// --- fill_
// ---------------------------------------------------------------------------------------------

TEST(TensorFillTest, FillsEveryDType) {
  for (DType dtype : kAllDTypes) {
    const Tensor t = empty({2, 3}, {.dtype = dtype});
    t.fill_(3.0);
    const double want = dtype == DType::kBool ? 1.0 : 3.0;  // bool holds "non-zero"
    EXPECT_EQ(values<double>(t), (std::vector<double>(6, want))) << dtype_name(dtype);
    t.zero_();
    EXPECT_EQ(values<double>(t), (std::vector<double>(6, 0.0))) << dtype_name(dtype);
  }
}

TEST(TensorFillTest, ConvertsTheValue) {
  EXPECT_EQ(values<std::int64_t>(empty({2}, {.dtype = DType::kInt32}).fill_(2.7)), (Int64s{2, 2}));
  EXPECT_EQ(values<std::int64_t>(empty({1}, {.dtype = DType::kInt8}).fill_(1e10)), (Int64s{127}));
  EXPECT_EQ(values<std::int64_t>(empty({1}, {.dtype = DType::kInt64}).fill_(kNan)), (Int64s{0}));
  EXPECT_EQ(values<std::uint8_t>(empty({1}, {.dtype = DType::kBool}).fill_(0.5)),
            (std::vector<std::uint8_t>{1}));
  EXPECT_EQ(empty({1}, {.dtype = DType::kFloat16}).fill_(65520).data<Half>()[0].bits, 0x7c00);
  EXPECT_TRUE(std::isnan(empty({}, {.dtype = DType::kFloat32}).fill_(kNan).item<float>()));
}

TEST(TensorFillTest, FillsOnlyTheView) {
  const Tensor t = zeros({3, 4});
  t.select(1, 2).fill_(5);
  t.slice(0, 0, 3, 2).narrow(1, 0, 1).fill_(-1);
  EXPECT_EQ(values<float>(t), (Floats{-1, 0, 5, 0, 0, 0, 5, 0, -1, 0, 5, 0}));
  const Tensor scalar = zeros({4}).select(0, 3);
  scalar.fill_(8);
  EXPECT_EQ(scalar.item<float>(), 8);
  EXPECT_NO_THROW(zeros({0, 2}).fill_(1));
}

// --- equal and allclose
// --------------------------------------------------------------------------------

TEST(TensorCompareTest, Equal) {
  const Tensor a = iota({2, 3});
  EXPECT_TRUE(a.equal(a));
  EXPECT_TRUE(a.equal(a.clone()));
  EXPECT_TRUE(a.t().equal(a.t().contiguous()));  // strides do not matter
  EXPECT_FALSE(a.equal(a.t()));                  // sizes do
  EXPECT_FALSE(a.equal(a.view({6})));
  EXPECT_FALSE(a.equal(a.to(DType::kInt32)));  // dtypes do
  const Tensor b = a.clone();
  b.mutable_at<std::int64_t>({1, 2}) = 6;
  EXPECT_FALSE(a.equal(b));
  EXPECT_TRUE(zeros({0, 2}).equal(zeros({0, 2})));
  EXPECT_FALSE(zeros({0, 2}).equal(zeros({2, 0})));
  EXPECT_TRUE(tensor<float>({0.0f}).equal(tensor<float>({-0.0f})));  // by value
}

TEST(TensorCompareTest, NanIsNeverEqual) {
  const Tensor n = tensor<float>({1, NAN});
  EXPECT_FALSE(n.equal(n));
  EXPECT_FALSE(n.equal(n.clone()));
  const Tensor h = n.to(DType::kFloat16);
  EXPECT_FALSE(h.equal(h));
  EXPECT_FALSE(n.to(DType::kBFloat16).equal(n.to(DType::kBFloat16)));
  const Tensor c = n.to(DType::kComplex128);
  EXPECT_FALSE(c.equal(c));
  EXPECT_TRUE(n.narrow(0, 0, 1).equal(tensor<float>({1})));
}

TEST(TensorCompareTest, EqualHalvesByValue) {
  // +0 and -0 differ in bits but are equal values.
  const Tensor a = from_blob(new std::uint16_t[2]{0x0000, 0x3c00}, {2}, DType::kFloat16,
                             [](void* p) { delete[] static_cast<std::uint16_t*>(p); });
  const Tensor b = from_blob(new std::uint16_t[2]{0x8000, 0x3c00}, {2}, DType::kFloat16,
                             [](void* p) { delete[] static_cast<std::uint16_t*>(p); });
  EXPECT_TRUE(a.equal(b));
}

TEST(TensorCompareTest, AllcloseTolerances) {
  const Tensor a = tensor<double>({1.0, 100.0});
  EXPECT_TRUE(a.allclose(tensor<double>({1.0 + 1e-9, 100.0})));
  EXPECT_FALSE(a.allclose(tensor<double>({1.0 + 1e-4, 100.0})));
  // |a - b| <= atol + rtol * |b|: 100.001 is within rtol 1e-5 of 100 (1e-3 <= 1.00001e-3).
  EXPECT_TRUE(a.allclose(tensor<double>({1.0, 100.001})));
  EXPECT_FALSE(a.allclose(tensor<double>({1.0, 100.002})));
  EXPECT_TRUE(a.allclose(tensor<double>({1.5, 100.0}), 0, 0.5));
  EXPECT_FALSE(a.allclose(tensor<double>({1.5, 100.0}), 0, 0.49));
  EXPECT_TRUE(a.allclose(tensor<double>({2.0, 200.0}), 0.5, 0));  // rtol scales with |b|
  EXPECT_FALSE(tensor<double>({2.0}).allclose(tensor<double>({1.0}), 0.5, 0));  // not symmetric
  EXPECT_TRUE(tensor<double>({1.0}).allclose(tensor<double>({2.0}), 0.5, 0));
  EXPECT_TRUE(tensor<double>({0.0}).allclose(tensor<double>({1e-9})));  // atol
  EXPECT_FALSE(tensor<double>({0.0}).allclose(tensor<double>({1e-7})));
}

TEST(TensorCompareTest, AllcloseInfinitiesAndNans) {
  const Tensor inf = tensor<double>({kInf});
  EXPECT_TRUE(inf.allclose(inf.clone()));
  EXPECT_TRUE(tensor<double>({-kInf}).allclose(tensor<double>({-kInf})));
  EXPECT_FALSE(inf.allclose(tensor<double>({-kInf})));
  EXPECT_FALSE(inf.allclose(tensor<double>({1e308})));
  EXPECT_FALSE(tensor<double>({1.0}).allclose(inf));  // infinite tolerance is no excuse
  EXPECT_FALSE(tensor<double>({1.0}).allclose(inf, 0.0, 0.0));
  EXPECT_FALSE(tensor<double>({1.0}).allclose(tensor<double>({-kInf})));
  const Tensor nan = tensor<double>({kNan, 1});
  EXPECT_FALSE(nan.allclose(nan));
  EXPECT_TRUE(nan.allclose(nan, 1e-5, 1e-8, /*equal_nan=*/true));
  EXPECT_FALSE(nan.allclose(tensor<double>({1, 1}), 1e-5, 1e-8, true));
  EXPECT_FALSE(tensor<double>({1, 1}).allclose(nan, 1e-5, 1e-8, true));
}

TEST(TensorCompareTest, AllcloseAcrossDTypesShapesAndComplex) {
  EXPECT_TRUE(tensor<float>({0.1f}).allclose(tensor<double>({0.1})));
  EXPECT_TRUE(iota({2, 2}).allclose(iota({2, 2}).to(DType::kFloat16)));
  EXPECT_TRUE(iota({2, 2}).t().allclose(tensor<std::int64_t>({0, 2, 1, 3}).view({2, 2})));
  EXPECT_TRUE(throws_error(
      [] {
        (void)iota({4}).allclose(iota({2, 2}));
      },
      ErrorCode::kInvalidArgument, "shapes differ"));
  const Tensor c = tensor<std::complex<double>>({{1, 1}});
  EXPECT_TRUE(c.allclose(tensor<std::complex<double>>({{1, 1 + 1e-9}})));
  EXPECT_FALSE(c.allclose(tensor<std::complex<double>>({{1, 1.1}})));
  EXPECT_FALSE(tensor<std::complex<double>>({{kInf, 0}})
                   .allclose(tensor<std::complex<double>>({{kInf, 1}})));
  EXPECT_TRUE(zeros({0}).allclose(zeros({0})));
}

}  // namespace
}  // namespace mnemo
