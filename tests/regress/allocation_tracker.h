// The largest single allocation made through operator new since the last reset: this
// test binary replaces the global operator new and delete (allocation_tracker.cpp) to
// check that no file makes a reader ask for more memory than the file could back.
#pragma once

#include <cstddef>

namespace mnemo::testing {

void reset_largest_allocation();
std::size_t largest_allocation();

}  // namespace mnemo::testing
