// Reading a safetensors file into a dict of tensors (see mnemo/serialize.h for the
// contract and safetensors_header.h for the rules checked).
#pragma once

#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"

namespace mnemo::safetensors {

// The tensors of `source`, name -> tensor in the order of their data. With options.mmap
// and a source in memory (a mapping), tensors view the source's storage; otherwise each
// tensor's bytes are read once, straight into a storage of its own (all at once, large
// ones in parallel), from `data` when given: the same bytes as `source` (which may be a
// wrapper that serves the file's first bytes from memory).
Value read(const io::ByteSource& source, const LoadOptions& options,
           const io::ByteSource* data = nullptr);

}  // namespace mnemo::safetensors
