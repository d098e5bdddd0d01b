#include "mnemo/core/device.h"

#include <charconv>

#include "mnemo/core/error.h"

namespace mnemo {

Device Device::cuda(int index) {
  MNEMO_CHECK(index >= -1, "CUDA device index must be >= 0, got ", index);
  MNEMO_CHECK(index <= kMaxIndex, "CUDA device index must be at most ", kMaxIndex, ", got ", index);
  return Device(DeviceType::kCuda, index);
}

Device Device::parse(std::string_view tag) {
  if (tag == "cpu") return cpu();
  if (tag == "cuda") return cuda();
  if (tag.starts_with("cuda:")) {
    std::string_view digits = tag.substr(5);
    int index = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && ec == std::errc() && end == digits.data() + digits.size() &&
        index >= 0 && index <= kMaxIndex && (digits.size() == 1 || digits[0] != '0')) {
      return cuda(index);
    }
  }
  fail(ErrorCode::kInvalidArgument, "invalid device '", tag,
       "': expected 'cpu', 'cuda' or 'cuda:N' with N a non-negative integer");
}

std::string Device::str() const {
  if (is_cpu()) return "cpu";
  return has_index() ? "cuda:" + std::to_string(index_) : "cuda";
}

std::ostream& operator<<(std::ostream& out, const Device& device) {
  return out << device.str();
}

}  // namespace mnemo
