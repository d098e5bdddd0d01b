#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <new>

#include "core/tensor_test_util.h"
#include "mnemo/core/generator.h"
#include "mnemo/core/tensor.h"

namespace mnemo {
namespace {

using testing::throws_error;
using testing::values;
using Floats = std::vector<float>;
using Int64s = std::vector<std::int64_t>;

TEST(TensorFactoriesTest, EmptyIsContiguousAndAligned) {
  const Tensor t = empty({2, 3, 4}, {.dtype = DType::kFloat64});
  EXPECT_EQ(t.sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_EQ(t.storage_offset(), 0);
  EXPECT_EQ(t.dtype(), DType::kFloat64);
  EXPECT_EQ(t.storage().nbytes(), 24u * 8);
  EXPECT_EQ(t.storage().kind(), StorageKind::kOwned);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % kStorageAlignment, 0u);
  EXPECT_FALSE(t.requires_grad());
  EXPECT_EQ(empty({}).dim(), 0);
  EXPECT_EQ(empty({}).numel(), 1);
  EXPECT_EQ(empty({3, 0, 2}).strides(), (Shape{2, 2, 1}));  // as PyTorch: size 0 counts as 1
  EXPECT_EQ(empty({1}, {.device = Device::cuda(0)}).device(), Device::cuda(0));
}

TEST(TensorFactoriesTest, RefusesImpossibleShapes) {
  EXPECT_TRUE(throws_error([] { empty({-1}); }, ErrorCode::kInvalidArgument, "negative"));
  EXPECT_TRUE(throws_error([] { empty({1LL << 62}); }, ErrorCode::kInvalidArgument,
                           "more bytes than memory can address"));
  EXPECT_TRUE(throws_error(
      [] {
        empty({1LL << 40, 1LL << 40});
      },
      ErrorCode::kInvalidArgument, "2^63"));
  // Fits in size_t but not in memory, and would wrap when rounded to the alignment.
  EXPECT_THROW(empty({std::numeric_limits<std::int64_t>::max()}, {.dtype = DType::kInt16}),
               std::bad_alloc);
}

TEST(TensorFactoriesTest, ZerosOnesFullInEveryDType) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    EXPECT_EQ(values<double>(zeros({2, 2}, {.dtype = dtype})), std::vector<double>(4, 0.0));
    EXPECT_EQ(values<double>(ones({3}, {.dtype = dtype})), std::vector<double>(3, 1.0));
    EXPECT_EQ(zeros({1}, {.dtype = dtype}).dtype(), dtype);
  }
  EXPECT_EQ(values<float>(full({2}, -1.5)), (Floats{-1.5f, -1.5f}));
  EXPECT_EQ(values<std::int64_t>(full({2}, 7.9, {.dtype = DType::kInt64})), (Int64s{7, 7}));
  EXPECT_TRUE(full({1}, 2, {.requires_grad = true}).requires_grad());
  EXPECT_TRUE(zeros({1}, {.requires_grad = true}).requires_grad());
  EXPECT_TRUE(throws_error([] { zeros({1}, {.dtype = DType::kInt8, .requires_grad = true}); },
                           ErrorCode::kInvalidArgument, "require gradients"));
}

TEST(TensorFactoriesTest, ZerosReallyZeroesRecycledMemory) {
  for (int i = 0; i < 8; ++i) full({1024}, 123.0);
  EXPECT_EQ(values<float>(zeros({1024})), Floats(1024, 0.0f));
}

