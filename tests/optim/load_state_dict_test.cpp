// Optimizer::load_state_dict: PyTorch's validation messages, all-or-nothing, dtype casts
// (step excepted), old and 2.x layouts, and hyperparameters taken from the loaded groups.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mnemo/optim.h"
#include "support/errors.h"

namespace mnemo::optim {
namespace {

using mnemo::testing::error_of;

using ::testing::HasSubstr;

// An Adam with two groups ([a, b] and [c]) that has taken one step on a and c.
struct Trained {
  Tensor a = full({2}, 1.0f), b = full({3}, 2.0f), c = full({1}, 3.0f);
  Adam opt{{{{a, b}, {.lr = 0.01}}, {{c}}}};
  Trained() {
    a.set_grad(full({2}, 0.5f));
    c.set_grad(full({1}, -0.5f));
    opt.step();
  }
};

TEST(LoadStateDict, RoundTripsIntoAFreshOptimizer) {
  Trained trained;
  Trained other;  // different state: one more step
  other.opt.step();
  other.opt.load_state_dict(trained.opt.state_dict());
  EXPECT_EQ(other.opt.state_dict(), trained.opt.state_dict());
  // The loaded state is a copy: stepping one does not move the other.
  other.opt.step();
  EXPECT_EQ(trained.opt.state().at(0).as_dict().at("step").as_tensor().item<float>(), 1.0f);
}

TEST(LoadStateDict, ChecksGroupCountsAndSizesWithPyTorchsMessages) {
  Trained trained;
  Value sd = trained.opt.state_dict();
  Value one_group = sd;
  one_group.as_dict().at("param_groups").as_list().pop_back();
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(one_group); }),
              HasSubstr("loaded state dict has a different number of parameter groups"));
  Value bigger = sd;
  bigger.as_dict().at("param_groups").as_list()[1].as_dict().at("params").as_list().push_back(7);
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(bigger); }),
              HasSubstr("loaded state dict contains a parameter group that doesn't match the "
                        "size of optimizer's group"));
  try {
    trained.opt.load_state_dict(one_group);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kMismatch);
  }
}

TEST(LoadStateDict, AFailedLoadChangesNothing) {
  Trained trained;
  const Value before = trained.opt.state_dict();
  const Tensor exp_avg_before = before["state"][0]["exp_avg"].as_tensor().clone();

  Value bad = before;
  // Group 0 is fine (a new lr), the state is fine, but group 1's eps is a string.
  bad.as_dict().at("param_groups").as_list()[0].as_dict().insert_or_assign("lr", 0.5);
  bad.as_dict().at("param_groups").as_list()[1].as_dict().insert_or_assign("eps", "tiny");
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(bad); }),
              HasSubstr("['eps'] must be an int or a float, got str"));
  EXPECT_EQ(trained.opt.param_groups()[0].lr(), 0.01);

  Value bad_state = before;
  bad_state.as_dict().at("state").as_dict().at(0).as_dict().insert_or_assign("exp_avg", zeros({5}));
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(bad_state); }),
              HasSubstr("state[0]['exp_avg'] is a float32 tensor of shape torch.Size([5]) but its "
                        "parameter is a float32 tensor of shape torch.Size([2])"));

  Value orphan = before;
  orphan.as_dict().at("state").as_dict().insert_or_assign(9, Dict{});
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(orphan); }),
              HasSubstr("no parameter group lists the parameter id 9"));

  EXPECT_EQ(trained.opt.state_dict(), before);
  EXPECT_TRUE(trained.opt.state().at(0).as_dict().at("exp_avg").as_tensor().equal(exp_avg_before));
}

