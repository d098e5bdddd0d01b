#include "mnemo/ops/linalg.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "mnemo/core/generator.h"
#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

// The product of two 2-D tensors by the definition, in double.
std::vector<double> naive_mm(const Tensor& a, const Tensor& b) {
  std::vector<double> out;
  for (std::int64_t i = 0; i < a.size(0); ++i) {
    for (std::int64_t j = 0; j < b.size(1); ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < a.size(1); ++k) {
        s +=
            a.select(0, i).select(0, k).item<double>() * b.select(0, k).select(0, j).item<double>();
      }
      out.push_back(s);
    }
  }
  return out;
}

TEST(Matmul, TwoByTwoValues) {
  const Tensor a = iota({2, 3});  // [[0 1 2] [3 4 5]]
  const Tensor b = iota({3, 2});  // [[0 1] [2 3] [4 5]]
  const Tensor c = matmul(a, b);
  EXPECT_EQ(c.sizes(), (Shape{2, 2}));
  EXPECT_EQ(values_of(c), (std::vector<double>{10, 13, 28, 40}));
  EXPECT_MNEMO_ERROR(matmul(iota({2, 3}), iota({4, 5})), ErrorCode::kInvalidArgument,
                     "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)");
}

TEST(Matmul, VectorOperands) {
  const Tensor v = make({3}, {1.f, 2.f, 3.f});
  const Tensor dot = matmul(v, v);
  EXPECT_EQ(dot.dim(), 0);
  EXPECT_EQ(dot.item<double>(), 14);
  const Tensor mv = matmul(iota({2, 3}), v);
  EXPECT_EQ(mv.sizes(), (Shape{2}));
  EXPECT_EQ(values_of(mv), (std::vector<double>{8, 26}));
  const Tensor vm = matmul(v, iota({3, 2}));
  EXPECT_EQ(vm.sizes(), (Shape{2}));
  EXPECT_EQ(values_of(vm), (std::vector<double>{16, 22}));
  const Tensor batched_vm = matmul(make({2}, {1.f, -1.f}), iota({4, 2, 3}));
  EXPECT_EQ(batched_vm.sizes(), (Shape{4, 3}));
  EXPECT_EQ(values_of(batched_vm.select(0, 1)), (std::vector<double>{-3, -3, -3}));
}

TEST(Matmul, BatchDimensionsBroadcast) {
  Generator gen(7);
  const Tensor a = randn({2, 1, 2, 3}, {}, &gen);
  const Tensor b = randn({4, 3, 5}, {}, &gen);
  const Tensor c = matmul(a, b);
  ASSERT_EQ(c.sizes(), (Shape{2, 4, 2, 5}));
  for (std::int64_t i = 0; i < 2; ++i) {
    for (std::int64_t j = 0; j < 4; ++j) {
      EXPECT_THAT(values_of(c.select(0, i).select(0, j)),
                  ::testing::Pointwise(::testing::DoubleNear(1e-5),
                                       naive_mm(a.select(0, i).select(0, 0), b.select(0, j))));
    }
  }
  // A 2-D right operand folds the left batch into rows: same values.
  const Tensor folded = matmul(a, b.select(0, 2));
  ASSERT_EQ(folded.sizes(), (Shape{2, 1, 2, 5}));
  EXPECT_TRUE(folded.allclose(c.narrow(1, 2, 1), 1e-6, 1e-6));
  EXPECT_MNEMO_ERROR(matmul(iota({2, 2, 3}), iota({3, 3, 2})), ErrorCode::kInvalidArgument,
                     "do not broadcast");
}

TEST(Matmul, StridedOperandsMatchContiguousOnes) {
  Generator gen(3);
  const Tensor a = randn({4, 6}, {}, &gen);
  const Tensor b = randn({6, 4}, {}, &gen);
  const Tensor reference = matmul(a, b);
  // Transposed views are read by BLAS in place; a stepped slice needs a copy.
  EXPECT_TRUE(
      matmul(a.t().contiguous().t(), b.t().contiguous().t()).allclose(reference, 1e-6, 1e-6));
  const Tensor wide = randn({4, 12}, {}, &gen);
  const Tensor stepped = wide.slice(1, 0, 12, 2);  // (4, 6), column stride 2
  EXPECT_THAT(values_of(matmul(stepped, b)),
              ::testing::Pointwise(::testing::DoubleNear(1e-5), naive_mm(stepped, b)));
  const Tensor expanded_batch = a.unsqueeze(0).expand({3, 4, 6});
  EXPECT_TRUE(matmul(expanded_batch, b).select(0, 2).allclose(reference, 1e-6, 1e-6));
}

