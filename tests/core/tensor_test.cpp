// Tensor metadata, construction bounds and view operations.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "core/tensor_impl.h"
#include "core/tensor_test_util.h"
#include "mnemo/core/tensor.h"

namespace mnemo {
namespace {

using Int64s = std::vector<std::int64_t>;
using testing::iota;
using testing::kInvalid;
using testing::throws_error;
using testing::values;

// Expects sizes, strides and storage offset of a view.
void expect_layout(const Tensor& t, const Shape& sizes, const Shape& strides, std::int64_t offset) {
  EXPECT_EQ(t.sizes(), sizes);
  EXPECT_EQ(t.strides(), strides);
  EXPECT_EQ(t.storage_offset(), offset);
}

// --- construction and metadata ----------------------------------------------------------------

TEST(TensorTest, UndefinedTensor) {
  const Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_TRUE(throws_error([&] { (void)t.dtype(); }, kInvalid, "undefined"));
  EXPECT_TRUE(throws_error([&] { (void)t.sizes(); }, kInvalid, "undefined"));
}

TEST(TensorTest, ViewsAStorageWithoutCopying) {
  const Storage storage = Storage::allocate_zeroed(64);
  const Tensor t(storage, DType::kFloat32, {2, 3}, {3, 1}, 4);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.stride(-2), 3);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.storage_offset(), 4);
  EXPECT_EQ(t.element_size(), 4u);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_TRUE(t.storage().is_same(storage));
  EXPECT_EQ(t.data_ptr(), storage.data() + 16);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(throws_error([&] { (void)t.size(2); }, kInvalid, "dimension out of range"));
  EXPECT_TRUE(throws_error([&] { (void)t.stride(-3); }, kInvalid, "[-2, 1], but got -3"));
}

TEST(TensorTest, DeviceIsTheStorages) {
  const Tensor t(Storage::allocate(8, Device::cuda(2)), DType::kInt64, {1}, {1});
  EXPECT_EQ(t.device(), Device::cuda(2));
}

TEST(TensorTest, ConstructorChecksBounds) {
  const Storage storage = Storage::allocate(24);  // six float32s
  EXPECT_NO_THROW(Tensor(storage, DType::kFloat32, {6}, {1}, 0));
  EXPECT_NO_THROW(Tensor(storage, DType::kFloat32, {2, 3}, {1, 2}, 0));
  EXPECT_NO_THROW(Tensor(storage, DType::kFloat32, {}, {}, 5));      // last element
  EXPECT_NO_THROW(Tensor(storage, DType::kFloat32, {4}, {0}, 5));    // broadcast
  EXPECT_NO_THROW(Tensor(storage, DType::kFloat32, {0}, {1}, 100));  // empty: nothing read
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {7}, {1}, 0); }, kInvalid,
                           "needs 28 bytes, but its storage has 24"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {}, {}, 6); }, kInvalid,
                           "needs 28 bytes"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat64, {3}, {1}, 1); }, kInvalid,
                           "needs 32 bytes"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {2}, {-1}, 1); }, kInvalid,
                           "negative stride -1"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {-1}, {1}, 0); }, kInvalid,
                           "negative size -1"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {1}, {1}, -1); }, kInvalid,
                           "negative storage offset"));
  EXPECT_TRUE(throws_error(
      [&] {
        Tensor(storage, DType::kFloat32, {2, 2}, {1}, 0);
      },
      kInvalid, "differ in length"));
  EXPECT_TRUE(throws_error([&] { Tensor(Storage(), DType::kFloat32, {}, {}, 0); }, kInvalid,
                           "defined storage"));
}

TEST(TensorTest, ConstructorRefusesOverflowingViews) {
  const Storage storage = Storage::allocate(64);
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {2}, {big}, 0); }, kInvalid,
                           "more than 2^63"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat32, {1}, {1}, big); }, kInvalid,
                           "more than 2^63"));
  EXPECT_TRUE(throws_error([&] { Tensor(storage, DType::kFloat64, {1}, {1}, big / 4); }, kInvalid,
                           "more than 2^63"));
  EXPECT_TRUE(throws_error(
      [&] {
        Tensor(storage, DType::kInt8, {3, big / 2}, {big / 2, 1}, 0);
      },
      kInvalid, "more than 2^63"));
}

