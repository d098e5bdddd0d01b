#include "mnemo/nn/module_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mnemo/nn.h"
#include "support/errors.h"

namespace mnemo::nn {
namespace {

using mnemo::testing::ErrorWith;

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Property;
using ::testing::Throws;

// A user module whose children follow from its config.
struct Block : Module {
  Block(std::int64_t width, double drop) : width(width), drop(drop) {
    fc = register_module("fc", std::make_shared<Linear>(width, width));
    register_module("dropout", std::make_shared<Dropout>(drop));
  }
  Value config() const override { return Dict{{"width", width}, {"drop", drop}}; }
  Tensor forward(const Tensor& x) override { return fc->forward(x); }
  std::int64_t width;
  double drop;
  std::shared_ptr<Linear> fc;
};

std::shared_ptr<Block> make_block(const ModuleSpec& spec) {
  return std::make_shared<Block>(spec.get_int("width"), spec.get_double("drop"));
}

// Registered in the global registry, as a program would.
struct Scaled : Module {
  explicit Scaled(double factor) : factor(factor) {}
  Value config() const override { return Dict{{"factor", factor}}; }
  double factor;
};

MNEMO_REGISTER_MODULE(Scaled, "Scaled", 1, [](const ModuleSpec& spec) {
  return std::make_shared<Scaled>(spec.get_double("factor"));
});

struct Unregistered : Module {};

// The built-ins plus Block.
class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() {
    registry.add_builtins();
    registry.add<Block>("Block", 1, make_block);
  }
  ModuleRegistry registry;
};

// Every key of every module's state_dict, with its shape, and the text repr: equal for
// two trees with the same architecture and configs.
std::string layout(const Module& module) {
  std::string text = module.repr() + "\n";
  for (const auto& [key, value] : module.state_dict()) {
    if (!value.is_tensor()) continue;
    text += key + " " + std::to_string(value.as_tensor().numel()) + "\n";
  }
  return text;
}

TEST(ModuleRegistry, GlobalHasEveryBuiltinUnderPyTorchsName) {
  const std::vector<std::string> names = ModuleRegistry::global().names();
  for (const char* name :
       {"AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout",
        "Embedding", "Flatten", "GELU", "LayerNorm", "Linear", "MaxPool2d", "ModuleDict",
        "ModuleList", "ReLU", "Sequential", "Sigmoid", "Tanh", "Scaled"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  std::optional<ModuleType> linear = ModuleRegistry::global().find("Linear");
  ASSERT_TRUE(linear.has_value());
  EXPECT_EQ(linear->cpp_type, std::type_index(typeid(Linear)));
  EXPECT_EQ(linear->version, 1);
  EXPECT_EQ(ModuleRegistry::global().find(std::type_index(typeid(Conv2d)))->name, "Conv2d");
}

TEST(ModuleRegistry, BuiltinConfigsUsePyTorchsArgumentNames) {
  EXPECT_EQ(Value(Linear(3, 4, false).config()),
            Value(Dict{{"in_features", 3}, {"out_features", 4}, {"bias", false}}));
  EXPECT_EQ(Conv2d(2, 4, {3, 5}, {.stride = {2, 1}, .padding = {1, 2}, .groups = 2}).config(),
            Value(Dict{{"in_channels", 2},
                       {"out_channels", 4},
                       {"kernel_size", List{3, 5}},
                       {"stride", List{2, 1}},
                       {"padding", List{1, 2}},
                       {"dilation", List{1, 1}},
                       {"groups", 2},
                       {"bias", true}}));
  EXPECT_EQ(BatchNorm2d(8, {.momentum = std::nullopt}).config(),
            Value(Dict{{"num_features", 8},
                       {"eps", 1e-5},
                       {"momentum", none},
                       {"affine", true},
                       {"track_running_stats", true}}));
  EXPECT_EQ(Embedding(10, 3, -1).config(),
            Value(Dict{{"num_embeddings", 10}, {"embedding_dim", 3}, {"padding_idx", 9}}));
  EXPECT_EQ(GELU(true).config(), Value(Dict{{"approximate", "tanh"}}));
  EXPECT_EQ(MaxPool2d(2).config()["stride"].value(), Value(List{2, 2}));
  EXPECT_EQ(ReLU().config(), Value(Dict{}));
}

TEST_F(RegistryTest, EveryBuiltinRebuildsFromItsDescription) {
  std::vector<ModulePtr> modules = {
      std::make_shared<Linear>(5, 3, false),
      std::make_shared<Conv2d>(
          4, 6, std::array<std::int64_t, 2>{3, 2},
          Conv2dOptions{
              .stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}, .groups = 2, .bias = false}),
      std::make_shared<BatchNorm1d>(7, BatchNormOptions{.eps = 1e-3, .momentum = std::nullopt}),
      std::make_shared<BatchNorm2d>(
          4, BatchNormOptions{.affine = false, .track_running_stats = false}),
      std::make_shared<LayerNorm>(Shape{3, 4}, 1e-6, false),
      std::make_shared<Embedding>(12, 5, 2),
      std::make_shared<Embedding>(12, 5),
      std::make_shared<Dropout>(0.25),
      std::make_shared<ReLU>(),
      std::make_shared<GELU>(true),
      std::make_shared<Tanh>(),
      std::make_shared<Sigmoid>(),
      std::make_shared<Flatten>(2, 3),
      std::make_shared<MaxPool2d>(3, 2, 1, 2, true),
      std::make_shared<AvgPool2d>(3, 1, 1, true, false),
      std::make_shared<AdaptiveAvgPool2d>(std::array<std::int64_t, 2>{4, 2}),
      std::make_shared<Sequential>(std::initializer_list<ModulePtr>{std::make_shared<Linear>(2, 2),
                                                                    std::make_shared<ReLU>()}),
      std::make_shared<ModuleList>(std::initializer_list<ModulePtr>{
          std::make_shared<Tanh>(), std::make_shared<Linear>(1, 2)}),
      std::make_shared<ModuleDict>(std::initializer_list<std::pair<std::string, ModulePtr>>{
          {"head", std::make_shared<Linear>(2, 1)}, {"act", std::make_shared<Sigmoid>()}}),
  };
  for (const ModulePtr& module : modules) {
    const Value architecture = registry.describe(*module);
    ModulePtr rebuilt = registry.build(architecture);
    const Module& built = *rebuilt;
    const Module& original = *module;
    EXPECT_TRUE(typeid(built) == typeid(original)) << module->repr();
    EXPECT_EQ(rebuilt->config(), module->config()) << module->repr();
    EXPECT_EQ(layout(*rebuilt), layout(*module));
    EXPECT_EQ(registry.describe(*rebuilt), architecture) << module->repr();
  }
}

TEST_F(RegistryTest, DescribeRecordsTypeVersionConfigTrainingAndChildren) {
  Sequential model{std::make_shared<Linear>(4, 2), std::make_shared<Block>(2, 0.5)};
  model.submodule("1")->eval();
  const Value architecture = registry.describe(model);
  EXPECT_EQ(architecture["type"].as_string(), "Sequential");
  EXPECT_EQ(architecture["version"].as_int(), 1);
  EXPECT_EQ(architecture["config"].value(), Value(Dict{}));
  EXPECT_TRUE(architecture["training"].as_bool());
  const Dict& children = architecture["children"].as_dict();
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(architecture["children"]["0"]["type"].as_string(), "Linear");
  EXPECT_EQ(architecture["children"]["0"]["config"]["out_features"].as_int(), 2);
  EXPECT_EQ(architecture["children"]["1"]["type"].as_string(), "Block");
  EXPECT_FALSE(architecture["children"]["1"]["training"].as_bool());
  EXPECT_EQ(architecture["children"]["1"]["children"]["dropout"]["config"]["p"].as_double(), 0.5);
}

TEST_F(RegistryTest, UserModuleWithChildrenRebuildsWithItsTrainingFlags) {
  Sequential model{std::make_shared<Block>(3, 0.1), std::make_shared<ReLU>()};
  model.train();
  model.submodule("0")->submodule("dropout")->eval();
  ModulePtr rebuilt = registry.build(registry.describe(model));
  auto* block = dynamic_cast<Block*>(rebuilt->submodule("0").get());
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->width, 3);
  EXPECT_EQ(block->drop, 0.1);
  EXPECT_TRUE(rebuilt->is_training());
  EXPECT_TRUE(block->is_training());
  EXPECT_FALSE(block->submodule("dropout")->is_training());
  EXPECT_EQ(layout(*rebuilt), layout(model));
}

TEST(ModuleRegistryMacro, RegistersInTheGlobalRegistry) {
  Sequential model{std::make_shared<Scaled>(2.5)};
  ModuleRegistry& global = ModuleRegistry::global();
  ModulePtr rebuilt = global.build(global.describe(model));
  auto* scaled = dynamic_cast<Scaled*>(rebuilt->submodule("0").get());
  ASSERT_NE(scaled, nullptr);
  EXPECT_EQ(scaled->factor, 2.5);
}

TEST_F(RegistryTest, OlderConfigVersionsReachTheFactory) {
  // Version 2 of Block renamed "width" to "features"; its factory still reads version 1.
  std::int64_t seen_version = 0;
  registry.add<Block>("Block", 2, [&](const ModuleSpec& spec) {
    seen_version = spec.version();
    const std::int64_t width =
        spec.version() >= 2 ? spec.get_int("features") : spec.get_int("width");
    return std::make_shared<Block>(width, spec.get_double("drop"));
  });
  Value architecture = Dict{{"type", "Block"},
                            {"version", 1},
                            {"config", Dict{{"width", 4}, {"drop", 0.0}}},
                            {"training", true},
                            {"children", Dict{}}};
  // Its children (built by the constructor) are checked against the saved ones.
  architecture.as_dict().at("children") = registry.describe(Block(4, 0.0))["children"].value();
  ModulePtr rebuilt = registry.build(architecture);
  EXPECT_EQ(seen_version, 1);
  EXPECT_EQ(dynamic_cast<Block&>(*rebuilt).width, 4);
}

TEST_F(RegistryTest, GettersAcceptIntsAsFloatsAndTuplesAsLists) {
  Value architecture = registry.describe(Conv2d(1, 1, 3));
  Dict& config = architecture.as_dict().at("config").as_dict();
  config.insert_or_assign("kernel_size", Tuple{3, 3});
  ModulePtr rebuilt = registry.build(architecture);
  EXPECT_EQ(dynamic_cast<Conv2d&>(*rebuilt).kernel_size, (std::array<std::int64_t, 2>{3, 3}));

  Value dropout = registry.describe(Dropout(0.0));
  dropout.as_dict().at("config").as_dict().insert_or_assign("p", 1);
  EXPECT_EQ(dynamic_cast<Dropout&>(*registry.build(dropout)).p, 1.0);
}

// --- failures --------------------------------------------------------------------------------

TEST_F(RegistryTest, DescribeRefusesAnUnregisteredTypeNamingItsPathAndCppType) {
  Sequential model{std::make_shared<Linear>(2, 2),
                   std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                       std::make_shared<ReLU>(), std::make_shared<Unregistered>()})};
  EXPECT_THAT([&] { registry.describe(model); },
              ErrorWith(ErrorCode::kUnsupported, "(at '1.1')",
                        "of C++ type mnemo::nn::(anonymous namespace)::Unregistered",
                        "has no registered module type", "MNEMO_REGISTER_MODULE",
                        "save the state_dict instead"));
  EXPECT_THAT([&] { registry.describe(Unregistered()); },
              ErrorWith(ErrorCode::kUnsupported, "(at the root)"));
}

