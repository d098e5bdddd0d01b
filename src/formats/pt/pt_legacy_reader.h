// Reading the legacy format of torch.save (before PyTorch 1.6, or with
// _use_new_zipfile_serialization=False): a chain of pickles — magic number, protocol
// version, system info, the object, the storage keys — then each storage as an int64
// element count followed by its raw bytes (reference §4).
#pragma once

#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"

namespace mnemo::pt {

// True when `head` (the first bytes of a file) starts like a legacy checkpoint.
bool looks_like_legacy(std::span<const std::byte> head);

Value read_legacy(const io::ByteSource& source, const LoadOptions& options);

}  // namespace mnemo::pt