TEST(TensorTest, ContiguityIgnoresSizeOneAndEmptyDims) {
  const Storage storage = Storage::allocate(256);
  EXPECT_TRUE(Tensor(storage, DType::kInt8, {2, 1, 3}, {3, 99, 1}).is_contiguous());
  EXPECT_FALSE(Tensor(storage, DType::kInt8, {2, 3}, {1, 2}).is_contiguous());
  EXPECT_TRUE(Tensor(storage, DType::kInt8, {2, 0, 3}, {7, 5, 3}).is_contiguous());
  EXPECT_TRUE(Tensor(storage, DType::kInt8, {}, {}).is_contiguous());
  EXPECT_FALSE(Tensor(storage, DType::kInt8, {3}, {0}).is_contiguous());
}

TEST(TensorTest, ShapeHelpers) {
  EXPECT_EQ(shape_repr({2, 3}), "torch.Size([2, 3])");
  EXPECT_EQ(shape_repr({}), "torch.Size([])");
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({2, 0, 5}), 0);
  EXPECT_EQ(shape_numel({4, 5, 6}), 120);
  EXPECT_TRUE(throws_error([] { shape_numel({2, -1}); }, kInvalid, "negative dimension"));
  EXPECT_TRUE(throws_error([] { shape_numel({1LL << 32, 1LL << 32}); }, kInvalid, "2^63"));
}

TEST(TensorTest, RequiresGradAndGrad) {
  const Tensor t = zeros({2});
  EXPECT_FALSE(t.requires_grad());
  const Tensor handle = t;  // the same tensor
  t.set_requires_grad(true);
  EXPECT_TRUE(handle.requires_grad());
  EXPECT_TRUE(handle.is_same(t));
  EXPECT_FALSE(t.grad().defined());
  t.set_grad(ones({2}));
  EXPECT_EQ(values<float>(handle.grad()), (std::vector<float>{1, 1}));
  EXPECT_TRUE(throws_error([&] { t.set_grad(ones({3})); }, kInvalid, "torch.Size([3])"));
  t.set_grad(Tensor());
  EXPECT_FALSE(t.grad().defined());
  EXPECT_TRUE(throws_error([] { zeros({1}, {.dtype = DType::kInt64}).set_requires_grad(true); },
                           kInvalid, "floating point and complex"));
  EXPECT_NO_THROW(zeros({1}, {.dtype = DType::kInt64}).set_requires_grad(false));
  EXPECT_TRUE(zeros({1}, {.requires_grad = true}).requires_grad());
}

TEST(TensorTest, ContiguousStridesThatWouldOverflowAreRefused) {
  EXPECT_EQ(contiguous_strides({0, 3, 4}), Shape({12, 4, 1}));
  // No elements, so no size limit is passed, but the strides would pass 2^63 - 1.
  const Shape sizes{0, std::int64_t{1} << 40, std::int64_t{1} << 40};
  EXPECT_TRUE(throws_error([&] { contiguous_strides(sizes); }, kInvalid, "would pass 2^63 - 1"));
  EXPECT_TRUE(throws_error([&] { zeros(sizes); }, kInvalid, "no contiguous strides"));
}

TEST(TensorTest, AutogradMetadataIsMadeOnlyWhenNeeded) {
  const Tensor t = zeros({2});
  EXPECT_EQ(TensorImpl::of(t).autograd, nullptr);
  t.set_grad(Tensor());  // clearing a gradient it does not have makes none
  t.set_requires_grad(true);
  EXPECT_EQ(TensorImpl::of(t).autograd, nullptr) << "requires_grad is a flag";
  EXPECT_EQ(t.grad_fn(), nullptr);
  EXPECT_EQ(t.output_nr(), 0u);
  t.set_grad(ones({2}));
  ASSERT_NE(TensorImpl::of(t).autograd, nullptr);
  EXPECT_TRUE(TensorImpl::of(t).autograd->grad.is_same(t.grad()));
  // A tensor's state is most of what a file of many small tensors costs beyond their bytes.
  EXPECT_LE(sizeof(TensorImpl), 136u);
}