TEST_F(RegistryTest, DescribeRefusesASubclassOfARegisteredType) {
  struct WideLinear : Linear {
    WideLinear() : Linear(2, 8) {}
  };
  EXPECT_THAT([&] { registry.describe(WideLinear()); },
              ErrorWith(ErrorCode::kUnsupported, "WideLinear", "has no registered module type"));
}

TEST_F(RegistryTest, DescribeRefusesASharedModule) {
  auto shared = std::make_shared<Linear>(2, 2);
  Sequential model{shared, std::make_shared<ReLU>(), shared};
  EXPECT_THAT([&] { registry.describe(model); },
              ErrorWith(ErrorCode::kUnsupported,
                        "the Linear (at '2') is the same module as the one (at '0')",
                        "save the state_dict instead"));
}

TEST_F(RegistryTest, DescribeRefusesAConfigThatIsNotADict) {
  struct BadConfig : Module {
    Value config() const override { return List{1, 2}; }
  };
  registry.add<BadConfig>("BadConfig", 1,
                          [](const ModuleSpec&) { return std::make_shared<BadConfig>(); });
  EXPECT_THAT(
      [&] { registry.describe(BadConfig()); },
      ErrorWith(ErrorCode::kInvalidArgument, "BadConfig::config() (at the root) returned a list"));
}