TEST(TensorFactoriesTest, ArangeIntegers) {
  const Tensor t = arange(5);
  EXPECT_EQ(t.dtype(), DType::kInt64);
  EXPECT_EQ(values<std::int64_t>(t), (Int64s{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(0).numel(), 0);
  const Tensor f = arange(3, {.dtype = DType::kFloat32});
  EXPECT_EQ(f.dtype(), DType::kFloat32);
  EXPECT_EQ(values<float>(f), (Floats{0, 1, 2}));
  EXPECT_TRUE(arange(3, {.dtype = DType::kFloat32, .requires_grad = true}).requires_grad());
  EXPECT_TRUE(throws_error([] { arange(-1); }, ErrorCode::kInvalidArgument, "must be >= 0"));
}

TEST(TensorFactoriesTest, ArangeRanges) {
  EXPECT_EQ(values<float>(arange(0.0, 1.0, 0.25)), (Floats{0, 0.25f, 0.5f, 0.75f}));
  EXPECT_EQ(values<float>(arange(1.0, 0.0, -0.5)), (Floats{1, 0.5f}));
  EXPECT_EQ(values<float>(arange(0.0, 1.1, 0.5)), (Floats{0, 0.5f, 1.0f}));  // ceil
  EXPECT_EQ(arange(2.0, 2.0).numel(), 0);
  EXPECT_EQ(arange(0.0, 3.0).dtype(), DType::kFloat32);
  EXPECT_EQ(values<std::int64_t>(arange(-2.0, 2.0, 1.0, {.dtype = DType::kInt64})),
            (Int64s{-2, -1, 0, 1}));
  EXPECT_TRUE(throws_error([] { arange(0.0, 1.0, 0.0); }, ErrorCode::kInvalidArgument, "step"));
  EXPECT_TRUE(throws_error([] { arange(0.0, 1.0, -1.0); }, ErrorCode::kInvalidArgument,
                           "inconsistent with step sign"));
  EXPECT_TRUE(throws_error([] { arange(0.0, NAN); }, ErrorCode::kInvalidArgument, "invalid range"));
  EXPECT_TRUE(
      throws_error([] { arange(0.0, 1e300, 1e-300); }, ErrorCode::kInvalidArgument, "too many"));
}

TEST(TensorFactoriesTest, TensorAndScalarTensor) {
  const Tensor t = tensor<std::int32_t>({3, -1, 4});
  EXPECT_EQ(t.dtype(), DType::kInt32);
  EXPECT_EQ(t.sizes(), (Shape{3}));
  EXPECT_EQ(values<std::int32_t>(t), (std::vector<std::int32_t>{3, -1, 4}));
  EXPECT_EQ(tensor<float>({}).sizes(), (Shape{0}));
  const Tensor b = tensor<bool>({true, false});
  EXPECT_EQ(b.dtype(), DType::kBool);
  EXPECT_EQ(values<std::uint8_t>(b), (std::vector<std::uint8_t>{1, 0}));
  const Tensor s = scalar_tensor<double>(2.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.dtype(), DType::kFloat64);
  EXPECT_EQ(s.item<double>(), 2.5);
  EXPECT_EQ(scalar_tensor(BFloat16(1.0f)).dtype(), DType::kBFloat16);
}

TEST(TensorFactoriesTest, FromBlobViewsCallerMemory) {
  float memory[6] = {0, 1, 2, 3, 4, 5};
  const Tensor t = from_blob(memory, {2, 3}, DType::kFloat32);
  EXPECT_EQ(t.data_ptr(), memory);
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.storage().kind(), StorageKind::kForeign);
  t.mutable_at<float>({1, 1}) = 40;
  EXPECT_EQ(memory[4], 40);
  memory[0] = -1;
  EXPECT_EQ(t.at<float>({0, 0}), -1);
}

TEST(TensorFactoriesTest, FromBlobDeleterRunsOnceAfterTheLastView) {
  int deleted = 0;
  auto* memory = new std::int64_t[4]{1, 2, 3, 4};
  Tensor view;
  {
    const Tensor t = from_blob(memory, {4}, DType::kInt64, [&](void* p) {
      ++deleted;
      delete[] static_cast<std::int64_t*>(p);
    });
    view = t.narrow(0, 2, 2);
  }
  EXPECT_EQ(deleted, 0);
  EXPECT_EQ(values<std::int64_t>(view), (Int64s{3, 4}));
  view = Tensor();
  EXPECT_EQ(deleted, 1);
}

TEST(TensorFactoriesTest, RandIsUniformOnTheUnitInterval) {
  Generator gen(7);
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor t = rand({200000}, {.dtype = dtype}, &gen);
    EXPECT_EQ(t.dtype(), dtype);
    const std::vector<double> v = values<double>(t);
    double sum = 0, lo = 1, hi = 0;
    for (double x : v) {
      sum += x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    EXPECT_GE(lo, 0.0);
    EXPECT_LT(hi, 1.0) << "rand must never give 1, even after rounding to a narrow dtype";
    EXPECT_GT(hi, 0.99);
    EXPECT_LT(lo, 0.01);
    EXPECT_NEAR(sum / static_cast<double>(v.size()), 0.5, 0.005);
  }
}

TEST(TensorFactoriesTest, RandnIsStandardNormal) {
  Generator gen(8);
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kBFloat16}) {
    const std::vector<double> v = values<double>(randn({100000}, {.dtype = dtype}, &gen));
    double sum = 0, sq = 0;
    for (double x : v) {
      sum += x;
      sq += x * x;
    }
    const double mean = sum / static_cast<double>(v.size());
    EXPECT_NEAR(mean, 0.0, 0.02) << dtype_name(dtype);
    EXPECT_NEAR(std::sqrt(sq / static_cast<double>(v.size()) - mean * mean), 1.0, 0.02)
        << dtype_name(dtype);
  }
}

TEST(TensorFactoriesTest, RandomTensorsAreReproducible) {
  Generator a(42), b(42), c(43);
  const Tensor x = rand({2, 3}, {}, &a);
  EXPECT_TRUE(x.equal(rand({2, 3}, {}, &b)));
  EXPECT_FALSE(x.equal(rand({2, 3}, {}, &c)));
  EXPECT_FALSE(rand({2, 3}, {}, &a).equal(x));  // the stream moved on
  manual_seed(5);
  const Tensor d1 = randn({4});
  manual_seed(5);
  EXPECT_TRUE(d1.equal(randn({4})));
  EXPECT_TRUE(rand({2}, {.requires_grad = true}, &a).requires_grad());
}

TEST(TensorFactoriesTest, RandomTensorsNeedFloatingDTypes) {
  EXPECT_TRUE(throws_error([] { rand({2}, {.dtype = DType::kInt64}); }, ErrorCode::kInvalidArgument,
                           "rand needs a floating point dtype"));
  EXPECT_TRUE(throws_error([] { randn({2}, {.dtype = DType::kComplex64}); },
                           ErrorCode::kInvalidArgument, "randn needs a floating point dtype"));
}

}  // namespace
}  // namespace mnemo