// --- views
// ------------------------------------------------------------------------------------------

TEST(TensorViewTest, ViewContiguous) {
  const Tensor t = iota({2, 3, 4});
  expect_layout(t.view({6, 4}), {6, 4}, {4, 1}, 0);
  expect_layout(t.view({24}), {24}, {1}, 0);
  expect_layout(t.view({-1}), {24}, {1}, 0);
  expect_layout(t.view({2, -1, 3}), {2, 4, 3}, {12, 3, 1}, 0);
  expect_layout(t.view({1, 24, 1}), {1, 24, 1}, {24, 1, 1}, 0);
  expect_layout(t.select(0, 1).view({3, 2, 2}), {3, 2, 2}, {4, 2, 1}, 12);
  expect_layout(scalar_tensor<float>(2).view({1, 1}), {1, 1}, {1, 1}, 0);
  expect_layout(scalar_tensor<float>(2).view({}), {}, {}, 0);
  expect_layout(iota({1}).view({}), {}, {}, 0);
}

TEST(TensorViewTest, ViewNonContiguousButViewable) {
  // Transposed then split: the split dimension is contiguous in memory.
  const Tensor t = iota({4, 6}).t();  // sizes {6, 4}, strides {1, 6}
  expect_layout(t.view({2, 3, 4}), {2, 3, 4}, {3, 1, 6}, 0);
  expect_layout(t.view({6, 2, 2}), {6, 2, 2}, {1, 12, 6}, 0);
  // A column slice keeps rows contiguous: merging inside a row is fine.
  const Tensor cols = iota({3, 8}).narrow(1, 2, 4);  // {3, 4} strides {8, 1} offset 2
  expect_layout(cols.view({3, 2, 2}), {3, 2, 2}, {8, 2, 1}, 2);
  // A size-1 dimension may go anywhere (its stride is PyTorch's choice).
  expect_layout(t.view({6, 1, 4}), {6, 1, 4}, {1, 24, 6}, 0);
  // Expanded (stride 0) dimensions can be split.
  expect_layout(iota({1, 3}).expand({4, 3}).view({2, 2, 3}), {2, 2, 3}, {0, 0, 1}, 0);
  EXPECT_EQ(values<std::int64_t>(t.view({2, 3, 4})),
            values<std::int64_t>(t.contiguous().view({2, 3, 4})));
}

TEST(TensorViewTest, ViewRefusals) {
  const Tensor t = iota({4, 6}).t();
  EXPECT_TRUE(throws_error([&] { t.view({24}); }, kInvalid, "use reshape instead"));
  EXPECT_TRUE(throws_error([&] { t.view({4, 6}); }, kInvalid, "view size torch.Size([4, 6])"));
  EXPECT_TRUE(throws_error([&] { iota({3, 8}).narrow(1, 2, 4).view({12}); }, kInvalid, "reshape"));
  EXPECT_TRUE(throws_error(
      [&] {
        iota({2, 3}).view({4});
      },
      kInvalid, "shape 'torch.Size([4])' is invalid for input of size 6"));
  EXPECT_TRUE(throws_error([&] { iota({2, 3}).view({4, -1}); }, kInvalid, "input of size 6"));
  EXPECT_TRUE(throws_error([&] { iota({2, 3}).view({-1, -1}); }, kInvalid, "only one dimension"));
  EXPECT_TRUE(throws_error(
      [&] {
        iota({2, 3}).view({-2, -3});
      },
      kInvalid, "invalid shape dimension -2"));
  EXPECT_TRUE(throws_error([&] { iota({2, 0}).view({0, -1}); }, kInvalid, "input of size 0"));
  EXPECT_TRUE(throws_error(
      [&] {
        iota({2}).view({1LL << 40, 1LL << 40, -1});
      },
      kInvalid, "input of size 2"));
}

