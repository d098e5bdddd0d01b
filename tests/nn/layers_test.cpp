// The layers' parameters, buffers, initialisation and forward shapes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "mnemo/nn.h"
#include "mnemo/ops.h"

namespace mnemo::nn {
namespace {

using ::testing::ElementsAre;

// Smallest and largest element, as doubles.
std::pair<double, double> value_range(const Tensor& t) {
  Tensor d = t.to(DType::kFloat64).contiguous();
  const double* v = d.data<double>();
  return {*std::min_element(v, v + d.numel()), *std::max_element(v, v + d.numel())};
}

TEST(Linear, ParametersAndInitialisationFollowPyTorch) {
  manual_seed(1);
  Linear lin(16, 4);
  EXPECT_THAT(lin.state_dict().keys(), ElementsAre("weight", "bias"));
  EXPECT_EQ(lin.weight.sizes(), (Shape{4, 16}));
  EXPECT_EQ(lin.bias.sizes(), (Shape{4}));
  for (const Tensor& t : {lin.weight, lin.bias}) {
    auto [low, high] = value_range(t);
    EXPECT_GE(low, -0.25);  // 1/sqrt(16)
    EXPECT_LT(high, 0.25);
    EXPECT_LT(low, -0.05);  // spread over the range, not a constant
    EXPECT_GT(high, 0.05);
  }
  EXPECT_FALSE(Linear(3, 2, /*bias=*/false).bias.defined());
  EXPECT_THAT(Linear(3, 2, false).state_dict().keys(), ElementsAre("weight"));
}

TEST(Linear, InitialisationIsReproducibleFromTheSeed) {
  manual_seed(42);
  Linear a(5, 5);
  manual_seed(42);
  Linear b(5, 5);
  EXPECT_TRUE(a.weight.equal(b.weight));
  EXPECT_TRUE(a.bias.equal(b.bias));
}

TEST(Linear, ForwardComputesXWTransposedPlusB) {
  Linear lin(2, 1);
  lin.weight.copy_(tensor({2.0f, -1.0f}).view({1, 2}));
  lin.bias.fill_(0.5);
  Tensor y = lin(tensor({3.0f, 4.0f, 1.0f, 1.0f}).view({2, 2}));
  EXPECT_EQ(y.sizes(), (Shape{2, 1}));
  EXPECT_FLOAT_EQ(y.at<float>({0, 0}), 2.5f);
  EXPECT_FLOAT_EQ(y.at<float>({1, 0}), 1.5f);
}

TEST(Conv2d, ShapesOptionsAndFanIn) {
  Conv2d conv(4, 8, 3, {.stride = {2, 2}, .padding = {1, 1}, .groups = 2});
  EXPECT_EQ(conv.weight.sizes(), (Shape{8, 2, 3, 3}));
  auto [low, high] = value_range(conv.weight);
  const double bound = 1.0 / std::sqrt(2.0 * 9.0);
  EXPECT_GE(low, -bound);
  EXPECT_LT(high, bound);
  EXPECT_EQ(conv.forward(zeros({1, 4, 9, 9})).sizes(), (Shape{1, 8, 5, 5}));
  EXPECT_EQ(conv.repr(), "Conv2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2)");
  EXPECT_THROW(Conv2d(3, 8, 3, {.groups = 2}), Error);
}

TEST(BatchNorm, StateMatchesPyTorchsLayout) {
  BatchNorm2d bn(3);
  EXPECT_THAT(bn.state_dict().keys(), ElementsAre("weight", "bias", "running_mean", "running_var",
                                                  "num_batches_tracked"));
  EXPECT_TRUE(bn.weight.equal(ones({3})));
  EXPECT_TRUE(bn.bias.equal(zeros({3})));
  EXPECT_TRUE(bn.running_var.equal(ones({3})));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::kInt64);
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.version(), 2);

  BatchNorm1d plain(3, {.affine = false, .track_running_stats = false});
  EXPECT_TRUE(plain.state_dict().empty());
  EXPECT_EQ(plain.parameters().size(), 0u);
}

TEST(BatchNorm, TrainingUpdatesRunningStatsAndEvalUsesThem) {
  BatchNorm1d bn(1);
  Tensor x = tensor({1.0f, 2.0f, 3.0f, 6.0f}).view({4, 1});
  Tensor y = bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 1);
  // mean 3, unbiased variance 14/3: running = 0.9 * initial + 0.1 * batch.
  EXPECT_NEAR(bn.running_mean.item<float>(), 0.3, 1e-6);
  EXPECT_NEAR(bn.running_var.item<float>(), 0.9 + 0.1 * 14.0 / 3.0, 1e-6);
  EXPECT_NEAR(y.at<float>({3, 0}), 3.0 / std::sqrt(3.5 + 1e-5), 1e-5);

  bn.eval();
  Tensor z = bn(x);
  EXPECT_EQ(bn.num_batches_tracked.item<std::int64_t>(), 1);
  const double expected = (6.0 - 0.3) / std::sqrt(bn.running_var.item<float>() + 1e-5);
  EXPECT_NEAR(z.at<float>({3, 0}), expected, 1e-5);
}

