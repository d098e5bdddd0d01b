// Storage: reference-counted bytes that know their device. Tensors view a Storage; two
// tensors that share one (tied weights, views) see each other's writes.
//
// A Storage is one of:
//  - owned memory, 64-byte aligned (Storage::allocate, Storage::allocate_for_fill);
//  - a mapping of a file, read-only or copy-on-write (Storage::map_file);
//  - foreign memory released by a deleter the caller gives (Storage::from_foreign).
// A slice of a Storage shares ownership of the whole, so a tensor viewing part of a
// mapped file keeps the mapping alive.
//
// Copying a Storage copies the handle, not the bytes. Handles may be used from several
// threads; the bytes themselves are not synchronised.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>

#include "mnemo/core/device.h"

namespace mnemo {

enum class StorageKind : std::uint8_t { kOwned, kMapped, kForeign };

enum class MapMode : std::uint8_t {
  kReadOnly,     // writes through the mapping are refused
  kCopyOnWrite,  // writes go to private pages; the file never changes
};

inline constexpr std::size_t kStorageAlignment = 64;

class Storage {
 public:
  Storage() = default;  // undefined: no bytes at all

  // Uninitialised, 64-byte aligned heap memory.
  static Storage allocate(std::size_t nbytes, Device device = Device::cpu());
  // As allocate, for a large buffer that is about to be written whole, as a load fills
  // its tensors: past the size of a huge page, a mapping of its own that the kernel backs
  // with transparent huge pages, where the machine offers them and they pay off. Then
  // aligned to the huge page; otherwise exactly allocate().
  static Storage allocate_for_fill(std::size_t nbytes, Device device = Device::cpu());
  // As allocate, filled with zero bytes.
  static Storage allocate_zeroed(std::size_t nbytes, Device device = Device::cpu());
  // Memory the caller owns; `deleter(data)` runs when the last handle goes (may be empty).
  static Storage from_foreign(void* data, std::size_t nbytes,
                              std::function<void(void*)> deleter, Device device = Device::cpu(),
                              bool writable = true);
  // Maps the whole file. Throws kIo naming the path when it cannot be opened or mapped.
  static Storage map_file(const std::filesystem::path& path, MapMode mode);

  // `nbytes` bytes from `offset`, sharing ownership. REQUIRES: within this storage.
  Storage slice(std::size_t offset, std::size_t nbytes) const;
  // The same bytes, tagged with another device (map_location). A new identity.
  Storage with_device(Device device) const;

  bool defined() const { return impl_ != nullptr; }
  std::size_t nbytes() const;
  Device device() const;
  StorageKind kind() const;
  bool is_writable() const;

  const std::byte* data() const;
  // REQUIRES: is_writable(); throws kInvalidArgument otherwise.
  std::byte* mutable_data() const;

  // True when both handles are the same storage (not merely equal bytes).
  bool is_same(const Storage& other) const { return impl_ == other.impl_; }
  long use_count() const { return impl_.use_count(); }

 private:
  friend class StorageSlicer;
  struct Impl;
  struct OwningImpl;
  struct SliceBatch;
  explicit Storage(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  void check_slice(std::size_t offset, std::size_t nbytes) const;
  // A copy of this storage's description that shares ownership of its bytes.
  std::shared_ptr<Impl> derive() const;

  std::shared_ptr<const Impl> impl_;
};

// Cuts many slices from one storage, each as Storage::slice would, with their handles
// made a few hundred at a time instead of one allocation each: a load cuts thousands of
// small storages from a few blocks. Each slice is its own storage (is_same); the slices
// of one batch share a reference count, so use_count() counts them all.
class StorageSlicer {
 public:
  StorageSlicer() = default;  // slices nothing
  explicit StorageSlicer(Storage base) : base_(std::move(base)) {}
  // Slices `base` from now on. The handles of slices already cut, and of those to come, go
  // on filling the same batch.
  void set_base(Storage base);
  // Refuses a range outside the base storage, or a slicer without one, as slice() does.
  Storage slice(std::size_t offset, std::size_t nbytes);

 private:
  Storage base_;
  std::shared_ptr<void> batch_;  // the handles being made (a Storage::SliceBatch)
};

}  // namespace mnemo
