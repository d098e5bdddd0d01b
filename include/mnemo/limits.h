// Every cap mnemo puts on untrusted input, in one place. A reader checks each size,
// count, depth and rank it reads against these (and against the bytes that remain)
// before it allocates anything; exceeding one is an Error with code kLimit naming it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnemo::limits {

// --- pickle (data.pkl, legacy .pt) -----------------------------------------------------
inline constexpr std::uint64_t kMaxPickleBytes = std::uint64_t{2} << 30;  // 2 GiB
inline constexpr std::size_t kMaxPickleStack = std::size_t{1} << 24;      // values on the stack
inline constexpr std::size_t kMaxPickleDepth = 1000;  // open MARKs / nested containers
inline constexpr std::size_t kMaxPickleMemo = std::size_t{1} << 24;       // memo entries
inline constexpr std::uint64_t kMaxStringBytes = std::uint64_t{1} << 30;  // one str or bytes
inline constexpr std::uint64_t kMaxBigIntBytes = std::uint64_t{1} << 16;  // LONG1/LONG4 size
// Objects a pickle may create (containers, tensors, globals, ...). A str that the pickle
// holds as UTF-8 is read as a view of its bytes and is not one.
inline constexpr std::size_t kMaxPickleObjects = std::size_t{1} << 24;
// Values the result may hold: more than the objects when shared objects are referenced
// many times, since each reference becomes a copy in a Value tree ("billion laughs").
// The bytes of str, bytes and big ints in the result are capped by kMaxPickleBytes.
inline constexpr std::uint64_t kMaxPickleValues = std::uint64_t{1} << 26;
// And at most this many per byte of the pickle, beyond the first 2^20 that any pickle
// may expand to: otherwise a few kilobytes referencing one list many times could expand
// to 2^26 values, some GiB. An unshared value needs at least one byte of pickle, and
// real files share little.
inline constexpr std::uint64_t kMaxPickleValuesPerByte = 64;
inline constexpr std::uint64_t kPickleValuesAlwaysAllowed = std::uint64_t{1} << 20;

// --- tensors -------------------------------------------------------------------------------------
inline constexpr std::size_t kMaxTensorRank = 64;
inline constexpr std::uint64_t kMaxTensorCount = std::uint64_t{1} << 24;

// --- containers ---------------------------------------------------------------------------------
inline constexpr std::uint64_t kMaxZipEntries = std::uint64_t{1} << 24;
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;  // as the reference

}  // namespace mnemo::limits
