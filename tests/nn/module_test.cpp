#include "mnemo/nn/module.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mnemo/nn.h"

namespace mnemo::nn::module_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : named) names.push_back(name);
  return names;
}

struct Block : Module {
  std::shared_ptr<Linear> fc;
  Block() {
    fc = register_module("fc", std::make_shared<Linear>(2, 3));
    register_buffer("count", zeros({}, {.dtype = DType::kInt64}));
    register_buffer("cache", zeros({3}), /*persistent=*/false);
  }
};

struct Net : Module {
  std::shared_ptr<Block> first, second;
  Tensor scale;
  Net() {
    scale = register_parameter("scale", ones({1}));
    first = register_module("first", std::make_shared<Block>());
    second = register_module("second", std::make_shared<Block>());
  }
};

TEST(Module, NameIsTheUnqualifiedClassName) {
  Net net;
  EXPECT_EQ(net.name(), "Net");
  EXPECT_EQ(Linear(1, 1).name(), "Linear");
  EXPECT_EQ(Module("Custom").name(), "Custom");
}

TEST(Module, RegistrationRefusesBadNames) {
  Module m;
  EXPECT_THAT([&] { m.register_parameter("", zeros({1})); },
              ::testing::ThrowsMessage<Error>(HasSubstr("can't be empty")));
  EXPECT_THAT([&] { m.register_buffer("a.b", zeros({1})); },
              ::testing::ThrowsMessage<Error>(HasSubstr("can't contain \".\"")));
  m.register_parameter("w", zeros({1}));
  EXPECT_THAT([&] { m.register_buffer("w", zeros({1})); },
              ::testing::ThrowsMessage<Error>(HasSubstr("attribute 'w' already exists")));
  EXPECT_THAT([&] { m.register_module("w", std::make_shared<ReLU>()); },
              ::testing::ThrowsMessage<Error>(HasSubstr("attribute 'w' already exists")));
  // The same kind may be registered again: it replaces the slot.
  m.register_parameter("w", ones({2}));
  EXPECT_EQ(m.parameter("w").sizes(), (Shape{2}));
}

TEST(Module, RegisterParameterSetsRequiresGrad) {
  Module m;
  EXPECT_TRUE(m.register_parameter("a", zeros({1})).requires_grad());
  EXPECT_FALSE(m.register_parameter("b", zeros({1}), false).requires_grad());
  EXPECT_FALSE(m.register_buffer("c", zeros({1})).requires_grad());
}

TEST(Module, NamedParametersFollowPyTorchOrder) {
  Net net;
  EXPECT_THAT(names_of(net.named_parameters()),
              ElementsAre("scale", "first.fc.weight", "first.fc.bias", "second.fc.weight",
                          "second.fc.bias"));
  EXPECT_THAT(names_of(net.named_parameters(/*recurse=*/false)), ElementsAre("scale"));
  EXPECT_EQ(net.parameters().size(), 5u);
}

TEST(Module, NamedBuffersIncludeNonPersistentOnes) {
  Net net;
  EXPECT_THAT(names_of(net.named_buffers()),
              ElementsAre("first.count", "first.cache", "second.count", "second.cache"));
}

TEST(Module, SharedTensorsAndModulesAreListedOnce) {
  auto shared = std::make_shared<Linear>(2, 2);
  Module root("Root");
  root.register_module("a", shared);
  root.register_module("b", shared);
  root.register_parameter("tied", shared->weight);
  EXPECT_THAT(names_of(root.named_parameters()), ElementsAre("tied", "a.bias"));
  std::vector<std::string> modules;
  for (const auto& [name, module] : root.named_modules()) modules.push_back(name);
  EXPECT_THAT(modules, ElementsAre("", "a"));
  EXPECT_EQ(root.children().size(), 1u);
  // state_dict keeps every name, as PyTorch's does.
  EXPECT_THAT(root.state_dict().keys(),
              ElementsAre("tied", "a.weight", "a.bias", "b.weight", "b.bias"));
}

