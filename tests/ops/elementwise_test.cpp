#include "mnemo/ops/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

TEST(BroadcastShapes, FollowsNumpyRules) {
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({}, {3}), (Shape{3}));
  EXPECT_EQ(broadcast_shapes({5, 0}, {1}), (Shape{5, 0}));
  EXPECT_MNEMO_ERROR(broadcast_shapes({2, 3}, {4}), ErrorCode::kInvalidArgument,
                     "the size of tensor a (3) must match the size of tensor b (4) at "
                     "non-singleton dimension 1");
}

TEST(PromoteTypes, MatchesPyTorchTable) {
  EXPECT_EQ(promote_types(DType::kInt32, DType::kInt64), DType::kInt64);
  EXPECT_EQ(promote_types(DType::kUInt8, DType::kInt8), DType::kInt16);
  EXPECT_EQ(promote_types(DType::kInt64, DType::kFloat32), DType::kFloat32);
  EXPECT_EQ(promote_types(DType::kFloat64, DType::kInt8), DType::kFloat64);
  EXPECT_EQ(promote_types(DType::kFloat32, DType::kFloat64), DType::kFloat64);
  EXPECT_EQ(promote_types(DType::kBool, DType::kInt8), DType::kInt8);
  EXPECT_EQ(promote_types(DType::kBool, DType::kBool), DType::kBool);
  EXPECT_EQ(promote_types(DType::kFloat16, DType::kBFloat16), DType::kFloat32);
  EXPECT_EQ(promote_types(DType::kComplex64, DType::kFloat64), DType::kComplex128);
}

TEST(Binary, AddBroadcastsRowAndAppliesAlpha) {
  const Tensor a = iota({2, 3});  // [[0 1 2] [3 4 5]]
  const Tensor b = make({3}, {10.f, 20.f, 30.f});
  const Tensor sum = add(a, b);
  EXPECT_EQ(sum.sizes(), (Shape{2, 3}));
  EXPECT_EQ(sum.dtype(), DType::kFloat32);
  EXPECT_VALUES_NEAR(sum, 0, {10, 21, 32, 13, 24, 35});
  EXPECT_VALUES_NEAR(add(a, b, 2.0), 0, {20, 41, 62, 23, 44, 65});
  EXPECT_VALUES_NEAR(sub(a, b, 0.5), 0, {-5, -9, -13, -2, -6, -10});
  EXPECT_VALUES_NEAR(a - b, 0, {-10, -19, -28, -7, -16, -25});
}

TEST(Binary, MulAndDivBroadcastColumnAgainstRow) {
  const Tensor column = make({2, 1}, {1.f, 2.f});
  const Tensor row = make({1, 3}, {1.f, 2.f, 4.f});
  const Tensor product = column * row;
  EXPECT_EQ(product.sizes(), (Shape{2, 3}));
  EXPECT_VALUES_NEAR(product, 0, {1, 2, 4, 2, 4, 8});
  EXPECT_VALUES_NEAR(column / row, 1e-7, {1, 0.5, 0.25, 2, 1, 0.5});
}

TEST(Binary, NonContiguousOperands) {
  const Tensor a = iota({3, 2}).t();                             // (2, 3), strides (1, 2)
  const Tensor b = make({2, 1}, {100.f, 200.f}).expand({2, 3});  // stride 0 along dim 1
  ASSERT_FALSE(a.is_contiguous());
  const Tensor c = a + b;
  EXPECT_TRUE(c.is_contiguous());
  // a = [[0 2 4] [1 3 5]]
  EXPECT_VALUES_NEAR(c, 0, {100, 102, 104, 201, 203, 205});
  const Tensor strided = iota({2, 6}).slice(1, 0, 6, 2);  // [[0 2 4] [6 8 10]]
  EXPECT_VALUES_NEAR(mul(strided, a), 0, {0, 4, 16, 6, 24, 50});
}

TEST(Binary, IntegerArithmeticPromotesAndWraps) {
  const Tensor i32 = make<std::int32_t>({2}, {1, 2});
  const Tensor i64 = make<std::int64_t>({2}, {10, 20});
  const Tensor sum = i32 + i64;
  EXPECT_EQ(sum.dtype(), DType::kInt64);
  EXPECT_EQ(values_of(sum), (std::vector<double>{11, 22}));

  const Tensor i8 = make<std::int8_t>({2}, {127, -128});
  const Tensor wrapped = add(i8, make<std::int8_t>({2}, {1, -1}));
  EXPECT_EQ(wrapped.dtype(), DType::kInt8);
  EXPECT_EQ(values_of(wrapped), (std::vector<double>{-128, 127}));

  const Tensor mixed = make<std::uint8_t>({1}, {200}) + make<std::int8_t>({1}, {100});
  EXPECT_EQ(mixed.dtype(), DType::kInt16);
  EXPECT_EQ(values_of(mixed), (std::vector<double>{300}));

  const Tensor quotient = i32 / make<std::int32_t>({2}, {2, 4});  // true division
  EXPECT_EQ(quotient.dtype(), DType::kFloat32);
  EXPECT_EQ(values_of(quotient), (std::vector<double>{0.5, 0.5}));

  const Tensor scaled = i64 * make({2}, {0.5f, 0.25f});
  EXPECT_EQ(scaled.dtype(), DType::kFloat32);
  EXPECT_EQ(values_of(scaled), (std::vector<double>{5, 5}));
  EXPECT_MNEMO_ERROR(add(i32, i32, 0.5), ErrorCode::kInvalidArgument,
                     "alpha must be a whole number");
}