TEST(Matmul, Float64AndEmpty) {
  const Tensor a = make<double>({1, 2}, {1.0, 1e-12});
  const Tensor b = make<double>({2, 1}, {1.0, 1.0});
  const Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), DType::kFloat64);
  EXPECT_EQ(c.item<double>(), 1.0 + 1e-12);
  EXPECT_EQ(values_of(matmul(zeros({2, 0}), zeros({0, 3}))), std::vector<double>(6, 0.0));
  EXPECT_EQ(matmul(zeros({0, 2}), zeros({2, 3})).sizes(), (Shape{0, 3}));
}

TEST(Matmul, RefusesMixedOrUnsupportedDtypes) {
  EXPECT_MNEMO_ERROR(matmul(iota({2, 2}), iota({2, 2}, DType::kFloat64)),
                     ErrorCode::kInvalidArgument,
                     "expected other to have the dtype of input (float32), got float64");
  EXPECT_MNEMO_ERROR(matmul(make<std::int64_t>({1}, {1}), make<std::int64_t>({1}, {1})),
                     ErrorCode::kInvalidArgument, "needs a floating dtype");
  EXPECT_MNEMO_ERROR(matmul(testing::cuda_tensor({2, 2}), iota({2, 2})),
                     ErrorCode::kInvalidArgument, testing::kCpuOnlyMessage);
}

TEST(Linear, WithAndWithoutBias) {
  const Tensor x = iota({2, 3});  // [[0 1 2] [3 4 5]]
  const Tensor w = make({2, 3}, {1.f, 0.f, -1.f, 0.5f, 0.5f, 0.5f});
  const Tensor b = make({2}, {10.f, 20.f});
  const Tensor y = linear(x, w, b);
  EXPECT_EQ(y.sizes(), (Shape{2, 2}));
  EXPECT_EQ(values_of(y), (std::vector<double>{8, 21.5, 8, 26}));
  EXPECT_EQ(values_of(linear(x, w)), (std::vector<double>{-2, 1.5, -2, 6}));
  const Tensor y3 = linear(iota({2, 2, 3}), w, b);  // leading dims kept
  EXPECT_EQ(y3.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(values_of(y3.select(0, 0)), values_of(y));
  const Tensor y1 = linear(make({3}, {1.f, 1.f, 1.f}), w, b);
  EXPECT_EQ(y1.sizes(), (Shape{2}));
  EXPECT_EQ(values_of(y1), (std::vector<double>{10, 21.5}));
  // A transposed input and a weight stored transposed give the same result.
  EXPECT_EQ(values_of(linear(x.t().contiguous().t(), w.t().contiguous().t(), b)), values_of(y));
}

TEST(Linear, ShapeErrors) {
  const Tensor w = iota({2, 3});
  EXPECT_MNEMO_ERROR(linear(iota({4, 5}), w), ErrorCode::kInvalidArgument,
                     "mat1 and mat2 shapes cannot be multiplied (4x5 and 3x2)");
  EXPECT_MNEMO_ERROR(linear(iota({4, 3}), w, zeros({3})), ErrorCode::kInvalidArgument,
                     "expected bias of shape torch.Size([2]), got torch.Size([3])");
  EXPECT_MNEMO_ERROR(linear(iota({4, 3}), zeros({3})), ErrorCode::kInvalidArgument,
                     "weight must be 2-D");
  EXPECT_MNEMO_ERROR(linear(iota({4, 3}), w, testing::cuda_tensor({2})),
                     ErrorCode::kInvalidArgument, "linear: bias tensor is on cuda:0");
}

}  // namespace
}  // namespace mnemo