TEST_F(RegistryTest, BuildRefusesAnUnknownTypeNamingItsPath) {
  Value architecture = registry.describe(
      Sequential{std::make_shared<Linear>(2, 2), std::make_shared<Block>(2, 0.0)});
  ModuleRegistry builtins_only;
  builtins_only.add_builtins();
  EXPECT_THAT([&] { builtins_only.build(architecture); },
              ErrorWith(ErrorCode::kMismatch, "no module type 'Block' is registered (at '1')",
                        "register it with MNEMO_REGISTER_MODULE", "before loading the model"));
}

TEST_F(RegistryTest, BuildRefusesAMissingOrMistypedField) {
  Value architecture = registry.describe(Sequential{std::make_shared<Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<Linear>(2, 3)})});
  Dict& config = architecture.as_dict()
                     .at("children")
                     .as_dict()
                     .at("0")
                     .as_dict()
                     .at("children")
                     .as_dict()
                     .at("0")
                     .as_dict()
                     .at("config")
                     .as_dict();
  config.erase("out_features");
  EXPECT_THAT([&] { registry.build(architecture); },
              ErrorWith(ErrorCode::kMismatch,
                        "config field 'out_features' of Linear (at '0.0') is missing (expected an "
                        "int; the saved config, version 1, has 'in_features', 'bias')"));
  config.insert_or_assign("out_features", "three");
  EXPECT_THAT([&] { registry.build(architecture); },
              ErrorWith(ErrorCode::kMismatch,
                        "config field 'out_features' of Linear (at '0.0') is a str ('three'), "
                        "expected an int"));
  config.insert_or_assign("out_features", 3);
  config.insert_or_assign("bias", 1);
  EXPECT_THAT([&] { registry.build(architecture); },
              ErrorWith(ErrorCode::kMismatch, "config field 'bias' of Linear (at '0.0') is an int",
                        "expected a bool"));
}

