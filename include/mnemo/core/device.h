// Where a tensor's memory lives, written as PyTorch's location tags: "cpu", "cuda:0".
//
// This build computes on the CPU only. A tensor may still carry a CUDA tag (read from a
// file saved on a GPU); its bytes are in host memory and it must be mapped to the CPU
// before any computation.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace mnemo {

enum class DeviceType : std::uint8_t { kCpu, kCuda };

class Device {
 public:
  static constexpr Device cpu() { return Device(DeviceType::kCpu, -1); }
  // index -1 means "the current CUDA device" (PyTorch's "cuda" without an index); at
  // most kMaxIndex.
  static Device cuda(int index = -1);
  static constexpr int kMaxIndex = INT16_MAX;

  // Parses "cpu", "cuda", "cuda:N". Throws kInvalidArgument for anything else.
  static Device parse(std::string_view tag);

  constexpr DeviceType type() const { return type_; }
  constexpr int index() const { return index_; }
  constexpr bool has_index() const { return index_ >= 0; }
  constexpr bool is_cpu() const { return type_ == DeviceType::kCpu; }
  constexpr bool is_cuda() const { return type_ == DeviceType::kCuda; }

  // The location tag: "cpu", "cuda", "cuda:1".
  std::string str() const;

  friend constexpr bool operator==(const Device&, const Device&) = default;

 private:
  constexpr Device(DeviceType type, int index)
      : type_(type), index_(static_cast<std::int16_t>(index)) {}

  // Four bytes in all: every storage has a Device.
  DeviceType type_;
  std::int16_t index_;
};

std::ostream& operator<<(std::ostream& out, const Device& device);

}  // namespace mnemo