TEST(TensorViewTest, ViewOfEmpty) {
  const Tensor t = iota({2, 0, 3});
  expect_layout(t.view({0, 5}), {0, 5}, {5, 1}, 0);
  expect_layout(t.view({2, 0, 3}), {2, 0, 3}, {3, 3, 1}, 0);
  expect_layout(t.view({3, -1, 2}), {3, 0, 2}, {2, 2, 1}, 0);  // -1 beside non-zero sizes: 0
}

TEST(TensorViewTest, ViewSharesStorage) {
  const Tensor t = zeros({2, 3});
  const Tensor v = t.view({3, 2});
  v.mutable_at<float>({2, 1}) = 7;
  EXPECT_EQ(t.at<float>({1, 2}), 7);
  EXPECT_TRUE(v.storage().is_same(t.storage()));
}

TEST(TensorViewTest, ReshapeViewsWhenItCanAndCopiesWhenItMust) {
  const Tensor t = iota({2, 3, 4});
  const Tensor r = t.reshape({4, -1});
  expect_layout(r, {4, 6}, {6, 1}, 0);
  EXPECT_TRUE(r.storage().is_same(t.storage()));

  const Tensor tt = iota({4, 6}).t();
  const Tensor copy = tt.reshape({24});
  EXPECT_FALSE(copy.storage().is_same(tt.storage()));
  expect_layout(copy, {24}, {1}, 0);
  EXPECT_EQ(values<std::int64_t>(copy), values<std::int64_t>(tt));
  copy.mutable_data<std::int64_t>()[0] = 100;
  EXPECT_EQ(tt.at<std::int64_t>({0, 0}), 0);  // a copy: the source is untouched
  EXPECT_TRUE(tt.reshape({2, 3, 4}).storage().is_same(tt.storage()));
  EXPECT_TRUE(throws_error([&] { t.reshape({5, -1}); }, kInvalid, "input of size 24"));
}

TEST(TensorViewTest, Transpose) {
  const Tensor t = iota({2, 3, 4});
  expect_layout(t.transpose(0, 2), {4, 3, 2}, {1, 4, 12}, 0);
  expect_layout(t.transpose(-1, 1), {2, 4, 3}, {12, 1, 4}, 0);
  expect_layout(t.transpose(1, 1), {2, 3, 4}, {12, 4, 1}, 0);
  EXPECT_FALSE(t.transpose(0, 1).is_contiguous());
  EXPECT_EQ(t.transpose(0, 2).at<std::int64_t>({3, 1, 1}), 12 + 4 + 3);
  EXPECT_TRUE(throws_error([&] { t.transpose(0, 3); }, kInvalid, "dimension out of range"));
}

TEST(TensorViewTest, Permute) {
  const Tensor t = iota({2, 3, 4});
  expect_layout(t.permute({2, 0, 1}), {4, 2, 3}, {1, 12, 4}, 0);
  expect_layout(t.permute({-1, -2, -3}), {4, 3, 2}, {1, 4, 12}, 0);
  EXPECT_TRUE(throws_error([&] { t.permute({0, 1}); }, kInvalid, "2 dimensions given"));
  EXPECT_TRUE(throws_error([&] { t.permute({0, 1, 1}); }, kInvalid, "repeats"));
  EXPECT_TRUE(throws_error([&] { t.permute({0, 2, -1}); }, kInvalid, "repeats"));
  EXPECT_TRUE(throws_error([&] { t.permute({0, 1, 3}); }, kInvalid, "out of range"));
}

TEST(TensorViewTest, T) {
  expect_layout(iota({2, 3}).t(), {3, 2}, {1, 3}, 0);
  expect_layout(iota({5}).t(), {5}, {1}, 0);
  expect_layout(scalar_tensor<float>(1).t(), {}, {}, 0);
  EXPECT_TRUE(throws_error([] { iota({1, 2, 3}).t(); }, kInvalid, "<= 2 dimensions"));
}

