// The library's version.
#pragma once

#define MNEMO_VERSION_MAJOR 0
#define MNEMO_VERSION_MINOR 1
#define MNEMO_VERSION_PATCH 0

namespace mnemo {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace mnemo
