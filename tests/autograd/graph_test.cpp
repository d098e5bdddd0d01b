// The mechanics of the graph: what records, how gradients accumulate, what is freed,
// and the errors PyTorch gives for misuse.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "autograd/gradcheck.h"
#include "mnemo/nn.h"
#include "mnemo/ops.h"
#include "ops/ops_test_util.h"

namespace mnemo::testing {
namespace {

Tensor vec(std::initializer_list<double> values) { return tensor<double>(values); }

TEST(Graph, RequiresGradPropagatesAndNamesTheNodes) {
  const Tensor x = vec({1, 2, 3}).set_requires_grad(true);
  const Tensor c = vec({4, 5, 6});
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn(), nullptr);
  const Tensor y = mul(x, c);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "MulBackward0");
  ASSERT_EQ(y.grad_fn()->next_edges().size(), 2u);
  EXPECT_EQ(y.grad_fn()->next_edges()[0].function->name(), "AccumulateGrad");
  EXPECT_FALSE(y.grad_fn()->next_edges()[1].is_valid());  // c needs no gradient
  EXPECT_EQ(sum(relu(y)).grad_fn()->name(), "SumBackward0");
  EXPECT_EQ(relu(y).grad_fn()->next_edges()[0].function, y.grad_fn());
  // Nothing requires grad: nothing is recorded.
  const Tensor z = mul(c, c);
  EXPECT_FALSE(z.requires_grad());
  EXPECT_TRUE(z.is_leaf());
  // The same leaf reuses one AccumulateGrad while a graph holds it.
  EXPECT_EQ(add(x, 1.0).grad_fn()->next_edges()[0].function, y.grad_fn()->next_edges()[0].function);
}

TEST(Graph, NoGradGuardRecordsNothing) {
  const Tensor x = vec({1, 2}).set_requires_grad(true);
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(GradMode::is_enabled());
    const Tensor y = mul(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_FALSE(x.view({2, 1}).requires_grad());  // views too, as in PyTorch
    EXPECT_FALSE(x.clone().requires_grad());
    {
      AutoGradMode enable(true);
      EXPECT_TRUE(mul(x, 2.0).requires_grad());
    }
    EXPECT_FALSE(GradMode::is_enabled());
    bool other_thread_records = false;  // the mode is per thread
    std::thread([&] { other_thread_records = mul(x, 2.0).requires_grad(); }).join();
    EXPECT_TRUE(other_thread_records);
  }
  EXPECT_TRUE(GradMode::is_enabled());
  EXPECT_TRUE(x.view({2, 1}).requires_grad());
}

TEST(Graph, GradientsAccumulateAcrossBackwardCalls) {
  const Tensor x = vec({1, 2, 3}).set_requires_grad(true);
  sum(mul(x, x)).backward();  // 2x
  const Tensor first = x.grad();
  EXPECT_TRUE(first.equal(vec({2, 4, 6})));
  sum(mul(x, 3.0)).backward();  // + 3, into the same tensor
  EXPECT_TRUE(x.grad().is_same(first));
  EXPECT_TRUE(first.equal(vec({5, 7, 9})));
  // zero_grad-style reset, then a fresh tensor again.
  x.set_grad(Tensor());
  sum(x).backward();
  EXPECT_FALSE(x.grad().is_same(first));
  EXPECT_TRUE(x.grad().equal(vec({1, 1, 1})));
}

TEST(Graph, TheFirstGradientAliasesNothing) {
  const Tensor x = vec({1, 2}).set_requires_grad(true);
  const Tensor g = vec({10, 20});
  x.backward(g);  // a leaf as the root: its gradient is g itself
  EXPECT_TRUE(x.grad().equal(g));
  EXPECT_FALSE(x.grad().storage().is_same(g.storage()));
  g.fill_(0);
  EXPECT_TRUE(x.grad().equal(vec({10, 20})));
  // Through views, which pass the gradient on as a view of it.
  const Tensor w = vec({1, 2, 3, 4}).set_requires_grad(true);
  const Tensor gv = vec({1, 2, 3, 4}).view({2, 2});
  w.view({2, 2}).backward(gv);
  EXPECT_FALSE(w.grad().storage().is_same(gv.storage()));
}

