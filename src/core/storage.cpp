#include "mnemo/core/storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "core/huge_pages.h"
#include "mnemo/core/error.h"

namespace mnemo {

// What a storage is: where its bytes are and how they may be used. What keeps them alive
// is kept beside it: by an OwningImpl, or by the batch of a StorageSlicer's slices.
struct Storage::Impl {
  std::byte* data = nullptr;
  std::size_t nbytes = 0;
  Device device = Device::cpu();
  StorageKind kind = StorageKind::kOwned;
  bool writable = true;
};

struct Storage::OwningImpl : Storage::Impl {
  OwningImpl() = default;
  // The same bytes and uses as `impl`, kept alive by `keeper`.
  OwningImpl(const Impl& impl, std::shared_ptr<const void> keeper)
      : Impl(impl), owner(std::move(keeper)) {}
  // Owned bytes: the `nbytes` of `block`.
  OwningImpl(std::shared_ptr<void> block, std::size_t nbytes, Device device) {
    hold(std::move(block));
    this->nbytes = nbytes;
    this->device = device;
  }
  // Takes `block` as the storage's bytes: data points at them, and owner keeps them.
  void hold(std::shared_ptr<void> block) {
    data = static_cast<std::byte*>(block.get());
    owner = std::move(block);
  }
  std::shared_ptr<const void> owner;  // keeps the memory alive; released last
};

namespace {

std::shared_ptr<void> aligned_block(std::size_t nbytes) {
  // Rounding up must not wrap around to a tiny block that claims a huge size.
  if (nbytes > std::numeric_limits<std::size_t>::max() - kStorageAlignment) {
    throw std::bad_alloc();
  }
  // Never a null pointer, even for 0 bytes: memcpy and friends may not be given one.
  std::size_t rounded = (nbytes + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
  if (rounded == 0) rounded = kStorageAlignment;
  void* block = ::operator new(rounded, std::align_val_t(kStorageAlignment));
  return std::shared_ptr<void>(block, [](void* p) {
    ::operator delete(p, std::align_val_t(kStorageAlignment));
  });
}

[[noreturn]] void fail_io(const std::filesystem::path& path, const char* what, int err) {
  fail(ErrorCode::kIo, "cannot ", what, " '", path.string(), "': ", std::strerror(err));
}

}  // namespace

Storage Storage::allocate(std::size_t nbytes, Device device) {
  return Storage(std::make_shared<OwningImpl>(aligned_block(nbytes), nbytes, device));
}

Storage Storage::allocate_for_fill(std::size_t nbytes, Device device) {
  const std::size_t huge_page = detail::huge_page_bytes();
  if (huge_page == 0 || nbytes < huge_page) return allocate(nbytes, device);
  std::shared_ptr<void> block = detail::map_for_huge_pages(nbytes, huge_page);
  if (!block) return allocate(nbytes, device);  // no mapping to be had: the heap decides
  return Storage(std::make_shared<OwningImpl>(std::move(block), nbytes, device));
}

Storage Storage::allocate_zeroed(std::size_t nbytes, Device device) {
  Storage storage = allocate(nbytes, device);
  std::memset(storage.impl_->data, 0, nbytes);
  return storage;
}

Storage Storage::from_foreign(void* data, std::size_t nbytes, std::function<void(void*)> deleter,
                              Device device, bool writable) {
  MNEMO_CHECK(data != nullptr || nbytes == 0, "foreign memory of ", nbytes, " bytes at nullptr");
  auto impl = std::make_shared<OwningImpl>();
  if (deleter) {
    impl->owner = std::shared_ptr<void>(data, std::move(deleter));
  }
  impl->data = static_cast<std::byte*>(data);
  impl->nbytes = nbytes;
  impl->device = device;
  impl->kind = StorageKind::kForeign;
  impl->writable = writable;
  return Storage(std::move(impl));
}

Storage Storage::map_file(const std::filesystem::path& path, MapMode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_io(path, "open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail_io(path, "stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::kIo, "cannot map '", path.string(), "': not a regular file");
  }
  auto impl = std::make_shared<OwningImpl>();
  impl->kind = StorageKind::kMapped;
  impl->writable = mode == MapMode::kCopyOnWrite;
  impl->nbytes = static_cast<std::size_t>(st.st_size);
  if (impl->nbytes == 0) {
    // mmap refuses empty files; an empty mapping still needs a valid pointer.
    ::close(fd);
    impl->hold(aligned_block(0));
    return Storage(std::move(impl));
  }
  int prot = PROT_READ | (impl->writable ? PROT_WRITE : 0);
  int flags = impl->writable ? MAP_PRIVATE : MAP_SHARED;
  void* base = ::mmap(nullptr, impl->nbytes, prot, flags, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps its own reference to the file
  if (base == MAP_FAILED) fail_io(path, "map", err);
  std::size_t length = impl->nbytes;
  impl->hold(std::shared_ptr<void>(base, [length](void* p) { ::munmap(p, length); }));
  return Storage(std::move(impl));
}

void Storage::check_slice(std::size_t offset, std::size_t nbytes) const {
  MNEMO_CHECK(defined(), "slice of an undefined storage");
  MNEMO_CHECK(offset <= impl_->nbytes && nbytes <= impl_->nbytes - offset, "slice [", offset,
              ", ", offset, " + ", nbytes, ") is outside a storage of ", impl_->nbytes, " bytes");
}

Storage Storage::slice(std::size_t offset, std::size_t nbytes) const {
  check_slice(offset, nbytes);
  auto impl = derive();
  impl->data = impl_->data + offset;
  impl->nbytes = nbytes;
  return Storage(std::move(impl));
}

// A StorageSlicer's handles, made in place and never moved, and the bases they were cut
// from, which keep their bytes alive: all freed together.
struct Storage::SliceBatch {
  static constexpr std::size_t kHandles = 256;
  SliceBatch() { handles.reserve(kHandles); }
  std::vector<Storage> bases;
  std::vector<Impl> handles;
};

void StorageSlicer::set_base(Storage base) { base_ = std::move(base); }

Storage StorageSlicer::slice(std::size_t offset, std::size_t nbytes) {
  base_.check_slice(offset, nbytes);
  using Batch = Storage::SliceBatch;
  auto* batch = static_cast<Batch*>(batch_.get());
  if (!batch || batch->handles.size() == Batch::kHandles) {
    auto fresh = std::make_shared<Batch>();
    batch = fresh.get();
    batch_ = std::move(fresh);
  }
  if (batch->bases.empty() || !batch->bases.back().is_same(base_)) batch->bases.push_back(base_);
  Storage::Impl& impl = batch->handles.emplace_back(*base_.impl_);
  impl.data += offset;
  impl.nbytes = nbytes;
  return Storage(std::shared_ptr<const Storage::Impl>(batch_, &impl));
}

Storage Storage::with_device(Device device) const {
  MNEMO_CHECK(defined(), "with_device of an undefined storage");
  auto impl = derive();
  impl->device = device;
  return Storage(std::move(impl));
}

std::shared_ptr<Storage::Impl> Storage::derive() const {
  // Keeps the parent rather than its memory, so that a foreign deleter still runs once.
  return std::make_shared<OwningImpl>(*impl_, impl_);
}

std::size_t Storage::nbytes() const { return impl_ ? impl_->nbytes : 0; }
Device Storage::device() const { return impl_ ? impl_->device : Device::cpu(); }
StorageKind Storage::kind() const { return impl_ ? impl_->kind : StorageKind::kOwned; }
bool Storage::is_writable() const { return impl_ && impl_->writable; }
const std::byte* Storage::data() const { return impl_ ? impl_->data : nullptr; }

std::byte* Storage::mutable_data() const {
  MNEMO_CHECK(defined(), "write to an undefined storage");
  MNEMO_CHECK(impl_->writable,
              "write to a read-only storage (a read-only file mapping); load with a "
              "copy-on-write mapping or clone the tensor first");
  return impl_->data;
}

}  // namespace mnemo
