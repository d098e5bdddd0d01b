// Reading the zip format of torch.save (PyTorch >= 1.6): records "<archive>/data.pkl",
// "<archive>/data/<key>" (one per storage), "<archive>/version" and, since 2.1,
// "<archive>/byteorder" (reference §1, §2).
#pragma once

#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"

namespace mnemo::pt {

// Reads the archive in `source`. Tensors view `source.storage()` (a mapping) when
// options.mmap is set and the record allows it; otherwise they own copies.
Value read_zip(const io::ByteSource& source, const LoadOptions& options);

}  // namespace mnemo::pt
