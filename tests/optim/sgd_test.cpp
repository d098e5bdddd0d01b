// SGD's update: small cases computed by hand (values chosen so that every operation is
// exact), then the rounding of each operation against a reference that spells out
// PyTorch 1.13's kernels one rounding at a time (reference §8).
#include "mnemo/optim/sgd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "optim/rounding_reference.h"

namespace mnemo::optim {
namespace {

using testing_reference::fma_f;
using testing_reference::mul_f;

TEST(SGD, PlainStepIsPMinusLrTimesGrad) {
  const Tensor p = tensor<float>({1.0f, -2.0f});
  p.set_grad(tensor<float>({4.0f, 0.5f}));
  SGD opt({p}, {.lr = 0.25});
  opt.step();
  EXPECT_TRUE(p.equal(tensor<float>({0.0f, -2.125f})));
}

TEST(SGD, WeightDecayAddsDecayTimesPToTheGradient) {
  const Tensor p = tensor<float>({2.0f});
  p.set_grad(tensor<float>({1.0f}));
  SGD opt({p}, {.lr = 0.5, .weight_decay = 0.5});
  opt.step();  // g = 1 + 0.5 * 2 = 2; p = 2 - 0.5 * 2
  EXPECT_EQ(p.item<float>(), 1.0f);
}

TEST(SGD, MaximizeAscends) {
  const Tensor p = tensor<float>({2.0f});
  p.set_grad(tensor<float>({1.0f}));
  SGD opt({p}, {.lr = 0.5, .maximize = true});
  opt.step();
  EXPECT_EQ(p.item<float>(), 2.5f);
}

TEST(SGD, MomentumStartsFromTheGradientWithoutDampening) {
  const Tensor p = tensor<float>({0.0f});
  SGD opt({p}, {.lr = 1, .momentum = 0.5, .dampening = 0.5});
  p.set_grad(tensor<float>({4.0f}));
  opt.step();  // buf = 4 (no dampening on the first step); p = -4
  EXPECT_EQ(p.item<float>(), -4.0f);
  p.set_grad(tensor<float>({2.0f}));
  opt.step();  // buf = 0.5 * 4 + (1 - 0.5) * 2 = 3; p = -7
  EXPECT_EQ(p.item<float>(), -7.0f);
  EXPECT_EQ(opt.state().at(0).as_dict().at("momentum_buffer").as_tensor().item<float>(), 3.0f);
}

TEST(SGD, NesterovLooksAhead) {
  const Tensor p = tensor<float>({0.0f});
  SGD opt({p}, {.lr = 1, .momentum = 0.5, .nesterov = true});
  p.set_grad(tensor<float>({4.0f}));
  opt.step();  // buf = 4; g = 4 + 0.5 * 4 = 6
  EXPECT_EQ(p.item<float>(), -6.0f);
  p.set_grad(tensor<float>({2.0f}));
  opt.step();  // buf = 0.5 * 4 + 2 = 4; g = 2 + 0.5 * 4 = 4
  EXPECT_EQ(p.item<float>(), -10.0f);
}

TEST(SGD, PerGroupLearningRates) {
  const Tensor a = tensor<float>({1.0f});
  const Tensor b = tensor<float>({1.0f});
  a.set_grad(tensor<float>({1.0f}));
  b.set_grad(tensor<float>({1.0f}));
  SGD opt({ParamGroup{{a}, {.lr = 0.5}}, ParamGroup{{b}}}, {.lr = 0.25});
  opt.step();
  EXPECT_EQ(a.item<float>(), 0.5f);
  EXPECT_EQ(b.item<float>(), 0.75f);
}

// Every operation rounded as PyTorch's kernels round it, on values where fusing or not
// fusing changes results.
template <class T>
void expect_matches_reference(bool nesterov, double dampening, double weight_decay, bool maximize) {
  const std::int64_t n = 4096 + 37;  // blocks of 512, and vector tails
  testing_reference::Values<T> values(n, 17);
  const Tensor p = values.tensor(values.param);
  SGD opt({p}, {.lr = 0.1,
                .momentum = 0.9,
                .dampening = dampening,
                .weight_decay = weight_decay,
                .nesterov = nesterov,
                .maximize = maximize});
  std::vector<T> ref = values.param;
  std::vector<T> buf(n);
  for (int step = 0; step < 3; ++step) {
    const std::vector<T> grad = values.grad(step);
    p.set_grad(values.tensor(grad));
    opt.step();
    for (std::int64_t i = 0; i < n; ++i) {
      T g = maximize ? -grad[i] : grad[i];
      if (weight_decay != 0) g = fma_f<T>(static_cast<T>(weight_decay), ref[i], g);
      buf[i] = step == 0 ? g
                         : fma_f<T>(static_cast<T>(1 - dampening), g,
                                    mul_f<T>(buf[i], static_cast<T>(0.9)));
      g = nesterov ? fma_f<T>(static_cast<T>(0.9), buf[i], g) : buf[i];
      ref[i] = fma_f<T>(static_cast<T>(-0.1), g, ref[i]);
    }
    ASSERT_TRUE(testing_reference::bits_equal(p, ref)) << "step " << step;
  }
}

// Both builds of the loops: AVX2+FMA (where the CPU has it) and portable.
class SGDLoops : public ::testing::TestWithParam<bool> {};

TEST_P(SGDLoops, RoundEachOperationAsPyTorchFloat32) {
  testing_reference::PortableLoops portable(GetParam());
  expect_matches_reference<float>(false, 0.0, 0.0, false);
  expect_matches_reference<float>(false, 0.5, 0.01, true);
  expect_matches_reference<float>(true, 0.0, 0.01, false);
}

TEST_P(SGDLoops, RoundEachOperationAsPyTorchFloat64) {
  testing_reference::PortableLoops portable(GetParam());
  expect_matches_reference<double>(false, 0.5, 0.01, false);
  expect_matches_reference<double>(true, 0.0, 0.0, true);
}

INSTANTIATE_TEST_SUITE_P(Builds, SGDLoops, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Portable" : "Dispatched"; });

// The reference above is sensitive: rounding the last product on its own instead of
// fusing it changes many elements.
TEST(SGD, UnfusedUpdateWouldDiffer) {
  testing_reference::Values<float> values(4096, 17);
  const std::vector<float> grad = values.grad(0);
  int differ = 0;
  for (std::size_t i = 0; i < grad.size(); ++i) {
    const float fused = fma_f<float>(-0.1f, grad[i], values.param[i]);
    const float unfused =
        testing_reference::add_f<float>(values.param[i], mul_f<float>(-0.1f, grad[i]));
    differ += fused != unfused;
  }
  EXPECT_GT(differ, 100);
}

}  // namespace
}  // namespace mnemo::optim
