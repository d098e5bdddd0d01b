// A deep copy of a checkpoint's tensors, taken at once so that training may go on
// changing the originals while the copy is written (asynchronous saving).
#pragma once

#include "mnemo/core/value.h"

namespace mnemo::checkpoint {

// `value` with every tensor's storage copied. Tensors that shared a storage still share
// the copy, with the same offsets and strides, so the saved file is the same.
Value snapshot(const Value& value);

}  // namespace mnemo::checkpoint