// State tensors of a few MiB are copied apart from the small ones, in pieces, after
// every parameter's state has been read: each must still come out whole, in clone()'s
// layout, and owning its memory, wherever its source lay in its storage.
TEST(LoadStateDict, LargeStateTensorsAreCopiedWholeIntoTheirOwnMemory) {
  const Shape sizes{1024, 1025};  // 4.2 MB: two whole pieces of 2 MiB and a partial one
  const std::int64_t numel = 1024 * 1025;
  Tensor param = zeros(sizes);
  Adam opt({param});
  param.set_grad(full(sizes, 0.5f));
  opt.step();
  Value saved = opt.state_dict();
  Dict& state = saved.as_dict().at("state").as_dict().at(0).as_dict();
  // exp_avg: a contiguous view 17 elements into a larger storage; exp_avg_sq: a
  // transposed, so not contiguous, view.
  const Tensor backing = arange(0.0, static_cast<double>(numel + 40), 1.0);
  const Tensor offset_view(backing.storage(), DType::kFloat32, sizes, {1025, 1}, 17);
  const Tensor transposed = arange(0.0, static_cast<double>(numel), 1.0).view({1025, 1024}).t();
  state.insert_or_assign("exp_avg", offset_view);
  state.insert_or_assign("exp_avg_sq", transposed);

  Adam loaded({zeros(sizes)});
  loaded.load_state_dict(saved);
  const Dict& got = loaded.state().at(0).as_dict();
  for (const auto& [name, source] :
       {std::pair{"exp_avg", offset_view}, {"exp_avg_sq", transposed}}) {
    SCOPED_TRACE(name);
    const Tensor copy = got.at(name).as_tensor();
    EXPECT_TRUE(copy.equal(source));
    EXPECT_EQ(copy.strides(), (Shape{1025, 1}));
    EXPECT_EQ(copy.storage_offset(), 0);
    EXPECT_EQ(copy.storage().nbytes(), source.nbytes());
    EXPECT_NE(copy.storage().data(), source.storage().data());
  }
  // The copies are the optimizer's own: the caller's tensors may change after the load.
  const Tensor expected = offset_view.clone();
  backing.fill_(-1.0);
  EXPECT_TRUE(got.at("exp_avg").as_tensor().equal(expected));
}

TEST(LoadStateDict, RefusesWhatIsNotAnOptimizerStateDict) {
  Trained trained;
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(Value(3)); }),
              HasSubstr("expected an optimizer state_dict"));
  EXPECT_THAT(error_of([&] {
                trained.opt.load_state_dict(Dict{{"state", Dict{}}});
              }),
              HasSubstr("has no 'param_groups'"));
}

TEST(LoadStateDict, TakesTheLoadedHyperparametersAndMapsIdsInOrder) {
  Trained trained;
  Value sd = trained.opt.state_dict();
  // Saved ids need not be 0..n-1: they map to this optimizer's parameters in order.
  auto& groups = sd.as_dict().at("param_groups").as_list();
  groups[0].as_dict().insert_or_assign("params", List{10, 11});
  groups[0].as_dict().insert_or_assign("lr", 0.125);
  groups[1].as_dict().insert_or_assign("params", List{12});
  Dict state;
  state.insert_or_assign(12, sd["state"][2].value());
  state.insert_or_assign(10, sd["state"][0].value());
  sd.as_dict().insert_or_assign("state", state);

  Trained target;
  target.opt.load_state_dict(sd);
  EXPECT_EQ(target.opt.param_groups()[0].lr(), 0.125);
  // State in the loaded order, under this optimizer's ids.
  EXPECT_EQ(target.opt.state().keys(), (std::vector<DictKey>{std::int64_t{2}, std::int64_t{0}}));
  EXPECT_EQ(target.opt.state_dict()["param_groups"][0]["params"].value().repr(), "[0, 1]");
}

TEST(LoadStateDict, CastsStateToTheParameterDtypeExceptStep) {
  const Tensor p = full({2}, 1.0, {.dtype = DType::kFloat64});
  Adam opt({p});
  const Value sd =
      Dict{{"state", Dict{{0, Dict{{"step", scalar_tensor(3.0f)},
                                   {"exp_avg", full({2}, 0.1f)},
                                   {"exp_avg_sq", full({2}, 0.2, {.dtype = DType::kFloat16})}}}}},
           {"param_groups", List{Dict{{"lr", 0.001},
                                      {"betas", Tuple{0.9, 0.999}},
                                      {"eps", 1e-08},
                                      {"weight_decay", 0},
                                      {"amsgrad", false},
                                      {"params", List{0}}}}}};
  opt.load_state_dict(sd);
  const Dict& state = opt.state().at(0).as_dict();
  EXPECT_EQ(state.at("step").as_tensor().dtype(), DType::kFloat32);
  EXPECT_EQ(state.at("exp_avg").as_tensor().dtype(), DType::kFloat64);
  EXPECT_EQ(state.at("exp_avg").as_tensor().data<double>()[1], static_cast<double>(0.1f));
  EXPECT_EQ(state.at("exp_avg_sq").as_tensor().dtype(), DType::kFloat64);
  // The loaded tensors were copied.
  EXPECT_FALSE(state.at("step").as_tensor().is_same(sd["state"][0]["step"].as_tensor()));
}

