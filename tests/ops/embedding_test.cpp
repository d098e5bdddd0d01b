#include "mnemo/ops/embedding.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "ops/ops_test_util.h"

namespace mnemo {
namespace {

using testing::iota;
using testing::make;
using testing::values_of;

TEST(Embedding, GathersRowsInIndexShape) {
  const Tensor weight = iota({4, 3});  // row r holds 3r, 3r + 1, 3r + 2
  const Tensor idx = make<std::int64_t>({2, 2}, {3, 0, 1, 3});
  const Tensor out = embedding(weight, idx);
  EXPECT_EQ(out.sizes(), (Shape{2, 2, 3}));
  EXPECT_EQ(values_of(out), (std::vector<double>{9, 10, 11, 0, 1, 2, 3, 4, 5, 9, 10, 11}));
  const Tensor scalar_index = embedding(weight, make<std::int32_t>({}, {2}));
  EXPECT_EQ(scalar_index.sizes(), (Shape{3}));
  EXPECT_EQ(values_of(scalar_index), (std::vector<double>{6, 7, 8}));
}

TEST(Embedding, StridedWeightAndIndices) {
  const Tensor weight = iota({3, 4}, DType::kFloat64).t();  // (4, 3): row r = r, r+4, r+8
  const Tensor idx = make<std::int64_t>({4}, {0, 1, 2, 3}).slice(0, 0, 4, 2);  // 0, 2
  const Tensor out = embedding(weight, idx);
  EXPECT_EQ(out.dtype(), DType::kFloat64);
  EXPECT_EQ(values_of(out), (std::vector<double>{0, 4, 8, 2, 6, 10}));
}

TEST(Embedding, RefusesBadIndices) {
  const Tensor weight = zeros({5, 2});
  EXPECT_MNEMO_ERROR(embedding(weight, make<std::int64_t>({3}, {0, 7, 1})),
                     ErrorCode::kInvalidArgument, "embedding: index 7 is out of range for 5");
  EXPECT_MNEMO_ERROR(embedding(weight, make<std::int64_t>({1}, {-1})), ErrorCode::kInvalidArgument,
                     "index -1 is out of range");
  EXPECT_MNEMO_ERROR(embedding(weight, make({1}, {1.f})), ErrorCode::kInvalidArgument,
                     "indices must have an integer dtype");
  EXPECT_MNEMO_ERROR(embedding(zeros({5}), make<std::int64_t>({1}, {0})),
                     ErrorCode::kInvalidArgument, "weight must be 2-D");
  EXPECT_MNEMO_ERROR(embedding(testing::cuda_tensor({5, 2}), make<std::int64_t>({1}, {0})),
                     ErrorCode::kInvalidArgument, "embedding: weight tensor is on cuda:0");
}

TEST(Embedding, PaddingIdxLeavesTheLookupAlone) {
  const Tensor weight = iota({4, 2});
  const Tensor idx = make<std::int64_t>({3}, {1, 3, 1});
  EXPECT_EQ(values_of(embedding(weight, idx, 1)), values_of(embedding(weight, idx)));
  EXPECT_EQ(values_of(embedding(weight, idx, -1)), values_of(embedding(weight, idx)));
  EXPECT_MNEMO_ERROR(embedding(weight, idx, 4), ErrorCode::kInvalidArgument,
                     "padding_idx must be within num_embeddings (got 4 for 4)");
  EXPECT_MNEMO_ERROR(embedding(weight, idx, -5), ErrorCode::kInvalidArgument,
                     "padding_idx must be within num_embeddings");
}

TEST(Dropout, EvaluationAndZeroProbabilityReturnTheInput) {
  const Tensor x = iota({10});
  EXPECT_TRUE(dropout(x, 0.5, /*training=*/false).is_same(x));
  EXPECT_EQ(values_of(dropout(x, 0.0, /*training=*/true)), values_of(x));
  const Tensor all = dropout(x, 1.0, /*training=*/true);
  EXPECT_EQ(values_of(all), std::vector<double>(10, 0.0));
  EXPECT_MNEMO_ERROR(dropout(x, 1.5, true), ErrorCode::kInvalidArgument,
                     "probability has to be between 0 and 1, but got 1.5");
  EXPECT_MNEMO_ERROR(dropout(x, -0.1, false), ErrorCode::kInvalidArgument, "but got -0.1");
  EXPECT_MNEMO_ERROR(dropout(make<std::int64_t>({1}, {1}), 0.5, true), ErrorCode::kInvalidArgument,
                     "needs a floating dtype");
}

TEST(Dropout, ZeroesAboutPAndScalesTheRest) {
  const Tensor x = ones({20000});
  Generator gen(42);
  const Tensor y = dropout(x, 0.3, true, &gen);
  std::int64_t dropped = 0;
  for (double v : values_of(y)) {
    if (v == 0) {
      ++dropped;
    } else {
      EXPECT_NEAR(v, 1 / 0.7, 1e-6);
    }
  }
  // 6000 expected; the binomial's standard deviation is about 65.
  EXPECT_NEAR(static_cast<double>(dropped), 6000.0, 400.0);
  EXPECT_EQ(values_of(x), std::vector<double>(20000, 1.0));  // input untouched
}

TEST(Dropout, SeededGeneratorsRepeatTheMask) {
  const Tensor x = iota({4, 50}, DType::kFloat64);
  Generator a(9), b(9);
  const Tensor ya = dropout(x, 0.5, true, &a);
  EXPECT_EQ(values_of(ya), values_of(dropout(x, 0.5, true, &b)));
  EXPECT_NE(values_of(ya), values_of(dropout(x, 0.5, true, &a)));  // the stream moved on
  // The mask follows element order, not memory order.
  Generator c(9);
  EXPECT_EQ(values_of(dropout(x.t().contiguous().t(), 0.5, true, &c)), values_of(ya));
  // Without a generator, the default one is used.
  manual_seed(9);
  EXPECT_EQ(values_of(dropout(x, 0.5, true)), values_of(ya));
}

}  // namespace
}  // namespace mnemo
