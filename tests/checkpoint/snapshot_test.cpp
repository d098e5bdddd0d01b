#include "mnemo/checkpoint/snapshot.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

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

TEST(Snapshot, CopiesLargeStoragesWholeAndSmallOnesBesideThem) {
  // Large storages are copied in pieces over the cores: one of several pieces and a
  // ragged end, one of exactly a piece's size, and small ones between them.
  const std::vector<std::size_t> sizes = {(std::size_t{5} << 20) + 3, 7, std::size_t{2} << 20, 0,
                                          4000};
  Dict original;
  std::vector<Storage> storages;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Storage storage = Storage::allocate(sizes[i]);
    for (std::size_t b = 0; b < sizes[i]; ++b) {
      storage.mutable_data()[b] = static_cast<std::byte>((b * 31 + i) & 0xff);
    }
    storages.push_back(storage);
    original.insert_or_assign(
        "t" + std::to_string(i),
        Tensor(storage, DType::kUInt8, {static_cast<std::int64_t>(sizes[i])}, {1}, 0));
  }
  const Value copy = snapshot(original);
  for (const Storage& storage : storages)
    std::memset(storage.mutable_data(), 0xee, storage.nbytes());

  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const Storage& copied = copy["t" + std::to_string(i)].as_tensor().storage();
    ASSERT_EQ(copied.nbytes(), sizes[i]);
    EXPECT_FALSE(copied.is_same(storages[i]));
    for (std::size_t b = 0; b < sizes[i]; ++b) {
      ASSERT_EQ(copied.data()[b], static_cast<std::byte>((b * 31 + i) & 0xff)) << i << " @" << b;
    }
  }
}

}  // namespace
}  // namespace mnemo::checkpoint
