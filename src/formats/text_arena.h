// Copies of short texts that never move and live as long as the arena: what a map keyed
// by string_view needs when the texts it indexes are temporaries. One allocation per
// few KiB of text instead of a std::string each.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory_resource>
#include <string_view>

namespace mnemo::formats {

class TextArena {
 public:
  std::string_view keep(std::string_view text) {
    char* copy = static_cast<char*>(memory_.allocate(std::max<std::size_t>(text.size(), 1), 1));
    if (!text.empty()) std::memcpy(copy, text.data(), text.size());
    return {copy, text.size()};
  }

 private:
  std::pmr::monotonic_buffer_resource memory_;
};

}  // namespace mnemo::formats
