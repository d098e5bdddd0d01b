// Finite-difference checks of the views and copies core makes, recorded through its
// autograd hooks: a gradient flows back to the base elements each view reads.
#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/reduction.h"

namespace mnemo::testing {
namespace {

// Multiplying by a fixed pattern after the view makes every output element matter
// differently, so a gradient routed to the wrong base element shows.
Tensor weigh(const Tensor& t) {
  return mul(
      t,
      add(arange(0.0, static_cast<double>(t.numel()), 1.0, {.dtype = t.dtype()}).reshape(t.sizes()),
          1.0));
}

TEST(ViewGrad, EveryViewKind) {
  const std::vector<Tensor> in = {leaf({3, 4, 2}, 1)};
  const std::pair<const char*, std::function<Tensor(const Tensor&)>> views[] = {
      {"view",
       [](const Tensor& t) {
         return t.view({4, 6});
       }},
      {"reshape", [](const Tensor& t) { return t.reshape({-1}); }},
      {"flatten", [](const Tensor& t) { return t.flatten(1); }},
      {"transpose", [](const Tensor& t) { return t.transpose(0, 2); }},
      {"permute",
       [](const Tensor& t) {
         return t.permute({1, 2, 0});
       }},
      {"t", [](const Tensor& t) { return t.select(2, 1).t(); }},
      {"narrow", [](const Tensor& t) { return t.narrow(1, 1, 2); }},
      {"slice", [](const Tensor& t) { return t.slice(1, 0, 4, 3); }},
      {"select", [](const Tensor& t) { return t.select(0, -1); }},
      {"expand",
       [](const Tensor& t) {
         return t.narrow(0, 1, 1).expand({5, 4, 2});
       }},
      {"unsqueeze", [](const Tensor& t) { return t.unsqueeze(1); }},
      {"squeeze", [](const Tensor& t) { return t.narrow(1, 0, 1).squeeze(); }},
      {"squeeze dim", [](const Tensor& t) { return t.narrow(1, 0, 1).squeeze(1); }},
      {"as_strided",
       [](const Tensor& t) {
         return t.as_strided({2, 3}, {1, 4}, 3);
       }},
      {"contiguous", [](const Tensor& t) { return t.transpose(0, 1).contiguous(); }},
      {"clone", [](const Tensor& t) { return t.clone(); }},
      {"reshape of a transpose (a copy)",
       [](const Tensor& t) { return t.transpose(0, 1).reshape({-1}); }},
  };
  for (const auto& [name, view] : views) {
    SCOPED_TRACE(name);
    const auto& fn = view;
    EXPECT_TRUE(gradcheck([&](const auto& x) { return weigh(fn(x[0])); }, in,
                          {.step = 1e-6, .atol = 1e-6, .rtol = 1e-5}));
  }
}

TEST(ViewGrad, ViewsOfAnExpandedTensorSumBackOntoTheOriginal) {
  // The base of the second view repeats memory (stride 0): each location's gradient
  // must still reach the original exactly once per use.
  const std::vector<Tensor> in = {leaf({3}, 2)};
  EXPECT_TRUE(gradcheck([](const auto& x) { return weigh(x[0].expand({4, 3}).t()); }, in));
  EXPECT_TRUE(gradcheck([](const auto& x) { return weigh(x[0].expand({4, 3}).select(0, 2)); }, in));
  EXPECT_TRUE(gradcheck(
      [](const auto& x) {
        return weigh(x[0].unsqueeze(1).expand({3, 5}).reshape({15}));
      },
      in));
}

TEST(ViewGrad, ViewNodesHavePyTorchNames) {
  const Tensor x = leaf({2, 3}, 3);
  EXPECT_EQ(x.view({6}).grad_fn()->name(), "ViewBackward0");
  EXPECT_EQ(x.t().grad_fn()->name(), "TBackward0");
  EXPECT_EQ(x.transpose(0, 1).grad_fn()->name(), "TransposeBackward0");
  EXPECT_EQ(x.select(0, 1).grad_fn()->name(), "SelectBackward0");
  EXPECT_EQ(x.expand({4, 2, 3}).grad_fn()->name(), "ExpandBackward0");
  EXPECT_EQ(x.clone().grad_fn()->name(), "CloneBackward0");
  EXPECT_EQ(x.to(DType::kFloat32).grad_fn()->name(), "ToCopyBackward0");
  EXPECT_TRUE(x.contiguous().is_same(x));             // already contiguous: the tensor itself
  EXPECT_FALSE(x.to(DType::kInt64).requires_grad());  // not differentiable
}

TEST(ViewGrad, ToPassesTheGradientBackInTheSourceDtype) {
  const Tensor x = leaf({3}, 5);
  const Tensor y = mul(x.to(DType::kFloat32), tensor<float>({1.0f, 2.0f, 3.0f}));
  EXPECT_EQ(y.dtype(), DType::kFloat32);
  sum(y).backward();
  EXPECT_EQ(x.grad().dtype(), DType::kFloat64);
  EXPECT_EQ(x.grad().at<double>({2}), 3.0);
}

TEST(ViewGrad, DetachCutsTheGraph) {
  const Tensor x = leaf({3}, 4);
  const Tensor d = x.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(d.view({3}).requires_grad());
  sum(add(mul(d, 2.0), x)).backward();
  EXPECT_TRUE(x.grad().equal(ones({3}, {.dtype = DType::kFloat64})));
}

}  // namespace
}  // namespace mnemo::testing
