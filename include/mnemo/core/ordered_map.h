// OrderedMap: insertion-ordered key -> value pairs with O(1) lookup, the container behind
// Dict and StateDict (a checkpoint may hold 100,000 keys, and their order is part of the
// format). Re-inserting a key replaces its value in place, as Python's dict does.
//
// Const operations never modify the map, so concurrent readers are safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace mnemo::detail {

// A hash of text for the index, inline and short: keys are mostly names of a few dozen
// bytes, for which std::hash's out-of-line loop cost more than the rest of a lookup. Each
// 16 bytes are folded in with multiplies and shifts; a shorter tail is read as two
// overlapping words. Not keyed, like std::hash before it: keys chosen to collide slow
// the index down as they did then, and the readers' limits bound how many there are.
inline std::uint64_t hash_text(std::string_view text) {
  const auto mix = [](std::uint64_t a, std::uint64_t b) {
    std::uint64_t x = (a ^ 0xa0761d6478bd642fULL) * 0xe7037ed1a0b428dbULL + b;
    x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL;
    return x ^ (x >> 32);
  };
  const auto load8 = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  const auto load4 = [](const char* p) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    return std::uint64_t{w};
  };
  const char* p = text.data();
  std::size_t n = text.size();
  std::uint64_t h = n;
  for (; n > 16; n -= 16, p += 16) h = mix(load8(p) ^ h, load8(p + 8));
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load8(p);
    b = load8(p + n - 8);
  } else if (n >= 4) {
    a = load4(p);
    b = load4(p + n - 4);
  } else if (n > 0) {
    a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
        (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) |
        static_cast<unsigned char>(p[n - 1]);
  }
  return mix(a ^ h, mix(b, h));
}

// OrderedMap's hash unless told otherwise: hash_text for text keys and for Dict's keys
// (an int or a str), std::hash for the rest.
template <class K>
struct KeyHash : std::hash<K> {};
template <>
struct KeyHash<std::string> {
  std::size_t operator()(const std::string& key) const { return hash_text(key); }
};
template <>
struct KeyHash<std::string_view> {
  std::size_t operator()(std::string_view key) const { return hash_text(key); }
};
template <>
struct KeyHash<std::variant<std::int64_t, std::string>> {
  std::size_t operator()(const std::variant<std::int64_t, std::string>& key) const {
    if (const auto* text = std::get_if<std::string>(&key)) return hash_text(*text);
    return std::hash<std::int64_t>()(std::get<std::int64_t>(key));
  }
};

template <class K, class V, class Hash = KeyHash<K>>
class OrderedMap {
 public:
  using Item = std::pair<K, V>;
  using iterator = typename std::vector<Item>::iterator;
  using const_iterator = typename std::vector<Item>::const_iterator;

  OrderedMap() = default;
  // The index holds positions, not keys, so it is copied as it is.
  OrderedMap(const OrderedMap&) = default;
  OrderedMap(OrderedMap&&) noexcept = default;
  OrderedMap& operator=(const OrderedMap&) = default;
  OrderedMap& operator=(OrderedMap&&) noexcept = default;

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  const Item& item(std::size_t i) const { return items_[i]; }

  const V* find(const K& key) const {
    std::size_t i = position(key);
    return i < items_.size() ? &items_[i].second : nullptr;
  }
  V* find(const K& key) {
    std::size_t i = position(key);
    return i < items_.size() ? &items_[i].second : nullptr;
  }
  bool contains(const K& key) const { return position(key) < items_.size(); }

  // Inserts at the end, or replaces the value in place when the key exists. The key and
  // value are taken as given and moved once, into their place: a load builds dicts of
  // tens of thousands of entries, and each move of a variant is a visit.
  template <class KeyArg, class ValueArg>
  V& insert_or_assign(KeyArg&& key, ValueArg&& value) {
    if constexpr (!std::is_same_v<std::remove_cvref_t<KeyArg>, K>) {
      return insert_or_assign(K(std::forward<KeyArg>(key)), std::forward<ValueArg>(value));
    } else {
      return insert_key(std::forward<KeyArg>(key), std::forward<ValueArg>(value));
    }
  }

  bool erase(const K& key) {
    std::size_t i = position(key);
    if (i >= items_.size()) return false;
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
    reindex();
    return true;
  }

