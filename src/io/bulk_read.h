// Reading many ranges of a source into their own buffers at once, as fast as the
// machine allows: what a copy load of many tensors needs.
#pragma once

#include <cstdint>
#include <span>

#include "io/progress_meter.h"
#include "mnemo/io/byte_source.h"

namespace mnemo::io {

struct RangeRead {
  std::uint64_t offset;       // where the bytes are in the source
  std::span<std::byte> out;   // where they go (out.size() bytes)
};

// Fills every request's buffer with the source's bytes at its offset, each as read_at
// would (the same errors). Large ranges are read straight into their buffers in pieces
// spread over the cores; runs of small ranges that follow each other in a file are read
// with one system call each (preadv), straight into their buffers too. Buffers must not
// overlap. `progress`, when given, counts the bytes as they arrive.
void read_ranges(const ByteSource& source, std::span<const RangeRead> requests,
                 ProgressMeter* progress = nullptr);

}  // namespace mnemo::io
