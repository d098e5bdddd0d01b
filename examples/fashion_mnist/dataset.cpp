#include "dataset.h"

#include <libdeflate.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>

#include "mnemo/core/error.h"
#include "mnemo/core/generator.h"

namespace fashion_mnist {
namespace {

using mnemo::ErrorCode;
using mnemo::fail;

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr std::int64_t kSide = 28;
constexpr std::size_t kMaxInflatedBytes = std::size_t{1} << 30;

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, "cannot open '", path.string(), "'");
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
}

std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& gz, const std::string& name) {
  if (gz.size() < 18) fail(ErrorCode::kCorrupt, name, ": too short for a gzip file");
  // The gzip trailer's last 4 bytes hold the inflated size (mod 2^32).
  std::size_t size = 0;
  for (int i = 3; i >= 0; --i) size = (size << 8) | gz[gz.size() - 4 + static_cast<std::size_t>(i)];
  if (size > kMaxInflatedBytes) fail(ErrorCode::kLimit, name, ": claims ", size, " inflated bytes");
  std::vector<std::uint8_t> out(size);
  std::unique_ptr<libdeflate_decompressor, decltype(&libdeflate_free_decompressor)> decompressor(
      libdeflate_alloc_decompressor(), &libdeflate_free_decompressor);
  std::size_t actual = 0;
  if (libdeflate_gzip_decompress(decompressor.get(), gz.data(), gz.size(), out.data(), out.size(),
                                 &actual) != LIBDEFLATE_SUCCESS ||
      actual != size) {
    fail(ErrorCode::kCorrupt, name, ": not a valid gzip stream");
  }
  return out;
}

// The file's bytes, inflated when only the ".gz" version exists.
std::vector<std::uint8_t> read_idx(const std::filesystem::path& dir, const std::string& stem) {
  const std::filesystem::path plain = dir / stem;
  if (std::filesystem::exists(plain)) return read_file(plain);
  const std::filesystem::path gz = dir / (stem + ".gz");
  if (!std::filesystem::exists(gz)) {
    fail(ErrorCode::kIo, "Fashion-MNIST file '", stem, "' (or ", stem, ".gz) not found in '",
         dir.string(), "'; install Debian's dataset-fashion-mnist or pass --data DIR");
  }
  return gunzip(read_file(gz), gz.string());
}

std::uint32_t big_endian_u32(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16) |
         (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
}

}  // namespace

Dataset load_dataset(const std::filesystem::path& dir, Split split,
                     std::optional<std::int64_t> limit) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::vector<std::uint8_t> images = read_idx(dir, prefix + "-images-idx3-ubyte");
  const std::vector<std::uint8_t> labels = read_idx(dir, prefix + "-labels-idx1-ubyte");
  if (images.size() < 16 || big_endian_u32(images, 0) != kImagesMagic ||
      big_endian_u32(images, 8) != kSide || big_endian_u32(images, 12) != kSide) {
    fail(ErrorCode::kCorrupt, prefix, " images: not an IDX file of 28x28 unsigned bytes");
  }
  if (labels.size() < 8 || big_endian_u32(labels, 0) != kLabelsMagic) {
    fail(ErrorCode::kCorrupt, prefix, " labels: not an IDX file of unsigned bytes");
  }
  std::int64_t count = big_endian_u32(images, 4);
  if (count != static_cast<std::int64_t>(big_endian_u32(labels, 4)) ||
      images.size() != 16 + static_cast<std::size_t>(count * kSide * kSide) ||
      labels.size() != 8 + static_cast<std::size_t>(count)) {
    fail(ErrorCode::kCorrupt, prefix, ": the image and label files disagree on their sizes");
  }
  if (limit) {
    MNEMO_CHECK(*limit > 0, "limit must be positive, got ", *limit);
    count = std::min(count, *limit);
  }
  Dataset dataset{mnemo::empty({count, kSide, kSide}, {.dtype = mnemo::DType::kUInt8}),
                  mnemo::empty({count}, {.dtype = mnemo::DType::kInt64})};
  std::memcpy(dataset.images.mutable_data_ptr(), images.data() + 16,
              static_cast<std::size_t>(count * kSide * kSide));
  auto* out = dataset.labels.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < count; ++i) out[i] = labels[8 + static_cast<std::size_t>(i)];
  return dataset;
}

mnemo::Tensor normalize(const mnemo::Tensor& images) {
  const mnemo::Tensor pixels = images.contiguous();
  const std::int64_t batch = pixels.size(0);
  mnemo::Tensor out = mnemo::empty({batch, 1, kSide, kSide});
  const auto* in = pixels.data<std::uint8_t>();
  float* dst = out.mutable_data<float>();
  const float mean = 0.2860f, std = 0.3530f;
  for (std::int64_t i = 0; i < pixels.numel(); ++i) {
    const float scaled = static_cast<float>(in[i]) / 255.0f;
    dst[i] = (scaled - mean) / std;
  }
  return out;
}

BatchLoader::BatchLoader(const Dataset& dataset, std::int64_t batch_size, bool shuffle,
                         std::uint64_t seed)
    : dataset_(dataset), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {
  MNEMO_CHECK(batch_size > 0, "batch size must be positive, got ", batch_size);
}

std::int64_t BatchLoader::batches_per_epoch() const {
  return (dataset_.size() + batch_size_ - 1) / batch_size_;
}

const std::vector<std::int64_t>& BatchLoader::order(std::int64_t epoch) const {
  if (epoch == cached_epoch_) return cached_order_;
  cached_order_.resize(static_cast<std::size_t>(dataset_.size()));
  std::iota(cached_order_.begin(), cached_order_.end(), 0);
  if (shuffle_) {
    // Fisher-Yates from a generator seeded by (seed, epoch) alone.
    mnemo::Generator generator(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch));
    for (std::size_t i = cached_order_.size(); i > 1; --i) {
      const std::size_t j = generator.next_u64() % i;
      std::swap(cached_order_[i - 1], cached_order_[j]);
    }
  }
  cached_epoch_ = epoch;
  return cached_order_;
}

Batch BatchLoader::batch(std::int64_t epoch, std::int64_t index) const {
  MNEMO_CHECK(index >= 0 && index < batches_per_epoch(), "batch ", index,
              " is out of range for an epoch of ", batches_per_epoch(), " batches");
  const std::vector<std::int64_t>& indices = order(epoch);
  const std::int64_t begin = index * batch_size_;
  const std::int64_t count = std::min(batch_size_, dataset_.size() - begin);
  mnemo::Tensor images = mnemo::empty({count, kSide, kSide}, {.dtype = mnemo::DType::kUInt8});
  mnemo::Tensor labels = mnemo::empty({count}, {.dtype = mnemo::DType::kInt64});
  const auto* all_images = dataset_.images.data<std::uint8_t>();
  const auto* all_labels = dataset_.labels.data<std::int64_t>();
  auto* image_out = images.mutable_data<std::uint8_t>();
  auto* label_out = labels.mutable_data<std::int64_t>();
  constexpr std::size_t kImageBytes = kSide * kSide;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t source = indices[static_cast<std::size_t>(begin + i)];
    std::memcpy(image_out + i * kImageBytes, all_images + source * kImageBytes, kImageBytes);
    label_out[i] = all_labels[source];
  }
  return {normalize(images), labels};
}

}  // namespace fashion_mnist
