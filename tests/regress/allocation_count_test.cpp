// How many heap blocks a tensor costs: one, its own state, whatever its rank up to
// Shape::kInlineDims, so that a load of many small tensors does not spend as much on
// allocating their sizes and strides as on the rest of them.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>

#include "allocation_tracker.h"
#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"
#include "mnemo/serialize.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

// Blocks allocated while `make` runs.
template <class F>
std::size_t blocks_allocated_by(F&& make) {
  reset_allocation_count();
  std::forward<F>(make)();
  return allocation_count();
}

TEST(AllocationCount, ATensorUpToRankFiveIsOneHeapBlock) {
  const Storage storage = Storage::allocate_zeroed(1024);
  for (std::size_t rank = 0; rank <= Shape::kInlineDims + 1; ++rank) {
    SCOPED_TRACE(rank);
    const std::size_t blocks = blocks_allocated_by([&] {
      const Tensor tensor(storage, DType::kFloat32, Shape(rank, 2), Shape(rank, 1));
      EXPECT_EQ(tensor.dim(), static_cast<std::int64_t>(rank));
    });
    // Past kInlineDims, the sizes and the strides each take a block of their own.
    EXPECT_EQ(blocks, rank <= Shape::kInlineDims ? 1u : 3u);
  }
}

TEST(AllocationCount, ACopyLoadOfManySmallTensorsTakesAboutOneBlockForEach) {
  constexpr int kTensors = 2000;
  Dict state;
  for (int i = 0; i < kTensors; ++i) {
    // Keys short enough for a std::string to hold inside itself.
    state.insert_or_assign("t" + std::to_string(i), full({2, 2}, static_cast<double>(i)));
  }
  TempDir dir;
  const auto path = dir / "many.pt";
  save(Value(std::move(state)), path, {.fsync = false});

  Value loaded;
  const std::size_t blocks = blocks_allocated_by([&] { loaded = load(path); });
  ASSERT_EQ(loaded.as_dict().size(), static_cast<std::size_t>(kTensors));
  EXPECT_TRUE(loaded["t1999"].as_tensor().equal(full({2, 2}, 1999.0)));
  // Each tensor's state, and the containers, buffers and storage blocks of the load, a
  // few hundred in all: sizes and strides that took blocks of their own would add 2 per
  // tensor.
  EXPECT_LT(blocks, kTensors + kTensors / 2);
}

}  // namespace
}  // namespace mnemo::testing