TEST(LoadStateDict, AcceptsAnOldNumberStepAndMakesItAFloat32Tensor) {
  const Tensor p = full({1}, 1.0f);
  Adam opt({p});
  const Value sd = Dict{
      {"state", Dict{{0, Dict{{"step", 4}, {"exp_avg", zeros({1})}, {"exp_avg_sq", zeros({1})}}}}},
      {"param_groups", List{Dict{{"lr", 0.001},
                                 {"betas", Tuple{0.9, 0.999}},
                                 {"eps", 1e-08},
                                 {"weight_decay", 0},
                                 {"amsgrad", false},
                                 {"params", List{0}}}}}};
  opt.load_state_dict(sd);
  const Tensor step = opt.state().at(0).as_dict().at("step").as_tensor();
  EXPECT_EQ(step.dtype(), DType::kFloat32);
  EXPECT_EQ(step.dim(), 0);
  EXPECT_EQ(step.item<float>(), 4.0f);
  // The groups lacked the keys 1.13's __setstate__ adds; they are added at the end.
  EXPECT_EQ(opt.state_dict()["param_groups"][0].value().repr(),
            "{'lr': 0.001, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0, "
            "'amsgrad': False, 'maximize': False, 'foreach': None, 'capturable': False, "
            "'differentiable': False, 'fused': False, 'params': [0]}");
}

TEST(LoadStateDict, AcceptsPyTorch2LayoutsAndKeepsTheirKeys) {
  const Tensor p = full({2}, 1.0f);
  SGD opt({p}, {.lr = 0.1});
  // 2.x: no state for momentum 0, 'fused' and 'param_names' in the group.
  const Value sd = Dict{{"state", Dict{}},
                        {"param_groups", List{Dict{{"lr", 0.05},
                                                   {"momentum", 0},
                                                   {"dampening", 0},
                                                   {"weight_decay", 0},
                                                   {"nesterov", false},
                                                   {"maximize", false},
                                                   {"foreach", none},
                                                   {"differentiable", false},
                                                   {"fused", none},
                                                   {"params", List{0}},
                                                   {"param_names", List{"w"}}}}}};
  opt.load_state_dict(sd);
  EXPECT_EQ(opt.state_dict()["param_groups"][0].value().repr(),
            "{'lr': 0.05, 'momentum': 0, 'dampening': 0, 'weight_decay': 0, 'nesterov': False, "
            "'maximize': False, 'foreach': None, 'differentiable': False, 'fused': None, "
            "'param_names': ['w'], 'params': [0]}");
  p.set_grad(ones({2}));
  opt.step();
  EXPECT_FLOAT_EQ(p.data<float>()[0], 0.95f);
}

TEST(LoadStateDict, SGDMomentumBufferNoneIsAccepted) {
  const Tensor p = full({2}, 1.0f);
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  Value sd = opt.state_dict();
  sd.as_dict().at("state").as_dict().insert_or_assign(0, Dict{{"momentum_buffer", none}});
  opt.load_state_dict(sd);
  p.set_grad(ones({2}));
  opt.step();  // the None buffer starts from the gradient, as in PyTorch
  EXPECT_TRUE(opt.state().at(0).as_dict().at("momentum_buffer").as_tensor().equal(ones({2})));
}

TEST(LoadStateDict, Adam2xDecoupledWeightDecayTakesAdamWsUpdate) {
  const Tensor p1 = full({3}, 2.0f);
  const Tensor p2 = full({3}, 2.0f);
  Adam adam({p1}, {.weight_decay = 0.1});
  AdamW adamw({p2}, {.weight_decay = 0.1});
  Value sd = adam.state_dict();
  sd.as_dict()
      .at("param_groups")
      .as_list()[0]
      .as_dict()
      .insert_or_assign("decoupled_weight_decay", true);
  adam.load_state_dict(sd);
  for (const Tensor& p : {p1, p2}) p.set_grad(full({3}, 0.25f));
  adam.step();
  adamw.step();
  EXPECT_TRUE(p1.equal(p2));
}

TEST(LoadStateDict, AmsgradStateMustBeComplete) {
  Trained trained;
  Value sd = trained.opt.state_dict();
  sd.as_dict().at("param_groups").as_list()[0].as_dict().insert_or_assign("amsgrad", true);
  EXPECT_THAT(error_of([&] { trained.opt.load_state_dict(sd); }),
              HasSubstr("has no 'max_exp_avg_sq'"));
}

}  // namespace
}  // namespace mnemo::optim
