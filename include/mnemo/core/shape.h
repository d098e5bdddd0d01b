// Shape: a tensor's sizes or strides, a vector of int64 that holds up to kInlineDims
// dimensions inside itself.
//
// Every tensor has two, and a std::vector would cost each its own heap block: two of the
// three a tensor took, and about 500 instructions of each tensor that a load of a
// state_dict of many small tensors reads. Tensors of rank 5 or less, nearly all of them,
// allocate nothing here; a higher rank moves to the heap as a vector would.
//
// It reads and writes like std::vector<std::int64_t> (iterators are pointers), converts
// from and to one, and compares with one, so code written for a vector of sizes keeps
// working.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <vector>

namespace mnemo {

class Shape {
 public:
  using value_type = std::int64_t;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = value_type&;
  using const_reference = const value_type&;
  using pointer = value_type*;
  using const_pointer = const value_type*;
  using iterator = value_type*;
  using const_iterator = const value_type*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  // Dimensions held without a heap allocation (PyTorch keeps 5 inline, too).
  static constexpr size_type kInlineDims = 5;

  Shape() noexcept = default;
  explicit Shape(size_type count, value_type value = 0) { assign(count, value); }
  Shape(std::initializer_list<value_type> values) { assign(values.begin(), values.end()); }
  template <std::input_iterator It>
  Shape(It first, It last) {
    assign(first, last);
  }
  // Implicit, as the vector this type replaced was: `tensor.view(sizes_vector)`.
  Shape(const std::vector<value_type>& values) { assign(values.begin(), values.end()); }
  explicit Shape(std::span<const value_type> values) { assign(values.begin(), values.end()); }

  Shape(const Shape& other) { copy_from(other); }
  Shape(Shape&& other) noexcept { take(other); }
  Shape& operator=(const Shape& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  Shape& operator=(Shape&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Shape& operator=(std::initializer_list<value_type> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~Shape() { release(); }

  operator std::vector<value_type>() const { return {begin(), end()}; }
  std::vector<value_type> vec() const { return {begin(), end()}; }

  // --- size -------------------------------------------------------------------------
  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  size_type capacity() const noexcept { return capacity_; }
  void reserve(size_type capacity) {
    if (capacity > capacity_) reallocate(capacity);
  }

  // --- elements ---------------------------------------------------------------------
  value_type* data() noexcept { return on_heap() ? heap_ : inline_; }
  const value_type* data() const noexcept { return on_heap() ? heap_ : inline_; }
  value_type& operator[](size_type i) noexcept { return data()[i]; }
  const value_type& operator[](size_type i) const noexcept { return data()[i]; }
  value_type& front() noexcept { return data()[0]; }
  const value_type& front() const noexcept { return data()[0]; }
  value_type& back() noexcept { return data()[size_ - 1]; }
  const value_type& back() const noexcept { return data()[size_ - 1]; }

  iterator begin() noexcept { return data(); }
  iterator end() noexcept { return data() + size_; }
  const_iterator begin() const noexcept { return data(); }
  const_iterator end() const noexcept { return data() + size_; }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  // --- changes ----------------------------------------------------------------------
  template <std::input_iterator It>
  void assign(It first, It last) {
    clear();
    if constexpr (std::forward_iterator<It>) {
      const auto count = static_cast<size_type>(std::distance(first, last));
      reserve(count);
      std::transform(first, last, data(), [](const auto& v) { return static_cast<value_type>(v); });
      size_ = static_cast<std::uint32_t>(count);
    } else {
      for (; first != last; ++first) push_back(static_cast<value_type>(*first));
    }
  }
  void assign(size_type count, value_type value) {
    clear();
    resize(count, value);
  }
  void clear() noexcept { size_ = 0; }
  void push_back(value_type value) {
    if (size_ == capacity_) reallocate(grown(size_ + 1));
    data()[size_++] = value;
  }
  value_type& emplace_back(value_type value) {
    push_back(value);
    return back();
  }
  void pop_back() noexcept { --size_; }
  void resize(size_type count, value_type value = 0) {
    reserve(count);
    if (count > size_) std::fill(data() + size_, data() + count, value);
    size_ = static_cast<std::uint32_t>(count);
  }
  iterator insert(const_iterator position, value_type value) { return insert(position, 1, value); }
  iterator insert(const_iterator position, size_type count, value_type value);
  template <std::forward_iterator It>
  iterator insert(const_iterator position, It first, It last) {
    const auto at = static_cast<size_type>(position - data());
    const auto count = static_cast<size_type>(std::distance(first, last));
    open_gap(at, count);
    std::copy(first, last, data() + at);
    return data() + at;
  }
  iterator insert(const_iterator position, std::initializer_list<value_type> values) {
    return insert(position, values.begin(), values.end());
  }
  iterator erase(const_iterator position) { return erase(position, position + 1); }
  iterator erase(const_iterator first, const_iterator last) noexcept {
    const auto at = static_cast<size_type>(first - data());
    const auto count = static_cast<size_type>(last - first);
    std::copy(data() + at + count, data() + size_, data() + at);
    size_ -= static_cast<std::uint32_t>(count);
    return data() + at;
  }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend std::strong_ordering operator<=>(const Shape& a, const Shape& b) noexcept {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  bool on_heap() const noexcept { return capacity_ > kInlineDims; }
  size_type grown(size_type needed) const noexcept {
    return std::max(needed, 2 * size_type{capacity_});
  }
  // Moves the elements into a heap block of `capacity` (> capacity_); throws
  // std::length_error past 2^32 - 1 elements.
  void reallocate(size_type capacity);
  // Makes room for `count` elements at `at`, shifting those after it.
  void open_gap(size_type at, size_type count);
  void release() noexcept {
    if (on_heap()) {
      delete[] heap_;
      std::fill_n(inline_, kInlineDims, value_type{0});  // the inline array again
    }
    size_ = 0;
    capacity_ = kInlineDims;
  }
  // Takes other's elements, leaving it empty. REQUIRES: this holds no heap block.
  void take(Shape& other) noexcept {
    if (other.on_heap()) {
      heap_ = other.heap_;
      capacity_ = other.capacity_;
      std::fill_n(other.inline_, kInlineDims, value_type{0});
      other.capacity_ = kInlineDims;
    } else {
      copy_inline(other);
    }
    size_ = other.size_;
    other.size_ = 0;
  }
  void copy_from(const Shape& other) {
    if (other.on_heap()) {
      assign(other.begin(), other.end());
    } else {
      clear();  // keeps a heap block of this one's, as a vector keeps its capacity
      if (on_heap()) {
        std::copy(other.begin(), other.end(), data());
      } else {
        copy_inline(other);
      }
      size_ = other.size_;
    }
  }
  // The whole inline array, a fixed size the compiler copies in a few moves (the unused
  // tail is zeros, never indeterminate).
  void copy_inline(const Shape& other) noexcept {
    std::copy(other.inline_, other.inline_ + kInlineDims, inline_);
  }

  // The elements: inline_ while capacity_ is kInlineDims, heap_ once it is more. No
  // pointer to whichever is in use is kept: every tensor has two Shapes, and a file of
  // many small tensors pays for each byte of them.
  union {
    value_type inline_[kInlineDims] = {};
    value_type* heap_;
  };
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = kInlineDims;
};

}  // namespace mnemo