TEST_F(RegistryTest, BuildRefusesAValueOutOfItsDomain) {
  Value architecture = registry.describe(MaxPool2d(2));
  architecture.as_dict().at("config").as_dict().insert_or_assign("stride", List{1, 2, 3});
  EXPECT_THAT([&] { registry.build(architecture); },
              ErrorWith(ErrorCode::kMismatch, "config field 'stride' of MaxPool2d (at the root)",
                        "expected a list of 2 ints"));
  Value gelu = registry.describe(GELU());
  gelu.as_dict().at("config").as_dict().insert_or_assign("approximate", "erf");
  EXPECT_THAT([&] { registry.build(gelu); },
              ErrorWith(ErrorCode::kMismatch, "expected 'none' or 'tanh'"));
}

TEST_F(RegistryTest, BuildRefusesANewerConfigVersion) {
  Value architecture = registry.describe(Sequential{std::make_shared<Block>(2, 0.0)});
  architecture.as_dict().at("children").as_dict().at("0").as_dict().insert_or_assign("version", 3);
  EXPECT_THAT([&] { registry.build(architecture); },
              ErrorWith(ErrorCode::kMismatch,
                        "Block (at '0') was saved with config version 3, newer than version 1"));
}

TEST_F(RegistryTest, BuildRefusesAFactoryThatBuildsOtherChildren) {
  Value architecture = registry.describe(Block(2, 0.0));
  // A file from a program whose Block had one more child.
  Value extra = architecture;
  extra.as_dict()
      .at("children")
      .as_dict()
      .insert_or_assign("norm", registry.describe(LayerNorm(Shape{2})));
  EXPECT_THAT([&] { registry.build(extra); },
              ErrorWith(ErrorCode::kMismatch,
                        "the Block rebuilt (at the root) has children ['fc', 'dropout'], but the "
                        "saved architecture has ['fc', 'dropout', 'norm']"));

  // The child the constructor built differs from the saved one in type, then in config.
  Value other_type = architecture;
  other_type.as_dict()
      .at("children")
      .as_dict()
      .insert_or_assign("dropout", registry.describe(ReLU()));
  EXPECT_THAT([&] { registry.build(other_type); },
              ErrorWith(ErrorCode::kMismatch, "built its child 'dropout' as a 'Dropout'",
                        "the saved architecture has a 'ReLU' there"));
  Value other_config = architecture;
  other_config.as_dict()
      .at("children")
      .as_dict()
      .insert_or_assign("dropout", registry.describe(Dropout(0.5)));
  EXPECT_THAT([&] { registry.build(other_config); },
              ErrorWith(ErrorCode::kMismatch, "built its child 'dropout' with config {'p': 0.0}",
                        "the saved config is {'p': 0.5}"));
}

