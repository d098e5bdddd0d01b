// What operator new was asked for since the last reset: this test binary replaces the
// global operator new and delete (allocation_tracker.cpp) to check that no file makes a
// reader ask for more memory than the file could back, and how many heap blocks a tensor
// or a load costs.
#pragma once

#include <cstddef>

namespace mnemo::testing {

// The largest single request since reset_largest_allocation().
void reset_largest_allocation();
std::size_t largest_allocation();
// How many requests, on every thread, since reset_allocation_count().
void reset_allocation_count();
std::size_t allocation_count();

}  // namespace mnemo::testing