TEST(TensorViewTest, Narrow) {
  const Tensor t = iota({4, 5});
  expect_layout(t.narrow(0, 1, 2), {2, 5}, {5, 1}, 5);
  expect_layout(t.narrow(1, 2, 3), {4, 3}, {5, 1}, 2);
  expect_layout(t.narrow(-1, -2, 2), {4, 2}, {5, 1}, 3);  // negative start counts from the end
  expect_layout(t.narrow(0, 4, 0), {0, 5}, {5, 1}, 20);
  EXPECT_TRUE(throws_error([&] { t.narrow(0, 3, 2); }, kInvalid, "exceeds dimension size (4)"));
  EXPECT_TRUE(throws_error([&] { t.narrow(0, 5, 0); }, kInvalid, "out of range"));
  EXPECT_TRUE(throws_error([&] { t.narrow(0, -5, 1); }, kInvalid, "out of range"));
  EXPECT_TRUE(throws_error([&] { t.narrow(0, 0, -1); }, kInvalid, "length (-1)"));
  EXPECT_TRUE(throws_error([] { scalar_tensor<float>(1).narrow(0, 0, 1); }, kInvalid, "0-dim"));
}

TEST(TensorViewTest, SliceWithStepAndPythonClamping) {
  const Tensor t = iota({10});
  expect_layout(t.slice(0, 2, 8, 3), {2}, {3}, 2);  // 2, 5
  EXPECT_EQ(values<std::int64_t>(t.slice(0, 2, 8, 3)), (Int64s{2, 5}));
  EXPECT_EQ(values<std::int64_t>(t.slice(0, 1, 9, 4)), (Int64s{1, 5}));
  EXPECT_EQ(values<std::int64_t>(t.slice(0, 1, 10, 4)), (Int64s{1, 5, 9}));
  EXPECT_EQ(values<std::int64_t>(t.slice(0, -3)), (Int64s{7, 8, 9}));     // t[-3:]
  EXPECT_EQ(values<std::int64_t>(t.slice(0, 0, -7)), (Int64s{0, 1, 2}));  // t[:-7]
  EXPECT_EQ(values<std::int64_t>(t.slice(0, -100, 2)), (Int64s{0, 1}));   // t[-100:2]
  EXPECT_EQ(values<std::int64_t>(t.slice(0, 8, 100)), (Int64s{8, 9}));    // t[8:100]
  expect_layout(t.slice(0, 7, 3), {0}, {1}, 7);                           // t[7:3]
  expect_layout(t.slice(0, 20, 30), {0}, {1}, 10);                        // t[20:30]
  expect_layout(t.slice(0), {10}, {1}, 0);                                // t[:]
  expect_layout(t.slice(0, 0, std::numeric_limits<std::int64_t>::max(), 20), {1}, {20}, 0);
  const Tensor m = iota({3, 4});
  expect_layout(m.slice(1, 1, 4, 2), {3, 2}, {4, 2}, 1);
  expect_layout(m.slice(-2, 1), {2, 4}, {4, 1}, 4);
  EXPECT_TRUE(throws_error([&] { t.slice(0, 0, 5, 0); }, kInvalid, "step must be positive"));
  EXPECT_TRUE(throws_error([&] { t.slice(0, 0, 5, -1); }, kInvalid, "step must be positive"));
  EXPECT_TRUE(throws_error([&] { t.slice(1); }, kInvalid, "dimension out of range"));
}

TEST(TensorViewTest, Select) {
  const Tensor t = iota({3, 4});
  expect_layout(t.select(0, 1), {4}, {1}, 4);
  expect_layout(t.select(1, 2), {3}, {4}, 2);
  expect_layout(t.select(1, -1), {3}, {4}, 3);
  expect_layout(t.select(-2, -3), {4}, {1}, 0);
  expect_layout(t.select(0, 2).select(0, 3), {}, {}, 11);
  EXPECT_EQ(t.select(0, 2).select(0, 3).item<std::int64_t>(), 11);
  EXPECT_TRUE(throws_error([&] { t.select(0, 3); }, kInvalid, "index 3 out of range"));
  EXPECT_TRUE(throws_error([&] { t.select(1, -5); }, kInvalid, "index -5 out of range"));
  EXPECT_TRUE(throws_error([] { scalar_tensor<float>(1).select(0, 0); }, kInvalid, "0-dim"));
}