TEST(BatchNorm, CumulativeAverageWithoutMomentum) {
  BatchNorm1d bn(1, {.momentum = std::nullopt});
  bn(tensor({2.0f, 2.0f}).view({2, 1}));
  bn(tensor({4.0f, 4.0f}).view({2, 1}));
  EXPECT_NEAR(bn.running_mean.item<float>(), 3.0, 1e-6);
}

TEST(BatchNorm, RefusesTheWrongRank) {
  BatchNorm2d bn(2);
  EXPECT_THAT([&] { bn(zeros({2, 2})); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("expected 4D input (got 2D input)")));
}

TEST(LayerNorm, ParametersAndForward) {
  LayerNorm norm({4});
  EXPECT_THAT(norm.state_dict().keys(), ElementsAre("weight", "bias"));
  Tensor y = norm(tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 4}));
  EXPECT_NEAR(y.at<float>({0, 0}), -1.5 / std::sqrt(1.25 + 1e-5), 1e-5);
  EXPECT_EQ(norm.repr(), "LayerNorm((4,), eps=1e-05, elementwise_affine=True)");
}

TEST(Embedding, PaddingRowIsZeroAndLookupPicksRows) {
  Embedding emb(10, 3, /*padding_idx=*/-1);
  EXPECT_EQ(emb.padding_idx, 9);
  EXPECT_TRUE(emb.weight.select(0, 9).equal(zeros({3})));
  EXPECT_FALSE(emb.weight.select(0, 0).equal(zeros({3})));
  Tensor out = emb(tensor<std::int64_t>({2, 9}));
  EXPECT_EQ(out.sizes(), (Shape{2, 3}));
  EXPECT_TRUE(out.select(0, 0).equal(emb.weight.select(0, 2)));
  EXPECT_THROW(Embedding(10, 3, 10), Error);
}

TEST(Dropout, IdentityInEvalZeroesInTraining) {
  Dropout drop(0.5);
  Tensor x = ones({1000});
  drop.eval();
  EXPECT_TRUE(drop(x).equal(x));
  drop.train();
  Tensor y = drop(x);
  std::int64_t zeros_seen = 0;
  for (std::int64_t i = 0; i < 1000; ++i) {
    const float v = y.at<float>({i});
    EXPECT_TRUE(v == 0.0f || v == 2.0f);
    zeros_seen += v == 0.0f;
  }
  EXPECT_GT(zeros_seen, 400);
  EXPECT_LT(zeros_seen, 600);
  EXPECT_THROW(Dropout(1.5), Error);
}

TEST(Containers, SequentialNamesAndChainsItsModules) {
  Sequential seq({std::make_shared<Flatten>(), std::make_shared<Linear>(6, 2),
                  std::make_shared<ReLU>()});
  EXPECT_THAT(seq.state_dict().keys(), ElementsAre("1.weight", "1.bias"));
  Tensor y = seq(ones({5, 2, 3}));
  EXPECT_EQ(y.sizes(), (Shape{5, 2}));
  auto [low, high] = value_range(y);
  EXPECT_GE(low, 0.0);
  (void)high;
}

TEST(Containers, ModuleListAndModuleDictKeys) {
  ModuleList list({std::make_shared<Linear>(1, 1), std::make_shared<Linear>(1, 1)});
  EXPECT_THAT(list.state_dict().keys(), ElementsAre("0.weight", "0.bias", "1.weight", "1.bias"));
  ModuleDict dict({{"b", std::make_shared<Linear>(1, 1, false)},
                   {"a", std::make_shared<Linear>(1, 1, false)}});
  dict.insert("b", std::make_shared<Linear>(2, 2, false));  // replaced in place
  EXPECT_THAT(dict.keys(), ElementsAre("b", "a"));
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_THAT(dict.state_dict().keys(), ElementsAre("b.weight", "a.weight"));
  EXPECT_EQ(dict.state_dict().at("b.weight").sizes(), (Shape{2, 2}));
}

TEST(Pooling, LayersUseTheirOptions) {
  EXPECT_EQ(MaxPool2d(2)(zeros({1, 1, 7, 7})).sizes(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(MaxPool2d(2, 2, 0, 1, /*ceil_mode=*/true)(zeros({1, 1, 7, 7})).sizes(),
            (Shape{1, 1, 4, 4}));
  EXPECT_EQ(AvgPool2d(3, 1, 1)(zeros({2, 5, 5})).sizes(), (Shape{2, 5, 5}));
  EXPECT_EQ(AdaptiveAvgPool2d(1)(zeros({2, 3, 5, 5})).sizes(), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(MaxPool2d(2).repr(),
            "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
}

TEST(Activations, ForwardAndRepr) {
  Tensor x = tensor({-1.0f, 0.0f, 2.0f});
  EXPECT_TRUE(ReLU()(x).equal(tensor({0.0f, 0.0f, 2.0f})));
  EXPECT_NEAR(Sigmoid()(x).at<float>({2}), 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(Tanh()(x).at<float>({0}), std::tanh(-1.0), 1e-6);
  EXPECT_NEAR(GELU()(x).at<float>({2}), 2.0 * 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0))), 1e-6);
  EXPECT_EQ(GELU().repr(), "GELU(approximate='none')");
}

}  // namespace
}  // namespace mnemo::nn