TEST(Module, StateDictHoldsDetachedViewsOfTheModelsMemory) {
  Net net;
  StateDict sd = net.state_dict();
  // A module's own tensors come before its children's, whatever the registration order.
  EXPECT_THAT(sd.keys(), ElementsAre("scale", "first.count", "first.fc.weight", "first.fc.bias",
                                     "second.count", "second.fc.weight", "second.fc.bias"));
  const Tensor& scale = sd.at("scale");
  EXPECT_FALSE(scale.requires_grad());
  EXPECT_TRUE(scale.storage().is_same(net.scale.storage()));
  net.scale.fill_(7.0);
  EXPECT_EQ(scale.item<float>(), 7.0f);
}

TEST(Module, StateDictRecordsModuleVersions) {
  Module root("Root");
  root.register_module("lin", std::make_shared<Linear>(2, 2));
  root.register_module("bn", std::make_shared<BatchNorm1d>(2));
  StateDict sd = root.state_dict();
  ASSERT_TRUE(sd.has_metadata());
  EXPECT_EQ(sd.version(""), 1);
  EXPECT_EQ(sd.version("lin"), 1);
  EXPECT_EQ(sd.version("bn"), 2);
  std::vector<DictKey> prefixes = sd.metadata()->keys();
  EXPECT_EQ(prefixes, (std::vector<DictKey>{std::string(""), std::string("lin"), std::string("bn")}));
}

TEST(Module, TrainAndEvalReachEverySubmodule) {
  Net net;
  net.eval();
  for (const auto& [name, module] : net.named_modules()) EXPECT_FALSE(module->is_training()) << name;
  net.train();
  for (const auto& [name, module] : net.named_modules()) EXPECT_TRUE(module->is_training()) << name;
}

TEST(Module, ApplyVisitsChildrenBeforeTheirParent) {
  Net net;
  std::vector<std::string> order;
  net.apply([&](Module& m) { order.push_back(m.name()); });
  EXPECT_THAT(order, ElementsAre("Linear", "Block", "Linear", "Block", "Net"));
}

TEST(Module, ZeroGradDropsOrZeroesGradients) {
  Linear lin(2, 2);
  lin.weight.set_grad(ones({2, 2}));
  lin.zero_grad(/*set_to_none=*/false);
  EXPECT_TRUE(lin.weight.grad().equal(zeros({2, 2})));
  lin.zero_grad();
  EXPECT_FALSE(lin.weight.grad().defined());
}

TEST(Module, ExtraStateIsSavedAfterTensors) {
  struct Counter : Module {
    std::int64_t steps = 3;
    Counter() : Module("Counter") { register_parameter("w", zeros({1})); }
    bool has_extra_state() const override { return true; }
    Value get_extra_state() const override { return Dict{{"steps", steps}}; }
    void set_extra_state(const Value& state) override { steps = state["steps"].as_int(); }
  };
  Module root("Root");
  auto counter = root.register_module("counter", std::make_shared<Counter>());
  StateDict sd = root.state_dict();
  EXPECT_THAT(sd.keys(), ElementsAre("counter.w", "counter._extra_state"));
  EXPECT_EQ((*sd.find("counter._extra_state"))["steps"].as_int(), 3);

  auto other = std::make_shared<Counter>();
  other->steps = 0;
  Module root2("Root");
  root2.register_module("counter", other);
  root2.load_state_dict(sd);
  EXPECT_EQ(other->steps, 3);
}

TEST(Module, ReprLooksLikePyTorchs) {
  Sequential seq({std::make_shared<Linear>(4, 8), std::make_shared<ReLU>(),
                  std::make_shared<BatchNorm1d>(8), std::make_shared<Dropout>(0.25)});
  EXPECT_EQ(seq.repr(),
            "Sequential(\n"
            "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
            "  (1): ReLU()\n"
            "  (2): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
            "  (3): Dropout(p=0.25, inplace=False)\n"
            ")");
}

TEST(Module, ForwardWithoutOverrideSaysSo) {
  Module m("Plain");
  EXPECT_THAT([&] { m.forward(zeros({1})); },
              ::testing::ThrowsMessage<Error>(HasSubstr("Plain has no one-tensor forward()")));
}

}  // namespace
}  // namespace mnemo::nn::module_test