TEST(TensorViewTest, Expand) {
  const Tensor col = iota({3, 1});
  expect_layout(col.expand({3, 4}), {3, 4}, {1, 0}, 0);
  expect_layout(col.expand({-1, 4}), {3, 4}, {1, 0}, 0);
  expect_layout(col.expand({2, 3, 5}), {2, 3, 5}, {0, 1, 0}, 0);  // new leading dim
  expect_layout(col.expand({3, 1}), {3, 1}, {1, 1}, 0);
  expect_layout(col.expand({3, 0}), {3, 0}, {1, 0}, 0);
  expect_layout(scalar_tensor<float>(5).expand({2, 2}), {2, 2}, {0, 0}, 0);
  EXPECT_EQ(values<std::int64_t>(col.expand({3, 2})), (Int64s{0, 0, 1, 1, 2, 2}));
  EXPECT_TRUE(throws_error(
      [&] {
        col.expand({4, 4});
      },
      kInvalid, "expanded size of the tensor (4) must match the existing size (3)"));
  EXPECT_TRUE(throws_error([&] { col.expand({4}); }, kInvalid, "greater or equal"));
  EXPECT_TRUE(throws_error([&] { col.expand({-1, 3, 4}); }, kInvalid, "leading, non-existing"));
  EXPECT_TRUE(throws_error([&] { col.expand({3, -2}); }, kInvalid, "expanded size"));
}

TEST(TensorViewTest, ExpandSharesStorage) {
  const Tensor row = zeros({1, 3});
  const Tensor wide = row.expand({4, 3});
  row.mutable_at<float>({0, 1}) = 2;
  EXPECT_EQ(values<float>(wide.select(1, 1)), (std::vector<float>{2, 2, 2, 2}));
}

TEST(TensorViewTest, Unsqueeze) {
  const Tensor t = iota({2, 3});
  expect_layout(t.unsqueeze(0), {1, 2, 3}, {6, 3, 1}, 0);
  expect_layout(t.unsqueeze(1), {2, 1, 3}, {3, 3, 1}, 0);
  expect_layout(t.unsqueeze(2), {2, 3, 1}, {3, 1, 1}, 0);
  expect_layout(t.unsqueeze(-1), {2, 3, 1}, {3, 1, 1}, 0);
  expect_layout(t.unsqueeze(-3), {1, 2, 3}, {6, 3, 1}, 0);
  expect_layout(t.t().unsqueeze(1), {3, 1, 2}, {1, 6, 3}, 0);  // as PyTorch
  expect_layout(scalar_tensor<float>(1).unsqueeze(0), {1}, {1}, 0);
  EXPECT_TRUE(throws_error([&] { t.unsqueeze(3); }, kInvalid, "[-3, 2], but got 3"));
  EXPECT_TRUE(throws_error([&] { t.unsqueeze(-4); }, kInvalid, "out of range"));
}

TEST(TensorViewTest, Squeeze) {
  const Tensor t = iota({1, 3, 1, 2}).narrow(3, 1, 1);  // {1, 3, 1, 1}, offset 1
  expect_layout(t.squeeze(), {3}, {2}, 1);
  expect_layout(t.squeeze(0), {3, 1, 1}, {2, 2, 1}, 1);
  expect_layout(t.squeeze(-2), {1, 3, 1}, {6, 2, 1}, 1);
  expect_layout(t.squeeze(1), {1, 3, 1, 1}, {6, 2, 2, 1}, 1);  // not size 1: unchanged
  expect_layout(iota({1, 1}).squeeze(), {}, {}, 0);
  expect_layout(scalar_tensor<float>(1).squeeze(0), {}, {}, 0);
  expect_layout(scalar_tensor<float>(1).squeeze(-1), {}, {}, 0);
  EXPECT_TRUE(throws_error([] { scalar_tensor<float>(1).squeeze(1); }, kInvalid, "out of range"));
  EXPECT_TRUE(throws_error([&] { t.squeeze(4); }, kInvalid, "out of range"));
}

