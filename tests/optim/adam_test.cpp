// Adam's and AdamW's updates: a first step computed by hand, then every option against a
// reference that spells out PyTorch 1.13's kernels one rounding at a time (reference §8).
#include "mnemo/optim/adam.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "optim/rounding_reference.h"

namespace mnemo::optim {
namespace {

using namespace testing_reference;  // NOLINT: the one-rounding helpers

// Both builds of the loops: AVX2+FMA (where the CPU has it) and portable.
class AdamLoops : public ::testing::TestWithParam<bool> {};

// On the first step m = (1-b1) g and v = (1-b2) g², whose bias corrections cancel: the
// update is lr * g / (|g| + eps'), i.e. about lr * sign(g).
TEST(Adam, FirstStepMovesByAboutLrAgainstTheGradient) {
  const Tensor p = tensor<float>({1.0f, 1.0f});
  p.set_grad(tensor<float>({4.0f, -0.5f}));
  Adam opt({p}, {.lr = 0.125});
  opt.step();
  EXPECT_NEAR(p.data<float>()[0], 0.875f, 1e-6);
  EXPECT_NEAR(p.data<float>()[1], 1.125f, 1e-6);
  EXPECT_EQ(opt.state().at(0).as_dict().at("step").as_tensor().item<float>(), 1.0f);
}

TEST(Adam, ZeroGradientLeavesTheParameterAlone) {
  const Tensor p = tensor<float>({3.0f});
  p.set_grad(tensor<float>({0.0f}));
  Adam opt({p});
  opt.step();
  EXPECT_EQ(p.item<float>(), 3.0f);
}

TEST(AdamW, DecaysWeightsEvenWithAZeroGradient) {
  const Tensor p = tensor<float>({2.0f});
  p.set_grad(tensor<float>({0.0f}));
  AdamW opt({p}, {.lr = 0.5, .weight_decay = 0.5});
  opt.step();  // p * (1 - 0.5 * 0.5)
  EXPECT_EQ(p.item<float>(), 1.5f);
}

TEST(Adam, AmsgradUsesTheLargestSecondMoment) {
  const Tensor p = tensor<float>({0.0f});
  Adam opt({p}, {.amsgrad = true});
  p.set_grad(tensor<float>({10.0f}));
  opt.step();
  p.set_grad(tensor<float>({0.0f}));
  opt.step();
  const Dict& state = opt.state().at(0).as_dict();
  const float v = state.at("exp_avg_sq").as_tensor().item<float>();
  const float v_max = state.at("max_exp_avg_sq").as_tensor().item<float>();
  EXPECT_LT(v, v_max);
  EXPECT_EQ(v_max, mul_f<float>(static_cast<float>(1 - 0.999), 10.0f) * 10.0f);
}

// Python computes 1 - lr * weight_decay as two roundings. A compiler allowed to contract
// (GCC's default for C++ on FMA hardware, e.g. -march=native) would make it one fma;
// for these values that changes the float64 result, which a zero gradient leaves as the
// whole update.
TEST_P(AdamLoops, AdamWDecayFactorRoundsTheProductBeforeSubtracting) {
  PortableLoops portable(GetParam());
  const double lr = 0.95, weight_decay = 0.3;
  const double separate = add_f<double>(1.0, -mul_f<double>(lr, weight_decay));
  ASSERT_NE(separate, fma_f<double>(-lr, weight_decay, 1.0));  // the case is sensitive
  const Tensor p = ones({1}, {.dtype = DType::kFloat64});
  p.set_grad(zeros({1}, {.dtype = DType::kFloat64}));
  AdamW opt({p}, {.lr = lr, .weight_decay = weight_decay});
  opt.step();
  EXPECT_EQ(p.item<double>(), separate);
}

struct Config {
  bool decoupled;
  double weight_decay;
  bool amsgrad;
  bool maximize;
};

template <class T>
void expect_matches_reference(const Config& c) {
  const std::int64_t n = 4096 + 37;  // blocks of 512, and vector tails
  const double lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  Values<T> values(n, 23);
  const Tensor p = values.tensor(values.param);
  std::unique_ptr<Optimizer> opt;
  if (c.decoupled) {
    opt =
        std::make_unique<AdamW>(std::vector<Tensor>{p}, AdamWOptions{.lr = lr,
                                                                     .weight_decay = c.weight_decay,
                                                                     .amsgrad = c.amsgrad,
                                                                     .maximize = c.maximize});
  } else {
    opt = std::make_unique<Adam>(std::vector<Tensor>{p}, AdamOptions{.lr = lr,
                                                                     .weight_decay = c.weight_decay,
                                                                     .amsgrad = c.amsgrad,
                                                                     .maximize = c.maximize});
  }
  std::vector<T> ref = values.param, m(n), v(n), v_max(n);
  for (int step = 1; step <= 4; ++step) {
    const std::vector<T> grad = values.grad(step);
    p.set_grad(values.tensor(grad));
    opt->step();
    const double bias_correction1 = 1 - std::pow(beta1, step);
    const double bias_correction2 = 1 - std::pow(beta2, step);
    const double step_size = lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    for (std::int64_t i = 0; i < n; ++i) {
      T g = c.maximize ? -grad[i] : grad[i];
      if (!c.decoupled && c.weight_decay != 0)
        g = fma_f<T>(static_cast<T>(c.weight_decay), ref[i], g);
      if (c.decoupled) ref[i] = mul_f<T>(ref[i], static_cast<T>(1 - lr * c.weight_decay));
      m[i] = fma_f<T>(static_cast<T>(1 - beta1), g, mul_f<T>(m[i], static_cast<T>(beta1)));
      v[i] = fma_f<T>(mul_f<T>(static_cast<T>(1 - beta2), g), g,
                      mul_f<T>(v[i], static_cast<T>(beta2)));
      T second = v[i];
      if (c.amsgrad) second = v_max[i] = std::max(v_max[i], v[i]);
      const T denom = add_f<T>(div_f<T>(sqrt_f<T>(second), static_cast<T>(bias_correction2_sqrt)),
                               static_cast<T>(eps));
      ref[i] = add_f<T>(ref[i], div_f<T>(mul_f<T>(static_cast<T>(-step_size), m[i]), denom));
    }
    ASSERT_TRUE(bits_equal(p, ref)) << "step " << step;
  }
}

TEST_P(AdamLoops, AdamRoundsEachOperationAsPyTorchFloat32) {
  PortableLoops portable(GetParam());
  expect_matches_reference<float>({false, 0.0, false, false});
  expect_matches_reference<float>({false, 0.01, true, false});
  expect_matches_reference<float>({false, 0.0, false, true});
}

TEST_P(AdamLoops, AdamWRoundsEachOperationAsPyTorchFloat32) {
  PortableLoops portable(GetParam());
  expect_matches_reference<float>({true, 0.01, false, false});
  expect_matches_reference<float>({true, 0.0, true, true});
}

TEST_P(AdamLoops, RoundEachOperationAsPyTorchFloat64) {
  PortableLoops portable(GetParam());
  expect_matches_reference<double>({false, 0.01, true, true});
  expect_matches_reference<double>({true, 0.01, false, false});
}

INSTANTIATE_TEST_SUITE_P(Builds, AdamLoops, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Portable" : "Dispatched"; });

// The reference is sensitive to fusion: AdamW's decay product followed by the addcdiv
// sum, fused into one fma (as a contracting compiler would), changes many elements.
TEST(AdamW, FusingTheDecayIntoTheUpdateWouldDiffer) {
  Values<float> values(4096, 23);
  const std::vector<float> step = values.grad(1);
  const float decay = static_cast<float>(1 - 0.01 * 0.01);
  int differ = 0;
  for (std::size_t i = 0; i < step.size(); ++i) {
    const float separate = add_f<float>(mul_f<float>(values.param[i], decay), step[i] * 1e-3f);
    const float fused = fma_f<float>(values.param[i], decay, step[i] * 1e-3f);
    differ += separate != fused;
  }
  EXPECT_GT(differ, 10);
}

}  // namespace
}  // namespace mnemo::optim
