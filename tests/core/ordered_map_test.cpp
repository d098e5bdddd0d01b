#include "mnemo/core/ordered_map.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

namespace mnemo::detail {
namespace {

using Map = OrderedMap<std::string, int>;

std::vector<std::string> keys_of(const Map& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  return keys;
}

// Below and above the size where the map starts keeping a hash index.
class OrderedMapTest : public ::testing::TestWithParam<int> {};

TEST_P(OrderedMapTest, KeepsInsertionOrderAndReplacesInPlace) {
  const int n = GetParam();
  Map map;
  std::vector<std::string> expected;
  for (int i = n; i-- > 0;) {  // descending, so that order is not sorted order
    map.insert_or_assign("k" + std::to_string(i), i);
    expected.push_back("k" + std::to_string(i));
  }
  EXPECT_EQ(map.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(keys_of(map), expected);
  for (int i = 0; i < n; ++i) {
    const int* found = map.find("k" + std::to_string(i));
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(*found, i);
  }
  EXPECT_FALSE(map.contains("missing"));
  EXPECT_EQ(map.find("missing"), nullptr);

  map.insert_or_assign("k0", 100);  // replace: same place, same size
  EXPECT_EQ(keys_of(map), expected);
  EXPECT_EQ(*map.find("k0"), 100);
  EXPECT_EQ(map.item(static_cast<std::size_t>(n - 1)).second, 100);

  // Erase from the middle, then look everything up again (the index must follow).
  const std::string middle = "k" + std::to_string(n / 2);
  EXPECT_TRUE(map.erase(middle));
  EXPECT_FALSE(map.erase(middle));
  expected.erase(std::find(expected.begin(), expected.end(), middle));
  EXPECT_EQ(keys_of(map), expected);
  for (const std::string& key : expected) EXPECT_TRUE(map.contains(key)) << key;
  EXPECT_FALSE(map.contains(middle));
  map.insert_or_assign(middle, -1);  // re-inserted at the end
  expected.push_back(middle);
  EXPECT_EQ(keys_of(map), expected);
  EXPECT_EQ(*map.find(middle), -1);
}

TEST_P(OrderedMapTest, ReserveKeepsWhatIsThereAndFindsWhatComes) {
  // Reserved before, between and after inserts: the index built for the reserve must
  // hold the items already there and take the ones that follow, past the reserved count.
  const int n = GetParam();
  Map map;
  map.insert_or_assign("first", -1);
  map.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    if (i == n / 2) {
      ASSERT_TRUE(map.contains("first"));
      map.reserve(static_cast<std::size_t>(2 * n));
    }
    map.insert_or_assign("k" + std::to_string(i), i);
  }
  for (int i = n; i < 2 * n + 5; ++i) map.insert_or_assign("k" + std::to_string(i), i);
  map.reserve(1);  // smaller than the map: changes nothing
  ASSERT_EQ(map.size(), static_cast<std::size_t>(2 * n + 6));
  ASSERT_TRUE(map.contains("first"));
  EXPECT_EQ(*map.find("first"), -1);
  for (int i = 0; i < 2 * n + 5; ++i) {
    const int* found = map.find("k" + std::to_string(i));
    ASSERT_NE(found, nullptr) << i;
    EXPECT_EQ(*found, i);
  }
  EXPECT_FALSE(map.contains("missing"));
  EXPECT_EQ(map.item(0).first, "first");
}

TEST_P(OrderedMapTest, TruncateDropsTheLastInsertedAndTheirLookups) {
  const int n = GetParam();
  Map map;
  for (int i = 0; i < n; ++i) map.insert_or_assign("k" + std::to_string(i), i);
  const std::size_t keep = static_cast<std::size_t>(n / 3);
  map.truncate(keep);
  ASSERT_EQ(map.size(), keep);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(map.contains("k" + std::to_string(i)), static_cast<std::size_t>(i) < keep) << i;
  }
  map.truncate(keep + 1);  // past the end: nothing to drop
  EXPECT_EQ(map.size(), keep);
  // Dropped keys go in again, at the end.
  map.insert_or_assign("k" + std::to_string(n - 1), -1);
  EXPECT_EQ(map.item(keep).first, "k" + std::to_string(n - 1));
  EXPECT_EQ(*map.find("k" + std::to_string(n - 1)), -1);
}

TEST_P(OrderedMapTest, CopiesAndMovesKeepLookups) {
  const int n = GetParam();
  Map map;
  for (int i = 0; i < n; ++i) map.insert_or_assign("k" + std::to_string(i), i);
  Map copy(map);
  map.insert_or_assign("only-in-original", 1);
  EXPECT_FALSE(copy.contains("only-in-original"));
  for (int i = 0; i < n; ++i) EXPECT_EQ(*copy.find("k" + std::to_string(i)), i);
  EXPECT_FALSE(copy == map);
  Map assigned;
  assigned = copy;
  EXPECT_TRUE(assigned == copy);
  *assigned.find("k0") = 42;
  EXPECT_EQ(*copy.find("k0"), 0);
  Map moved(std::move(assigned));
  EXPECT_EQ(*moved.find("k0"), 42);
  if (n > 1) {
    EXPECT_EQ(*moved.find("k" + std::to_string(n - 1)), n - 1);
  }
  Map self = moved;
  self = *&self;  // self-assignment keeps everything
  EXPECT_TRUE(self == moved);
}

INSTANTIATE_TEST_SUITE_P(Sizes, OrderedMapTest, ::testing::Values(1, 5, 16, 17, 40, 1000));

// Every key hashes alike: lookups, replacement and erasure must still find each key by
// comparing, past the collisions.
struct SameHash {
  std::size_t operator()(const std::string&) const { return 7; }
};

TEST(OrderedMapCollisionTest, EqualHashesStillFindEveryKey) {
  OrderedMap<std::string, int, SameHash> map;
  for (int i = 0; i < 100; ++i) map.insert_or_assign("k" + std::to_string(i), i);
  map.insert_or_assign("k50", -50);
  EXPECT_EQ(map.size(), 100u);
  EXPECT_TRUE(map.erase("k10"));
  for (int i = 0; i < 100; ++i) {
    const int* found = map.find("k" + std::to_string(i));
    if (i == 10) {
      EXPECT_EQ(found, nullptr);
    } else {
      ASSERT_NE(found, nullptr) << i;
      EXPECT_EQ(*found, i == 50 ? -50 : i);
    }
  }
  EXPECT_FALSE(map.contains("k100"));
  EXPECT_EQ(map.item(98).first, "k99");
}

TEST(HashTextTest, EveryByteAndTheLengthCount) {
  // Lengths on both sides of each way the text is read: 3-byte, 4-byte and 8-byte
  // overlapping reads of the tail, and 16-byte blocks before it.
  std::string text;
  std::unordered_set<std::uint64_t> prefixes;
  for (std::size_t n = 0; n <= 70; ++n) {
    const std::uint64_t hash = hash_text(text);
    EXPECT_TRUE(prefixes.insert(hash).second) << "length " << n;
    for (std::size_t i = 0; i < n; ++i) {
      std::string flipped = text;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
      EXPECT_NE(hash_text(flipped), hash) << "length " << n << ", byte " << i;
    }
    text += static_cast<char>('a' + n % 26);
  }
  EXPECT_NE(hash_text(std::string_view("\0", 1)), hash_text(""));
  EXPECT_NE(hash_text(std::string_view("ab\0", 3)), hash_text("ab"));
}

TEST(HashTextTest, NamesOfOneModelAllHashApart) {
  std::unordered_set<std::uint64_t> hashes;
  for (int i = 0; i < 100000; ++i) {
    hashes.insert(hash_text("layers." + std::to_string(i) + ".attention.weight"));
    hashes.insert(hash_text(std::to_string(i)));
  }
  EXPECT_EQ(hashes.size(), 200000u);
}

TEST(HashTextTest, ATextHashesAlikeAsEveryKeyType) {
  const std::string text = "encoder.layer.11.output.dense.bias";
  const std::size_t hash = KeyHash<std::string>()(text);
  EXPECT_EQ(KeyHash<std::string_view>()(text), hash);
  EXPECT_EQ((KeyHash<std::variant<std::int64_t, std::string>>()(text)), hash);
  EXPECT_EQ((KeyHash<std::variant<std::int64_t, std::string>>()(std::int64_t{12})),
            std::hash<std::int64_t>()(12));
}

TEST(OrderedMapEqualityTest, OrderMatters) {
  Map a, b;
  a.insert_or_assign("x", 1);
  a.insert_or_assign("y", 2);
  b.insert_or_assign("y", 2);
  b.insert_or_assign("x", 1);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a == Map(a));
  EXPECT_TRUE(Map().empty());
}

}  // namespace
}  // namespace mnemo::detail
