// Fashion-MNIST in IDX format (gzipped or not), and the batches training draws from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "mnemo/core/tensor.h"

namespace fashion_mnist {

// Where Debian's dataset-fashion-mnist installs the files.
inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

enum class Split { kTrain, kTest };

struct Dataset {
  mnemo::Tensor images;  // uint8 [N, 28, 28]
  mnemo::Tensor labels;  // int64 [N]
  std::int64_t size() const { return labels.size(0); }
};

// Reads "<train|t10k>-images-idx3-ubyte[.gz]" and the matching labels from `dir`,
// keeping the first `limit` examples when given. Throws mnemo::Error naming the file
// and what is wrong with it.
Dataset load_dataset(const std::filesystem::path& dir, Split split,
                     std::optional<std::int64_t> limit = std::nullopt);

// uint8 images [B, 28, 28] -> float32 [B, 1, 28, 28] = (pixel / 255 - 0.2860) / 0.3530,
// computed in float32 in that order, as PyTorch computes it.
mnemo::Tensor normalize(const mnemo::Tensor& images);

struct Batch {
  mnemo::Tensor inputs;  // float32 [B, 1, 28, 28]
  mnemo::Tensor labels;  // int64 [B]
};

// The batches of each epoch, in a shuffled order that depends only on (seed, epoch), so
// that a resumed run sees exactly the batches an uninterrupted one would. The last
// batch of an epoch may be smaller (PyTorch's drop_last = False).
class BatchLoader {
 public:
  BatchLoader(const Dataset& dataset, std::int64_t batch_size, bool shuffle, std::uint64_t seed);

  std::int64_t batches_per_epoch() const;
  Batch batch(std::int64_t epoch, std::int64_t index) const;

 private:
  const std::vector<std::int64_t>& order(std::int64_t epoch) const;

  const Dataset& dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> cached_order_;
};

}  // namespace fashion_mnist