TEST(TensorViewTest, Flatten) {
  const Tensor t = iota({2, 3, 4});
  expect_layout(t.flatten(), {24}, {1}, 0);
  expect_layout(t.flatten(1), {2, 12}, {12, 1}, 0);
  expect_layout(t.flatten(0, 1), {6, 4}, {4, 1}, 0);
  expect_layout(t.flatten(-2, -1), {2, 12}, {12, 1}, 0);
  expect_layout(t.flatten(1, 1), {2, 3, 4}, {12, 4, 1}, 0);
  expect_layout(scalar_tensor<float>(1).flatten(), {1}, {1}, 0);
  const Tensor transposed = t.transpose(0, 2);  // not viewable as one dim: a copy
  const Tensor flat = transposed.flatten();
  EXPECT_FALSE(flat.storage().is_same(t.storage()));
  EXPECT_EQ(values<std::int64_t>(flat), values<std::int64_t>(transposed));
  EXPECT_TRUE(throws_error([&] { t.flatten(2, 1); }, kInvalid, "cannot come after"));
}

TEST(TensorViewTest, AsStrided) {
  const Tensor t = iota({10});
  const Tensor windows = t.as_strided({4, 3}, {2, 1}, 1);  // overlapping windows
  expect_layout(windows, {4, 3}, {2, 1}, 1);
  EXPECT_EQ(values<std::int64_t>(windows), (Int64s{1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9}));
  // Offsets are absolute in the storage, not relative to the view.
  expect_layout(t.narrow(0, 5, 2).as_strided({2}, {1}, 0), {2}, {1}, 0);
  EXPECT_TRUE(throws_error(
      [&] {
        t.as_strided({4, 3}, {2, 1}, 2);
      },
      kInvalid, "needs 88 bytes, but its storage has 80"));
  EXPECT_TRUE(throws_error([&] { t.as_strided({2}, {-1}, 5); }, kInvalid, "negative stride"));
  EXPECT_TRUE(
      throws_error([&] { t.as_strided({2}, {1}, -1); }, kInvalid, "negative storage offset"));
}

TEST(TensorViewTest, Detach) {
  const Tensor t = zeros({2}, {.requires_grad = true});
  const Tensor d = t.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(t.requires_grad());
  EXPECT_FALSE(d.is_same(t));
  EXPECT_TRUE(d.storage().is_same(t.storage()));
  d.mutable_at<float>({1}) = 3;
  EXPECT_EQ(t.at<float>({1}), 3);
  EXPECT_FALSE(d.grad().defined());
}

TEST(TensorViewTest, ViewsKeepRequiresGrad) {
  const Tensor t = zeros({2, 2}, {.requires_grad = true});
  EXPECT_TRUE(t.view({4}).requires_grad());
  EXPECT_TRUE(t.t().requires_grad());
}

TEST(TensorViewTest, WritesThroughOneViewAreSeenThroughAnother) {
  const Tensor base = zeros({4, 4}, {.dtype = DType::kInt32});
  const Tensor row = base.select(0, 2);
  const Tensor col = base.t().select(0, 1);  // column 1
  const Tensor block = base.narrow(0, 1, 2).narrow(1, 1, 2);
  row.mutable_at<std::int32_t>({1}) = 5;  // base[2][1]
  EXPECT_EQ(col.at<std::int32_t>({2}), 5);
  EXPECT_EQ(block.at<std::int32_t>({1, 0}), 5);
  block.fill_(9);
  EXPECT_EQ(values<std::int32_t>(base),
            (std::vector<std::int32_t>{0, 0, 0, 0, 0, 9, 9, 0, 0, 9, 9, 0, 0, 0, 0, 0}));
  EXPECT_EQ(values<std::int32_t>(col), (std::vector<std::int32_t>{0, 9, 9, 0}));
}

TEST(TensorViewTest, SetReplacesTheViewKeepingIdentity) {
  const Tensor t = zeros({2, 2}, {.requires_grad = true});
  const Tensor alias = t;
  const Tensor source = iota({3}).to(DType::kFloat32);
  t.set_(source);
  EXPECT_EQ(alias.sizes(), (Shape{3}));
  EXPECT_TRUE(alias.storage().is_same(source.storage()));
  EXPECT_TRUE(alias.requires_grad());
  EXPECT_EQ(values<float>(alias), (std::vector<float>{0, 1, 2}));
  EXPECT_NO_THROW(t.set_(t));
}