TEST(Graph, ATensorUsedTwiceGetsBothGradients) {
  const Tensor x = vec({1, -2, 3}).set_requires_grad(true);
  sum(add(mul(x, x), x)).backward();  // d/dx (x^2 + x) = 2x + 1
  EXPECT_TRUE(x.grad().equal(vec({3, -3, 7})));
  const Tensor y = vec({2}).set_requires_grad(true);
  const Tensor h = mul(y, y);
  sum(mul(h, h)).backward();  // y^4: 4 y^3
  EXPECT_EQ(y.grad().item<double>(), 32.0);
}

TEST(Graph, SecondBackwardThroughFreedStateThrows) {
  const Tensor x = vec({1, 2}).set_requires_grad(true);
  const Tensor loss = sum(mul(x, x));
  loss.backward();
  EXPECT_MNEMO_ERROR(loss.backward(), ErrorCode::kInvalidArgument,
                     "Trying to backward through the graph a second time");
  // retain_graph keeps the saved tensors.
  x.set_grad(Tensor());
  const Tensor kept = sum(mul(x, x));
  kept.backward(Tensor(), /*retain_graph=*/true);
  kept.backward();
  EXPECT_TRUE(x.grad().equal(vec({4, 8})));
  // A graph that saved nothing can be walked again, as in PyTorch.
  x.set_grad(Tensor());
  const Tensor plain = sum(add(x, 1.0));
  plain.backward();
  plain.backward();
  EXPECT_TRUE(x.grad().equal(vec({2, 2})));
}

TEST(Graph, SavedTensorsAreFreedAfterBackward) {
  const Tensor x = vec({1, 2, 3}).set_requires_grad(true);
  const Tensor y = sigmoid(x);  // its node saves y's data
  EXPECT_EQ(y.storage().use_count(), 2);
  sum(y).backward();
  EXPECT_EQ(y.storage().use_count(), 1);
}

TEST(Graph, NodesDieWithTheirOutputsAndHoldNoCycles) {
  const Tensor x = vec({1, 2, 3}).set_requires_grad(true);
  std::weak_ptr<autograd::Node> node, accumulator;
  {
    const Tensor y = tanh(mul(x, 2.0));  // tanh saves its own output, detached
    node = y.grad_fn();
    accumulator = y.grad_fn()->next_edges()[0].function->next_edges()[0].function;
    EXPECT_FALSE(node.expired());
    EXPECT_FALSE(accumulator.expired());
  }
  EXPECT_TRUE(node.expired());
  EXPECT_TRUE(accumulator.expired());  // the leaf holds its accumulator weakly
  EXPECT_TRUE(x.requires_grad());
}

TEST(Graph, DeepGraphsNeitherRecurseNorOverflow) {
  const Tensor x = vec({1.0}).set_requires_grad(true);
  Tensor y = x;
  constexpr int kDepth = 100000;
  for (int i = 0; i < kDepth; ++i) y = add(y, 1e-3);
  y = mul(y, 2.0);
  y.backward();
  EXPECT_EQ(x.grad().item<double>(), 2.0);
  y = Tensor();  // frees 100001 nodes without recursion
  EXPECT_TRUE(x.is_leaf());
}

