#include "mnemo/core/shape.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <list>
#include <numeric>
#include <stdexcept>
#include <utility>
#include <vector>

namespace mnemo {
namespace {

using Dims = std::vector<std::int64_t>;

// 1, 2, ..., n.
Shape counting(std::size_t n) {
  Shape shape(n);
  std::iota(shape.begin(), shape.end(), 1);
  return shape;
}

Dims counting_dims(std::size_t n) {
  Dims dims(n);
  std::iota(dims.begin(), dims.end(), 1);
  return dims;
}

// Ranks that fit inside, that fill it, and that move to the heap.
class ShapeRankTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ShapeRankTest, HoldsItsDimensionsLikeAVector) {
  const std::size_t n = GetParam();
  Shape shape;
  for (std::size_t i = 1; i <= n; ++i) shape.push_back(static_cast<std::int64_t>(i));
  EXPECT_EQ(shape.size(), n);
  EXPECT_EQ(shape.empty(), n == 0);
  EXPECT_EQ(Dims(shape.begin(), shape.end()), counting_dims(n));
  EXPECT_EQ(static_cast<Dims>(shape), counting_dims(n));
  EXPECT_EQ(shape.vec(), counting_dims(n));
  EXPECT_EQ(shape, Shape(counting_dims(n)));
  const Dims dims = counting_dims(n);
  EXPECT_EQ(Dims(shape.rbegin(), shape.rend()), Dims(dims.rbegin(), dims.rend()));
  if (n > 0) {
    EXPECT_EQ(shape.front(), 1);
    EXPECT_EQ(shape.back(), static_cast<std::int64_t>(n));
  }
  EXPECT_GE(shape.capacity(), n);
}

TEST_P(ShapeRankTest, CopiesAndMovesAreIndependent) {
  const std::size_t n = GetParam();
  const Shape original = counting(n);

  Shape copy = original;
  EXPECT_EQ(copy, original);
  if (n > 0) {
    copy[0] = 100;
    EXPECT_EQ(original[0], 1) << "a copy shares no elements";
  }

  Shape source = counting(n);
  const std::int64_t* heap = source.data();
  Shape moved = std::move(source);
  EXPECT_EQ(moved, original);
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  if (n > Shape::kInlineDims) {
    EXPECT_EQ(moved.data(), heap) << "a heap block is handed over";
  } else {
    EXPECT_NE(moved.data(), heap) << "inline elements are copied";
  }
  source.push_back(7);  // a moved-from shape is usable
  EXPECT_EQ(source, Shape({7}));

  Shape assigned = counting(3);
  assigned = moved;
  EXPECT_EQ(assigned, original);
  Shape move_assigned = counting(Shape::kInlineDims + 3);
  move_assigned = std::move(moved);
  EXPECT_EQ(move_assigned, original);
  const Shape& alias = move_assigned;
  move_assigned = alias;  // self-assignment keeps the elements
  EXPECT_EQ(move_assigned, original);
}

INSTANTIATE_TEST_SUITE_P(Ranks, ShapeRankTest,
                         ::testing::Values(0, 1, Shape::kInlineDims, Shape::kInlineDims + 1, 40));

bool holds_inside(const Shape& shape) {
  const auto self = reinterpret_cast<std::uintptr_t>(&shape);
  const auto data = reinterpret_cast<std::uintptr_t>(shape.data());
  return data >= self && data < self + sizeof(Shape);
}

TEST(Shape, KeepsUpToFiveDimensionsInsideItself) {
  Shape shape{2, 3, 4, 5, 6};
  EXPECT_TRUE(holds_inside(shape)) << "rank 5 allocates nothing";
  shape.push_back(7);
  EXPECT_FALSE(holds_inside(shape)) << "rank 6 moves to the heap";
  EXPECT_EQ(shape, Shape({2, 3, 4, 5, 6, 7}));
}

TEST(Shape, IsItsInlineDimensionsAndTwoCountsInSize) {
  // Every tensor has two: a pointer to the elements in use would make each 56 bytes.
  EXPECT_EQ(sizeof(Shape), Shape::kInlineDims * sizeof(std::int64_t) + 2 * sizeof(std::uint32_t));
}

TEST(Shape, ShrinksBackInsideItselfWhenMovedFromOrAssigned) {
  Shape big = counting(9);
  const Shape taken = std::move(big);
  EXPECT_EQ(taken, counting(9));
  // NOLINTBEGIN(bugprone-use-after-move): a moved-from Shape is empty and usable
  EXPECT_TRUE(big.empty());
  EXPECT_TRUE(holds_inside(big));
  big = Shape{1, 2};
  EXPECT_TRUE(holds_inside(big));
  EXPECT_EQ(big, Shape({1, 2}));
  // NOLINTEND(bugprone-use-after-move)
  Shape heap = counting(7);
  const Shape small{3};
  heap = small;  // copied into the heap block, which is kept, as a vector keeps its capacity
  EXPECT_FALSE(holds_inside(heap));
  EXPECT_EQ(heap, Shape({3}));
  heap.push_back(4);
  EXPECT_EQ(heap, Shape({3, 4}));
}

TEST(Shape, ConstructsAsAVectorWould) {
  EXPECT_EQ(Shape(3), Shape({0, 0, 0}));
  EXPECT_EQ(Shape(2, 9), Shape({9, 9}));
  const std::list<int> from_list{4, 5, 6};  // a non-contiguous range of another type
  EXPECT_EQ(Shape(from_list.begin(), from_list.end()), Shape({4, 5, 6}));
  const Dims dims{8, 9};
  const Shape from_vector = dims;  // implicit, as the vector it replaced
  EXPECT_EQ(from_vector, Shape({8, 9}));
  EXPECT_EQ(Shape(std::span<const std::int64_t>(dims)), from_vector);
  Shape assigned;
  assigned = {1, 2, 3};
  EXPECT_EQ(assigned, Shape({1, 2, 3}));
  assigned.assign(2, 5);
  EXPECT_EQ(assigned, Shape({5, 5}));
}

TEST(Shape, ComparesWithVectorsAndOrdersLexicographically) {
  const Shape shape{2, 3};
  EXPECT_TRUE(shape == Dims({2, 3}));
  EXPECT_TRUE(Dims({2, 3}) == shape);
  EXPECT_FALSE(shape == Dims({2, 3, 1}));
  EXPECT_TRUE(shape != Dims({3, 2}));
  EXPECT_LT(Shape({2, 3}), Shape({2, 4}));
  EXPECT_LT(Shape({2}), Shape({2, 0}));
  EXPECT_GT(Shape({3}), Shape({2, 9, 9}));
}

TEST(Shape, InsertsAndErasesAnywhere) {
  for (const std::size_t n : {std::size_t{3}, std::size_t{4}, Shape::kInlineDims, std::size_t{9}}) {
    SCOPED_TRACE(n);
    Shape shape = counting(n);
    Dims dims = counting_dims(n);
    shape.insert(shape.begin() + 1, 50);
    dims.insert(dims.begin() + 1, 50);
    EXPECT_EQ(shape, dims);
    shape.insert(shape.end(), 3, 60);
    dims.insert(dims.end(), 3, 60);
    EXPECT_EQ(shape, dims);
    const Dims more{70, 71};
    shape.insert(shape.begin(), more.begin(), more.end());
    dims.insert(dims.begin(), more.begin(), more.end());
    EXPECT_EQ(shape, dims);
    shape.insert(shape.begin() + 2, {80, 81});
    dims.insert(dims.begin() + 2, {80, 81});
    EXPECT_EQ(shape, dims);

    EXPECT_EQ(*shape.erase(shape.begin() + 1), dims[2]);
    dims.erase(dims.begin() + 1);
    EXPECT_EQ(shape, dims);
    shape.erase(shape.begin(), shape.begin() + 3);
    dims.erase(dims.begin(), dims.begin() + 3);
    EXPECT_EQ(shape, dims);
    shape.pop_back();
    dims.pop_back();
    EXPECT_EQ(shape, dims);
  }
}

TEST(Shape, ResizesAndGrowsByDoubling) {
  Shape shape{1, 2};
  shape.resize(4, 7);
  EXPECT_EQ(shape, Shape({1, 2, 7, 7}));
  shape.resize(1);
  EXPECT_EQ(shape, Shape({1}));
  shape.clear();
  EXPECT_TRUE(shape.empty());

  shape.reserve(64);
  EXPECT_GE(shape.capacity(), 64u);
  EXPECT_TRUE(shape.empty());

  // Growth is geometric, not one element at a time.
  Shape growing;
  std::size_t reallocations = 0;
  const std::int64_t* data = growing.data();
  for (int i = 0; i < 1000; ++i) {
    growing.emplace_back(i);
    if (growing.data() != data) ++reallocations;
    data = growing.data();
  }
  EXPECT_EQ(growing.size(), 1000u);
  EXPECT_EQ(growing[999], 999);
  EXPECT_LE(reallocations, 10u);
}

TEST(Shape, RefusesMoreDimensionsThanItCanCount) {
  Shape shape{1};
  EXPECT_THROW(shape.reserve(std::size_t{1} << 32), std::length_error);
  EXPECT_EQ(shape, Shape({1})) << "a refused reserve changes nothing";
}

}  // namespace
}  // namespace mnemo