TEST_F(RegistryTest, BuildRefusesAMalformedArchitecture) {
  EXPECT_THAT(
      [&] { registry.build(Value(List{})); },
      ErrorWith(ErrorCode::kCorrupt, "the module (at the root) is a list, expected a dict"));
  Value architecture = registry.describe(Sequential{std::make_shared<ReLU>()});
  architecture.as_dict().at("children").as_dict().at("0").as_dict().erase("type");
  EXPECT_THAT([&] { registry.build(architecture); },
              ErrorWith(ErrorCode::kCorrupt, "the module (at '0') has no 'type' (expected a str)"));
  Value bad_name = registry.describe(Sequential{});
  bad_name.as_dict().at("children").as_dict().insert_or_assign("a.b", registry.describe(ReLU()));
  EXPECT_THAT([&] { registry.build(bad_name); },
              ErrorWith(ErrorCode::kCorrupt, "has a child named 'a.b'"));
}

TEST(ModuleRegistryAdd, RefusesConflictingRegistrations) {
  ModuleRegistry registry;
  registry.add<Block>("Block", 1, make_block);
  EXPECT_THAT(
      [&] {
        registry.add<Scaled>("Block", 1,
                             [](const ModuleSpec&) { return std::make_shared<Scaled>(1.0); });
      },
      ErrorWith(ErrorCode::kInvalidArgument, "module type name 'Block' is already registered"));
  EXPECT_THAT([&] { registry.add<Block>("Other", 1, make_block); },
              ErrorWith(ErrorCode::kInvalidArgument, "is already registered as 'Block'"));
  EXPECT_THAT([&] { registry.add<Block>("Block", 0, make_block); },
              ErrorWith(ErrorCode::kInvalidArgument, "config versions start at 1"));
  // The same name and type again replaces the entry.
  registry.add<Block>("Block", 2, make_block);
  EXPECT_EQ(registry.find("Block")->version, 2);
  EXPECT_TRUE(registry.remove("Block"));
  EXPECT_FALSE(registry.remove("Block"));
  EXPECT_TRUE(registry.names().empty());
}

}  // namespace
}  // namespace mnemo::nn