TEST(Graph, RootErrors) {
  const Tensor x = vec({1, 2}).set_requires_grad(true);
  EXPECT_MNEMO_ERROR(mul(x, 2.0).backward(), ErrorCode::kInvalidArgument,
                     "grad can be implicitly created only for scalar outputs");
  EXPECT_MNEMO_ERROR(vec({1.0}).backward(), ErrorCode::kInvalidArgument,
                     "element 0 of tensors does not require grad and does not have a grad_fn");
  EXPECT_MNEMO_ERROR(mul(x, 2.0).backward(vec({1, 2, 3})), ErrorCode::kInvalidArgument,
                     "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and "
                     "output[0] has a shape of torch.Size([2]).");
  // A non-scalar root takes a gradient of its shape (of any floating dtype).
  mul(x, 2.0).backward(tensor<float>({1.0f, -1.0f}));
  EXPECT_TRUE(x.grad().equal(vec({2, -2})));
}

TEST(Graph, SeveralRootsAtOnce) {
  const Tensor x = vec({1, 2}).set_requires_grad(true);
  const Tensor a = mul(x, 3.0), b = sum(mul(x, x));
  autograd::backward(std::vector<Tensor>{a, b}, {vec({1, 1}), Tensor()});
  EXPECT_TRUE(x.grad().equal(vec({5, 7})));  // 3 + 2x
  autograd::backward(mul(x, 2.0), vec({1, -1}));
  EXPECT_TRUE(x.grad().equal(vec({7, 5})));
}

TEST(Graph, InPlaceWritesIntoTheGraphAreRefused) {
  const Tensor w = vec({1, 2}).set_requires_grad(true);
  EXPECT_NO_THROW(w.fill_(1.0));  // not part of any graph yet
  const Tensor y = mul(w, w);     // now it is
  EXPECT_MNEMO_ERROR(w.fill_(0.0), ErrorCode::kInvalidArgument,
                     "a leaf Variable that requires grad is being used in an in-place operation.");
  EXPECT_MNEMO_ERROR(w.copy_(vec({3, 4})), ErrorCode::kInvalidArgument, "leaf Variable");
  EXPECT_MNEMO_ERROR(w.view({2}).zero_(), ErrorCode::kInvalidArgument,
                     "a view of a leaf Variable that requires grad is being used in an in-place "
                     "operation.");
  EXPECT_MNEMO_ERROR(y.fill_(0.0), ErrorCode::kInvalidArgument, "grad_fn=MulBackward0");
  EXPECT_MNEMO_ERROR(vec({0, 0}).copy_(y), ErrorCode::kInvalidArgument,
                     "copy_: the source requires grad");
  EXPECT_MNEMO_ERROR(y.set_requires_grad(false), ErrorCode::kInvalidArgument,
                     "you can only change requires_grad flags of leaf variables");
  {
    NoGradGuard no_grad;  // an optimizer's step
    w.copy_(vec({5, 6}));
    vec({0, 0}).copy_(y);
  }
  EXPECT_TRUE(w.equal(vec({5, 6})));
  EXPECT_TRUE(vec({0, 0}).copy_(y.detach()).equal(y.detach()));
}

TEST(Graph, ModulesTrainThroughTheGraph) {
  nn::Linear lin(3, 2);
  const Tensor x = ones({4, 3});
  EXPECT_NO_THROW(lin.load_state_dict(lin.state_dict()));
  const Tensor loss = sum(lin.forward(x));
  // load_state_dict writes parameters outside the graph, even while one is alive.
  EXPECT_NO_THROW(lin.load_state_dict(lin.state_dict()));
  loss.backward();
  EXPECT_TRUE(lin.weight.grad().equal(full({2, 3}, 4.0)));
  EXPECT_TRUE(lin.bias.grad().equal(full({2}, 4.0)));
  lin.zero_grad();
  EXPECT_FALSE(lin.weight.grad().defined());
  // Layers built while grad mode is on initialise their parameters outside any graph.
  nn::Embedding embed(5, 3, /*padding_idx=*/1);
  EXPECT_TRUE(embed.weight.is_leaf());
  EXPECT_TRUE(embed.weight.select(0, 1).detach().equal(zeros({3})));
}

}  // namespace
}  // namespace mnemo::testing