  // Drops the items from position n on: the last ones inserted.
  void truncate(std::size_t n) {
    if (n >= items_.size()) return;
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(n), items_.end());
    reindex();
  }

  // Room for n items, their index included: a map filled to a size known ahead (a loaded
  // file's tensors) gets the smallest table that holds them, once.
  void reserve(std::size_t n) {
    items_.reserve(n);
    if (n > kIndexThreshold && slots_.size() * 3 < n * 4) build(hashes(), n * 4 / 3 + 1);
  }

  friend bool operator==(const OrderedMap& a, const OrderedMap& b) { return a.items_ == b.items_; }

 private:
  // insert_or_assign with a key of type K.
  template <class KeyArg, class ValueArg>
  V& insert_key(KeyArg&& key, ValueArg&& value) {
    if (slots_.empty()) {
      const std::size_t i = scan(key);
      if (i < items_.size()) {
        items_[i].second = std::forward<ValueArg>(value);
        return items_[i].second;
      }
      items_.emplace_back(std::forward<KeyArg>(key), std::forward<ValueArg>(value));
      if (items_.size() > kIndexThreshold) reindex();
      return items_.back().second;
    }
    const std::uint32_t hash = hash_of(key);
    std::size_t slot = slot_of(key, hash);
    if (slots_[slot].position != kEmpty) {
      Item& found = items_[slots_[slot].position];
      found.second = std::forward<ValueArg>(value);
      return found.second;
    }
    items_.emplace_back(std::forward<KeyArg>(key), std::forward<ValueArg>(value));
    if (items_.size() * 4 > slots_.size() * 3) {
      try {
        grow();
      } catch (...) {  // a failed allocation leaves the map as it was
        items_.pop_back();
        throw;
      }
    } else {
      slots_[slot] = {static_cast<std::uint32_t>(items_.size() - 1), hash};
    }
    return items_.back().second;
  }

  // Small maps are searched linearly; an index pays off only past this size.
  static constexpr std::size_t kIndexThreshold = 16;
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFF;

  // The index: open addressing with linear probing over a power-of-two table at most
  // three quarters full. Growing makes it four times its items' count, so that it grows
  // rarely and is mostly far from full, where probes are short; reserve() makes it as full
  // as it may be (11 to 21 bytes per item), which counts in a file of many small tensors.
  // A slot holds an item's position and its key's hash, so that growing the table hashes
  // no key again and most mismatches are told without comparing keys.
  // Positions are 32-bit: 2^32 items would take hundreds of GiB before the index.
  struct Slot {
    std::uint32_t position = kEmpty;
    std::uint32_t hash = 0;
  };

  static std::uint32_t hash_of(const K& key) {
    const std::size_t h = Hash()(key);
    // Mixed, as std::hash of an integer is the integer itself.
    return static_cast<std::uint32_t>((h * 0x9E3779B97F4A7C15ULL) >> 32);
  }

  std::size_t scan(const K& key) const {
    auto it = std::find_if(items_.begin(), items_.end(),
                           [&](const Item& item) { return item.first == key; });
    return static_cast<std::size_t>(it - items_.begin());
  }

  // The slot holding `key`, or the empty slot where it would go.
  std::size_t slot_of(const K& key, std::uint32_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.position == kEmpty) return i;
      if (slot.hash == hash && items_[slot.position].first == key) return i;
    }
  }

  std::size_t position(const K& key) const {
    if (slots_.empty()) return scan(key);
    const Slot& slot = slots_[slot_of(key, hash_of(key))];
    return slot.position == kEmpty ? items_.size() : slot.position;
  }

  // Rebuilds the index for items_, hashing every key (after an erase, which shifts
  // positions, or once the map outgrows a linear search).
  void reindex() {
    if (items_.size() <= kIndexThreshold) {
      slots_.clear();
      slots_.shrink_to_fit();
      return;
    }
    build(hashes(), 4 * items_.size());
  }
  // A larger table after an append: the old slots hold every hash but the new item's.
  void grow() {
    std::vector<std::uint32_t> known(items_.size());
    for (const Slot& slot : slots_) {
      if (slot.position != kEmpty) known[slot.position] = slot.hash;
    }
    known.back() = hash_of(items_.back().first);
    build(known, 4 * known.size());
  }
  // Every item's hash, in order.
  std::vector<std::uint32_t> hashes() const {
    std::vector<std::uint32_t> out(items_.size());
    for (std::size_t i = 0; i < items_.size(); ++i) out[i] = hash_of(items_[i].first);
    return out;
  }
  // A table of at least `min_capacity` slots (and 64) indexing the items of `hashes`.
  void build(const std::vector<std::uint32_t>& hashes, std::size_t min_capacity) {
    std::size_t capacity = 64;
    while (capacity < min_capacity) capacity *= 2;
    slots_.assign(capacity, Slot{});
    const std::size_t mask = capacity - 1;
    for (std::size_t p = 0; p < hashes.size(); ++p) {
      std::size_t i = hashes[p] & mask;
      while (slots_[i].position != kEmpty) i = (i + 1) & mask;
      slots_[i] = {static_cast<std::uint32_t>(p), hashes[p]};
    }
  }

  std::vector<Item> items_;
  std::vector<Slot> slots_;  // empty while the map is small
};

}  // namespace mnemo::detail