TEST(Binary, ScalarOperandKeepsCategory) {
  const Tensor i64 = make<std::int64_t>({2}, {3, 4});
  EXPECT_EQ((i64 + 1.0).dtype(), DType::kInt64);
  EXPECT_EQ(values_of(i64 + 1.0), (std::vector<double>{4, 5}));
  EXPECT_EQ((i64 * 0.5).dtype(), DType::kFloat32);
  EXPECT_EQ(values_of(i64 * 0.5), (std::vector<double>{1.5, 2}));
  EXPECT_EQ(div(i64, 2.0).dtype(), DType::kFloat32);
  EXPECT_EQ(values_of(div(i64, 2.0)), (std::vector<double>{1.5, 2}));
  const Tensor i32 = make<std::int32_t>({1}, {7});
  EXPECT_EQ((i32 - 2.0).dtype(), DType::kInt32);
  const Tensor flags = make<bool>({2}, {true, false});
  EXPECT_EQ((flags + 1.0).dtype(), DType::kInt64);
  EXPECT_EQ(values_of(flags + 1.0), (std::vector<double>{2, 1}));

  const Tensor f64 = make<double>({2}, {1.0, -2.0});
  EXPECT_EQ((3.0 * f64).dtype(), DType::kFloat64);
  EXPECT_EQ(values_of(3.0 * f64), (std::vector<double>{3, -6}));
  EXPECT_EQ(values_of(f64 / 4.0), (std::vector<double>{0.25, -0.5}));
  EXPECT_EQ(values_of(f64 - 1.0), (std::vector<double>{0, -3}));
}

TEST(Binary, BoolOperandsFollowPyTorch) {
  const Tensor a = make<bool>({4}, {true, true, false, false});
  const Tensor b = make<bool>({4}, {true, false, true, false});
  const Tensor either = a + b;
  EXPECT_EQ(either.dtype(), DType::kBool);
  EXPECT_EQ(values_of(either), (std::vector<double>{1, 1, 1, 0}));
  EXPECT_EQ(values_of(a * b), (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ((a / b).dtype(), DType::kFloat32);
  EXPECT_MNEMO_ERROR(a - b, ErrorCode::kInvalidArgument, "with a bool tensor is not supported");
  EXPECT_MNEMO_ERROR(-a, ErrorCode::kInvalidArgument, "on a bool tensor is not supported");
}

TEST(Binary, Float64KeepsPrecision) {
  const Tensor a = make<double>({1}, {1.0});
  const Tensor b = make<double>({1}, {1e-12});
  const Tensor sum = a + b;
  EXPECT_EQ(sum.dtype(), DType::kFloat64);
  EXPECT_EQ(sum.item<double>(), 1.0 + 1e-12);
  EXPECT_EQ((make<float>({1}, {1.f}) + b).dtype(), DType::kFloat64);
}

TEST(Binary, EmptyOperands) {
  const Tensor a = zeros({0, 3});
  const Tensor sum = a + make({3}, {1.f, 2.f, 3.f});
  EXPECT_EQ(sum.sizes(), (Shape{0, 3}));
}

TEST(Binary, RefusesWhatItCannotCompute) {
  const Tensor x = ones({2});
  EXPECT_MNEMO_ERROR(add(x, testing::cuda_tensor({2})), ErrorCode::kInvalidArgument,
                     testing::kCpuOnlyMessage);
  EXPECT_MNEMO_ERROR(mul(testing::cuda_tensor({2}), 2.0), ErrorCode::kInvalidArgument,
                     "mul: input tensor is on cuda:0");
  EXPECT_MNEMO_ERROR(add(x.to(DType::kFloat16), x.to(DType::kFloat16)), ErrorCode::kInvalidArgument,
                     "float16 arithmetic is not supported");
  EXPECT_MNEMO_ERROR(add(x, Tensor()), ErrorCode::kInvalidArgument,
                     "add: other is an undefined tensor");
  EXPECT_MNEMO_ERROR(add(ones({2, 3}), ones({3, 2})), ErrorCode::kInvalidArgument,
                     "at non-singleton dimension 1");
}

TEST(Neg, NegatesEveryDtype) {
  const Tensor f = make({3}, {1.f, -2.f, 0.f});
  const Tensor n = -f;
  EXPECT_EQ(values_of(n), (std::vector<double>{-1, 2, 0}));
  EXPECT_TRUE(std::signbit(n.at<float>({2})));  // -0.0, as PyTorch gives
  const Tensor i = make<std::int64_t>({2}, {5, std::numeric_limits<std::int64_t>::min()});
  const Tensor ni = neg(i);
  EXPECT_EQ(ni.dtype(), DType::kInt64);
  EXPECT_EQ(ni.at<std::int64_t>({0}), -5);
  EXPECT_EQ(ni.at<std::int64_t>({1}), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(values_of(neg(iota({2, 2}).t())), (std::vector<double>{0, -2, -1, -3}));
}

}  // namespace
}  // namespace mnemo
