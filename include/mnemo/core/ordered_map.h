// OrderedMap: insertion-ordered key -> value pairs with O(1) lookup, the container behind
// Dict and StateDict (a checkpoint may hold 100,000 keys, and their order is part of the
// format). Re-inserting a key replaces its value in place, as Python's dict does.
//
// Const operations never modify the map, so concurrent readers are safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mnemo::detail {

template <class K, class V>
class OrderedMap {
 public:
  using Item = std::pair<K, V>;
  using iterator = typename std::vector<Item>::iterator;
  using const_iterator = typename std::vector<Item>::const_iterator;

  OrderedMap() = default;
  OrderedMap(const OrderedMap& other) : items_(other.items_) { reindex(); }
  OrderedMap(OrderedMap&&) noexcept = default;
  OrderedMap& operator=(const OrderedMap& other) {
    if (this != &other) {
      items_ = other.items_;
      reindex();
    }
    return *this;
  }
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

  V& insert_or_assign(K key, V value) {
    std::size_t i = position(key);
    if (i < items_.size()) {
      items_[i].second = std::move(value);
      return items_[i].second;
    }
    items_.emplace_back(std::move(key), std::move(value));
    if (index_) {
      index_->emplace(items_.back().first, items_.size() - 1);
    } else if (items_.size() > kIndexThreshold) {
      reindex();
    }
    return items_.back().second;
  }

  bool erase(const K& key) {
    std::size_t i = position(key);
    if (i >= items_.size()) return false;
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
    reindex();
    return true;
  }

  void reserve(std::size_t n) { items_.reserve(n); }

  friend bool operator==(const OrderedMap& a, const OrderedMap& b) { return a.items_ == b.items_; }

 private:
  // Small maps are searched linearly; an index pays off only past this size.
  static constexpr std::size_t kIndexThreshold = 16;

  std::size_t position(const K& key) const {
    if (index_) {
      auto it = index_->find(key);
      return it == index_->end() ? items_.size() : it->second;
    }
    auto it = std::find_if(items_.begin(), items_.end(),
                           [&](const Item& item) { return item.first == key; });
    return static_cast<std::size_t>(it - items_.begin());
  }

  void reindex() {
    if (items_.size() <= kIndexThreshold) {
      index_.reset();
      return;
    }
    index_ = std::make_unique<std::unordered_map<K, std::size_t>>();
    index_->reserve(items_.size());
    for (std::size_t i = 0; i < items_.size(); ++i) index_->emplace(items_[i].first, i);
  }

  std::vector<Item> items_;
  std::unique_ptr<std::unordered_map<K, std::size_t>> index_;
};

}  // namespace mnemo::detail