// --- element access
// ------------------------------------------------------------------------------------

TEST(TensorAccessTest, AtAndMutableAt) {
  const Tensor t = iota({2, 3});
  EXPECT_EQ(t.at<std::int64_t>({1, 2}), 5);
  EXPECT_EQ(t.at<std::int64_t>({-1, -3}), 3);
  t.mutable_at<std::int64_t>({0, -1}) = 42;
  EXPECT_EQ(t.data<std::int64_t>()[2], 42);
  EXPECT_EQ(t.t().at<std::int64_t>({2, 0}), 42);
  EXPECT_EQ(scalar_tensor<double>(2.5).at<double>({}), 2.5);
  EXPECT_TRUE(throws_error(
      [&] {
        (void)t.at<std::int64_t>({2, 0});
      },
      kInvalid, "index 2 is out of bounds for dimension 0 with size 2"));
  EXPECT_TRUE(throws_error([&] { (void)t.at<std::int64_t>({0, -4}); }, kInvalid, "index -4"));
  EXPECT_TRUE(throws_error([&] { (void)t.at<std::int64_t>({0}); }, kInvalid,
                           "an index of 1 values for a tensor of 2 dimensions"));
  EXPECT_TRUE(throws_error(
      [&] {
        (void)t.at<float>({0, 0});
      },
      kInvalid, "the tensor holds int64 elements, but float32 was requested"));
  EXPECT_TRUE(throws_error([&] { (void)t.data<std::int32_t>(); }, kInvalid, "int32 was requested"));
}

TEST(TensorAccessTest, Item) {
  EXPECT_EQ(scalar_tensor<float>(2.5f).item<double>(), 2.5);
  EXPECT_EQ(scalar_tensor<double>(-2.9).item<std::int32_t>(), -2);
  EXPECT_EQ(tensor<std::int64_t>({7}).item<std::int64_t>(), 7);
  EXPECT_EQ(iota({2, 3}).select(0, 1).select(0, 2).item<float>(), 5.0f);
  EXPECT_TRUE(scalar_tensor<bool>(true).item<bool>());
  EXPECT_EQ(scalar_tensor<Half>(Half(0.5f)).item<float>(), 0.5f);
  EXPECT_EQ(scalar_tensor<std::complex<float>>({1, 2}).item<double>(), 1.0);
  EXPECT_TRUE(throws_error([] { (void)iota({2}).item<float>(); }, kInvalid,
                           "one element, got 2 elements of shape torch.Size([2])"));
  EXPECT_TRUE(throws_error([] { (void)iota({0}).item<float>(); }, kInvalid, "got 0 elements"));
}

TEST(TensorAccessTest, ReadOnlyStorageRefusesWrites) {
  static const float memory[4] = {1, 2, 3, 4};
  const Storage storage =
      Storage::from_foreign(const_cast<float*>(memory), sizeof(memory), {}, Device::cpu(), false);
  const Tensor t(storage, DType::kFloat32, {4}, {1});
  EXPECT_EQ(t.at<float>({2}), 3);
  EXPECT_EQ(t.data<float>()[3], 4);
  EXPECT_TRUE(throws_error([&] { t.mutable_data_ptr(); }, kInvalid, "read-only"));
  EXPECT_TRUE(throws_error([&] { t.mutable_at<float>({0}) = 5; }, kInvalid, "read-only"));
  EXPECT_TRUE(throws_error([&] { t.fill_(0); }, kInvalid, "read-only"));
  EXPECT_TRUE(throws_error([&] { t.copy_(zeros({4})); }, kInvalid, "read-only"));
  EXPECT_TRUE(throws_error([&] { t.view({2, 2}).zero_(); }, kInvalid, "read-only"));
  EXPECT_EQ(memory[0], 1);
  const Tensor writable = t.clone();  // the way out
  writable.fill_(0);
  EXPECT_EQ(values<float>(writable), (std::vector<float>{0, 0, 0, 0}));
}

}  // namespace
}  // namespace mnemo
