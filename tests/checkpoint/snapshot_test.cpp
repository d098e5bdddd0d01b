#include "mnemo/checkpoint/snapshot.h"

#include <gtest/gtest.h>

#include "mnemo/core/state_dict.h"

namespace mnemo::checkpoint {
namespace {

TEST(Snapshot, CopiesEveryTensorKeepingSharingAndViews) {
  Tensor base = arange(0, 6, 1).view({2, 3});
  Value original = Dict{{"base", base},
                        {"nested", List{Tuple{base.t(), 1}}},
                        {"lr", 0.5},
                        {"state", StateDict{{"w", base.select(0, 1)}}}};
  Value copy = snapshot(original);
  base.fill_(-1.0);

  const Tensor& copied_base = copy["base"].as_tensor();
  EXPECT_TRUE(copied_base.equal(arange(0, 6, 1).view({2, 3})));
  EXPECT_FALSE(copied_base.storage().is_same(base.storage()));
  const Tensor& copied_t = copy["nested"][0][0].as_tensor();
  EXPECT_TRUE(copied_t.storage().is_same(copied_base.storage()));
  EXPECT_EQ(copied_t.strides(), (Shape{1, 3}));
  const Tensor& row = copy["state"]["w"].as_tensor();
  EXPECT_EQ(row.storage_offset(), 3);
  EXPECT_TRUE(row.storage().is_same(copied_base.storage()));
  // Metadata (the OrderedDict's attributes) and plain values survive.
  EXPECT_TRUE(copy["state"].as_dict().attributes() == nullptr ||
              copy["state"].as_dict().attributes()->contains(std::string("_metadata")));
  EXPECT_EQ(copy["lr"].as_double(), 0.5);
}

}  // namespace
}  // namespace mnemo::checkpoint
