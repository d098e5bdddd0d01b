// The Optimizer base: parameter groups (per-group options, PyTorch's key order and
// Python types), add_param_group, zero_grad, and state_dict()'s layout. The reprs compared
// here are what PyTorch 1.13 prints for the same optimizers.
#include "mnemo/optim/optimizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mnemo/optim.h"
#include "support/errors.h"

namespace mnemo::optim {
namespace {

using mnemo::testing::error_of;

using ::testing::HasSubstr;

Tensor param(Shape sizes, float value = 1.0f) { return full(sizes, value); }

TEST(Number, KeepsIntAndFloatApart) {
  EXPECT_TRUE(Number(0).is_int());
  EXPECT_FALSE(Number(0.0).is_int());
  EXPECT_FALSE(Number(0.5f).is_int());
  EXPECT_TRUE(Number(std::int64_t{7}).to_value().is_int());
  EXPECT_TRUE(Number(0.1).to_value().is_double());
  EXPECT_EQ(Number(3).repr(), "3");
  EXPECT_EQ(Number(1e-08).repr(), "1e-08");
  EXPECT_EQ(Number(0.1).repr(), "0.1");
  EXPECT_FALSE(Number(1) == Number(1.0));
  EXPECT_TRUE(Number(1) == Number(1));
}

TEST(Number, FromValueRefusesWhatIsNotANumber) {
  EXPECT_TRUE(Number::from_value(Value(2), "x").is_int());
  EXPECT_EQ(Number::from_value(Value(0.25), "x").to_double(), 0.25);
  EXPECT_THAT(error_of([] { Number::from_value(Value("0.1"), "group['lr']"); }),
              HasSubstr("group['lr'] must be an int or a float, got str"));
  EXPECT_THAT(error_of([] { Number::from_value(Value(true), "x"); }),
              HasSubstr("must be an int or a float, got bool"));
}

TEST(ParamGroups, DefaultsInPyTorchsOrderWithPythonTypes) {
  SGD opt({param({2})}, {.lr = 0.1});
  // torch.optim.SGD([p], lr=0.1).state_dict()
  EXPECT_EQ(opt.state_dict().repr(),
            "{'state': {}, 'param_groups': [{'lr': 0.1, 'momentum': 0, 'dampening': 0, "
            "'weight_decay': 0, 'nesterov': False, 'maximize': False, 'foreach': None, "
            "'differentiable': False, 'params': [0]}]}");
  Adam adam({param({2})});
  EXPECT_EQ(adam.state_dict()["param_groups"][0].value().repr(),
            "{'lr': 0.001, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0, "
            "'amsgrad': False, 'maximize': False, 'foreach': None, 'capturable': False, "
            "'differentiable': False, 'fused': False, 'params': [0]}");
  AdamW adamw({param({2})});
  EXPECT_EQ(adamw.state_dict()["param_groups"][0].value().repr(),
            "{'lr': 0.001, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.01, "
            "'amsgrad': False, 'foreach': None, 'maximize': False, 'capturable': False, "
            "'params': [0]}");
}

TEST(ParamGroups, OverriddenKeysComeFirstAsSetdefaultLeavesThem) {
  // torch.optim.SGD([{'params': [p], 'momentum': 0.5}, {'params': [q]}], lr=0.1)
  SGD opt({{{param({2})}, {.momentum = 0.5}}, {{param({3})}}}, {.lr = 0.1});
  EXPECT_EQ(opt.state_dict()["param_groups"].value().repr(),
            "[{'momentum': 0.5, 'lr': 0.1, 'dampening': 0, 'weight_decay': 0, 'nesterov': False, "
            "'maximize': False, 'foreach': None, 'differentiable': False, 'params': [0]}, "
            "{'lr': 0.1, 'momentum': 0, 'dampening': 0, 'weight_decay': 0, 'nesterov': False, "
            "'maximize': False, 'foreach': None, 'differentiable': False, 'params': [1]}]");
}

TEST(ParamGroups, IdsRunOverTheGroupsInOrder) {
  Adam opt({{{param({1}), param({2})}, {.lr = 0.5}},
            {{param({3})}, {.betas = Betas{0.8, 0.9}}},
            {{param({4}), param({5}), param({6})}}});
  const Value sd = opt.state_dict();
  EXPECT_EQ(sd["param_groups"][0]["params"].value().repr(), "[0, 1]");
  EXPECT_EQ(sd["param_groups"][1]["params"].value().repr(), "[2]");
  EXPECT_EQ(sd["param_groups"][2]["params"].value().repr(), "[3, 4, 5]");
  EXPECT_EQ(sd["param_groups"][0]["lr"].as_double(), 0.5);
  EXPECT_EQ(sd["param_groups"][1]["lr"].as_double(), 0.001);
  EXPECT_EQ(sd["param_groups"][1]["betas"].value().repr(), "(0.8, 0.9)");
  EXPECT_EQ(opt.param_groups()[2].lr(), 0.001);
}

TEST(ParamGroups, AnIntHyperparameterStaysAnInt) {
  SGD opt({param({2})}, {.lr = 1, .momentum = 0.0, .weight_decay = 0});
  const Value group = opt.state_dict()["param_groups"][0];
  EXPECT_TRUE(group["lr"].value().is_int());
  EXPECT_TRUE(group["momentum"].value().is_double());
  EXPECT_TRUE(group["weight_decay"].value().is_int());
  EXPECT_TRUE(group["dampening"].value().is_int());
}

TEST(ParamGroups, SGDNeedsAnLrSomewhere) {
  EXPECT_THAT(error_of([] { SGD opt({param({2})}); }),
              HasSubstr("parameter group didn't specify a value of required optimization "
                        "parameter lr"));
  SGD opt({{{param({2})}, {.lr = 0.3}}, {{param({1})}, {.lr = 0.2}}});
  EXPECT_EQ(opt.param_groups()[1].lr(), 0.2);
  // A group's overridden lr comes first, then the other defaults.
  EXPECT_EQ(opt.param_groups()[0].options.keys()[0], DictKey("lr"));
}

TEST(ParamGroups, RefusesWhatPyTorchRefuses) {
  EXPECT_THAT(error_of([] { SGD opt(std::vector<Tensor>{}, {.lr = 0.1}); }),
              HasSubstr("optimizer got an empty parameter list"));
  EXPECT_THAT(error_of([] { SGD opt({param({2})}, {.lr = -0.5}); }),
              HasSubstr("Invalid learning rate: -0.5"));
  EXPECT_THAT(error_of([] { SGD opt({param({2})}, {.lr = 0.1, .momentum = -1}); }),
              HasSubstr("Invalid momentum value: -1"));
  EXPECT_THAT(error_of([] { SGD opt({param({2})}, {.lr = 0.1, .weight_decay = -0.1}); }),
              HasSubstr("Invalid weight_decay value: -0.1"));
  EXPECT_THAT(error_of([] { SGD opt({param({2})}, {.lr = 0.1, .nesterov = true}); }),
              HasSubstr("Nesterov momentum requires a momentum and zero dampening"));
  EXPECT_THAT(error_of([] {
                SGD opt({param({2})},
                        {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true});
              }),
              HasSubstr("Nesterov momentum requires a momentum and zero dampening"));
  EXPECT_THAT(error_of([] { Adam opt({param({2})}, {.lr = -1}); }),
              HasSubstr("Invalid learning rate: -1"));
  EXPECT_THAT(error_of([] { Adam opt({param({2})}, {.eps = -1e-8}); }),
              HasSubstr("Invalid epsilon value: -1e-08"));
  EXPECT_THAT(error_of([] {
                Adam opt({param({2})}, {.betas = {1.0, 0.9}});
              }),
              HasSubstr("Invalid beta parameter at index 0: 1.0"));
  EXPECT_THAT(error_of([] {
                AdamW opt({param({2})}, {.betas = {0.9, -0.1}});
              }),
              HasSubstr("Invalid beta parameter at index 1: -0.1"));
  EXPECT_THAT(error_of([] { AdamW opt({param({2})}, {.weight_decay = -1}); }),
              HasSubstr("Invalid weight_decay value: -1"));
  // A group's options are checked too, and only an optimizer's own may be set.
  EXPECT_THAT(error_of([] {
                SGD opt({{{param({2})}, {.lr = -2}}}, {.lr = 0.1});
              }),
              HasSubstr("param_groups[0]: Invalid learning rate: -2"));
  EXPECT_THAT(error_of([] {
                SGD opt({{{param({2})}, {.betas = Betas{}}}}, {.lr = 0.1});
              }),
              HasSubstr("SGD has no hyperparameter 'betas'"));
  EXPECT_THAT(error_of([] {
                Adam opt({{{param({2})}, {.momentum = 0.9}}});
              }),
              HasSubstr("Adam has no hyperparameter 'momentum'"));
}

TEST(ParamGroups, RefusesParametersItCannotUpdateInPlace) {
  const Tensor p = param({2, 3});
  EXPECT_THAT(error_of([&] { SGD opt({p.t()}, {.lr = 0.1}); }), HasSubstr("is not contiguous"));
  EXPECT_THAT(error_of([] { SGD opt({zeros({2}, {.dtype = DType::kInt64})}, {.lr = 0.1}); }),
              HasSubstr("has dtype int64"));
  EXPECT_THAT(error_of([] { SGD opt({Tensor()}, {.lr = 0.1}); }), HasSubstr("undefined"));
  EXPECT_THAT(error_of([&] { SGD opt({p, p}, {.lr = 0.1}); }), HasSubstr("same tensor"));
  EXPECT_THAT(error_of([&] {
                SGD opt({ParamGroup{{p}}, ParamGroup{{p}}}, {.lr = 0.1});
              }),
              HasSubstr("some parameters appear in more than one parameter group"));
  SGD opt({p}, {.lr = 0.1});
  EXPECT_THROW(opt.add_param_group({{p}}), Error);
  EXPECT_EQ(opt.param_groups().size(), 1u);  // nothing added
}

TEST(ParamGroups, AddParamGroupTakesTheDefaults) {
  const Tensor a = param({2});
  const Tensor b = param({3});
  Adam opt({a}, {.lr = 0.01, .amsgrad = true});
  opt.add_param_group({{b}, {.lr = 0.5}});
  ASSERT_EQ(opt.param_groups().size(), 2u);
  EXPECT_EQ(opt.param_groups()[1].lr(), 0.5);
  EXPECT_TRUE(opt.param_groups()[1].options.at("amsgrad").as_bool());
  EXPECT_TRUE(opt.param_groups()[1].params[0].is_same(b));
  EXPECT_EQ(opt.state_dict()["param_groups"][1]["params"].value().repr(), "[1]");
}

TEST(ZeroGrad, DropsOrZeroesGradients) {
  const Tensor a = param({2});
  const Tensor b = param({2});
  a.set_grad(full({2}, 3.0f));
  SGD opt({a, b}, {.lr = 0.1});
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_TRUE(a.grad().equal(zeros({2})));
  EXPECT_FALSE(b.grad().defined());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Step, SkipsParametersWithoutGradientAndCreatesNoStateForThem) {
  const Tensor a = param({2});
  const Tensor b = param({2});
  b.set_grad(full({2}, 1.0f));
  Adam opt({a, b});
  opt.step();
  EXPECT_TRUE(a.equal(param({2})));
  EXPECT_FALSE(b.equal(param({2})));
  ASSERT_EQ(opt.state().size(), 1u);
  EXPECT_TRUE(opt.state().contains(1));
}

TEST(Step, UpdatesTheParameterTensorInPlace) {
  const Tensor p = param({3});
  const float* before = p.data<float>();
  Tensor alias = p;  // what a model holds
  p.set_grad(ones({3}));
  SGD opt({p}, {.lr = 0.5});
  opt.step();
  EXPECT_EQ(p.data<float>(), before);
  EXPECT_TRUE(alias.equal(full({3}, 0.5f)));
}

TEST(Step, RefusesAGradientThatDoesNotMatch) {
  const Tensor p = param({3});
  p.set_grad(ones({3}, {.dtype = DType::kFloat64}));
  SGD opt({p}, {.lr = 0.5});
  EXPECT_THAT(error_of([&] { opt.step(); }),
              HasSubstr("has dtype float64 but the parameter has dtype float32"));
  EXPECT_TRUE(p.equal(param({3})));
}

TEST(Step, ReadsHyperparametersFromTheGroupEachTime) {
  const Tensor p = param({1});
  p.set_grad(ones({1}));
  SGD opt({p}, {.lr = 0.5});
  opt.param_groups()[0].set_lr(0.25);
  opt.step();
  EXPECT_FLOAT_EQ(p.item<float>(), 0.75f);
  opt.param_groups()[0].options.insert_or_assign("lr", "fast");
  EXPECT_THAT(error_of([&] { opt.step(); }),
              HasSubstr("param_groups[0]['lr'] must be an int or a float, got str"));
}

TEST(StateDict, SharesTheOptimizersTensorsAndIsAPlainDict) {
  const Tensor p = param({2});
  p.set_grad(ones({2}));
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  opt.step();
  const Value sd = opt.state_dict();
  EXPECT_FALSE(sd.as_dict().is_ordered_dict());
  const Tensor buffer = sd["state"][0]["momentum_buffer"].as_tensor();
  opt.step();
  // PyTorch's state_dict() returns references to the live state, not copies.
  EXPECT_TRUE(buffer.is_same(opt.state().at(0).as_dict().at("momentum_buffer").as_tensor()));
}

TEST(StateDict, SGDWithoutMomentumStoresNoneAsPyTorch113Does) {
  const Tensor a = param({2});
  const Tensor b = param({2});
  b.set_grad(ones({2}));
  SGD opt({a, b}, {.lr = 0.1});
  opt.step();
  EXPECT_EQ(opt.state_dict()["state"].value().repr(), "{1: {'momentum_buffer': None}}");
}

TEST(StateDict, StateKeysFollowTheOrderParametersFirstGotState) {
  const Tensor a = param({1});
  const Tensor b = param({1});
  Adam opt({a, b});
  b.set_grad(ones({1}));
  opt.step();
  a.set_grad(ones({1}));
  opt.step();
  EXPECT_EQ(opt.state().keys(), (std::vector<DictKey>{std::int64_t{1}, std::int64_t{0}}));
  const Value entry = opt.state_dict()["state"][1];
  EXPECT_EQ(entry.as_dict().keys(), (std::vector<DictKey>{"step", "exp_avg", "exp_avg_sq"}));
  const Tensor step = entry["step"].as_tensor();
  EXPECT_EQ(step.dtype(), DType::kFloat32);
  EXPECT_EQ(step.dim(), 0);
  EXPECT_EQ(step.item<float>(), 2.0f);
}

TEST(StateDict, AmsgradAddsMaxExpAvgSq) {
  const Tensor p = param({2}, 0.0f);
  p.set_grad(ones({2}));
  AdamW opt({p}, {.amsgrad = true});
  opt.step();
  EXPECT_EQ(opt.state().at(0).as_dict().keys(),
            (std::vector<DictKey>{"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}));
}

}  // namespace
}  // namespace mnemo::optim
