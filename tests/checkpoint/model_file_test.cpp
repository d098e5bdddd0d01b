#include "mnemo/checkpoint/model_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "mnemo/core/value_json.h"
#include "mnemo/nn.h"
#include "mnemo/ops.h"
#include "mnemo/version.h"
#include "support/python.h"
#include "support/errors.h"

namespace mnemo {
namespace {

using mnemo::testing::ErrorWith;

using mnemo::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Property;
using ::testing::Throws;

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(16, 16), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(16, 3, false)});
}

std::shared_ptr<nn::Sequential> make_cnn() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.padding = {1, 1}}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(4, 8, 3, nn::Conv2dOptions{.padding = {1, 1}}),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Linear>(8 * 2 * 2, 5)});
}

// A user module whose config holds a tuple (it comes back from the file as a list).
struct Reshape : nn::Module {
  explicit Reshape(Shape shape) : shape(std::move(shape)) {}
  Value config() const override {
    Tuple sizes;
    for (std::int64_t size : shape) sizes.emplace_back(size);
    return Dict{{"shape", std::move(sizes)}};
  }
  Tensor forward(const Tensor& x) override { return x.reshape(shape); }
  Shape shape;
};

MNEMO_REGISTER_MODULE(Reshape, "Reshape", 1, [](const nn::ModuleSpec& spec) {
  return std::make_shared<Reshape>(spec.get_ints("shape"));
});

// A user model whose children follow from its config.
struct Classifier : nn::Module {
  Classifier(std::int64_t in, std::int64_t hidden, std::int64_t classes)
      : in(in), hidden(hidden), classes(classes) {
    body = register_module(
        "body", std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
                    std::make_shared<nn::Linear>(in, hidden), std::make_shared<nn::GELU>()}));
    head = register_module("head", std::make_shared<nn::Linear>(hidden, classes));
    reshape = register_module("reshape", std::make_shared<Reshape>(Shape{-1, classes}));
    scale = register_buffer("scale", ones({1}));
  }
  Value config() const override {
    return Dict{{"in", in}, {"hidden", hidden}, {"classes", classes}};
  }
  Tensor forward(const Tensor& x) override {
    return mul(reshape->forward(head->forward(body->forward(x))), scale);
  }

  std::int64_t in, hidden, classes;
  std::shared_ptr<nn::Sequential> body;
  std::shared_ptr<nn::Linear> head;
  std::shared_ptr<Reshape> reshape;
  Tensor scale;
};

MNEMO_REGISTER_MODULE(Classifier, "Classifier", 1, [](const nn::ModuleSpec& spec) {
  return std::make_shared<Classifier>(spec.get_int("in"), spec.get_int("hidden"),
                                      spec.get_int("classes"));
});

// A user model whose children are added after construction: its factory takes the saved
// ones, as containers do.
struct Ensemble : nn::Module {
  void add_member(const std::string& name, nn::ModulePtr member) {
    members.push_back(register_module(name, std::move(member)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor sum = members.at(0)->forward(x);
    for (std::size_t i = 1; i < members.size(); ++i) sum = add(sum, members[i]->forward(x));
    return sum;
  }
  std::vector<nn::ModulePtr> members;
};

MNEMO_REGISTER_MODULE(Ensemble, "Ensemble", 1, [](const nn::ModuleSpec& spec) {
  auto ensemble = std::make_shared<Ensemble>();
  for (const auto& [name, member] : spec.children()) ensemble->add_member(name, member);
  return ensemble;
});

struct Unregistered : nn::Module {
  Tensor forward(const Tensor& x) override { return x; }
};

// Saves `model` to bytes, lets `edit` change the file's content, and writes it back.
std::vector<std::byte> edited(const nn::Module& model, const std::function<void(Dict&)>& edit) {
  Value file = load(save_model_to_bytes(model));
  edit(file.as_dict());
  return save_to_bytes(file);
}

// The file save_model writes for `model`, built by hand after `edit` changed the
// architecture.
std::vector<std::byte> with_architecture(const nn::Module& model,
                                         const std::function<void(Dict&)>& edit) {
  Value architecture = nn::ModuleRegistry::global().describe(model);
  edit(architecture.as_dict());
  return save_to_bytes(Dict{{"mnemo_model", Dict{{"format_version", kModelFormatVersion},
                                                 {"mnemo_version", kVersion},
                                                 {"architecture", to_json(architecture)}}},
                            {"state_dict", model.state_dict()}});
}

Dict& child(Dict& node, const std::string& name) {
  return node.at("children").as_dict().at(name).as_dict();
}

TEST(ModelFile, MlpRoundTripsWithEqualOutputs) {
  TempDir dir;
  auto mlp = make_mlp();
  save_model(*mlp, dir / "mlp.pt");
  std::shared_ptr<nn::Sequential> loaded = load_model<nn::Sequential>(dir / "mlp.pt");
  ASSERT_EQ(loaded->size(), 5u);
  EXPECT_EQ(loaded->repr(), mlp->repr());
  const Tensor x = randn({4, 8});
  EXPECT_TRUE(loaded->forward(x).equal(mlp->forward(x)));
  // The weights are the file's, not views of the original's.
  EXPECT_FALSE(loaded->parameters()[0].storage().is_same(mlp->parameters()[0].storage()));
}

TEST(ModelFile, CnnRoundTripsWithRunningStatsAndEvalMode) {
  TempDir dir;
  auto cnn = make_cnn();
  const Tensor x = randn({2, 1, 8, 8});
  cnn->forward(x);  // moves BatchNorm's running statistics
  cnn->forward(randn({2, 1, 8, 8}));
  cnn->eval();
  save_model(*cnn, dir / "cnn.pt");

  nn::ModulePtr loaded = load_model(dir / "cnn.pt");
  EXPECT_EQ(loaded->name(), "Sequential");
  EXPECT_FALSE(loaded->is_training());
  EXPECT_FALSE(loaded->submodule("1")->is_training());
  EXPECT_EQ(loaded->repr(), cnn->repr());
  EXPECT_TRUE(loaded->forward(x).equal(cnn->forward(x)));
  const StateDict expected = cnn->state_dict();
  const StateDict actual = loaded->state_dict();
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [key, value] : expected) {
    EXPECT_TRUE(actual.at(key).equal(value.as_tensor())) << key;
  }
  EXPECT_EQ(actual.at("1.num_batches_tracked").item<std::int64_t>(), 2);
}

TEST(ModelFile, FileHoldsTheArchitectureAsJsonBesideThePlainStateDict) {
  auto mlp = make_mlp();
  const std::vector<std::byte> bytes = save_model_to_bytes(*mlp);
  EXPECT_EQ(bytes, with_architecture(*mlp, [](Dict&) {}));
  const Value file = load(bytes);
  EXPECT_EQ(file.as_dict().keys(),
            (std::vector<DictKey>{std::string("mnemo_model"), std::string("state_dict")}));
  EXPECT_EQ(file["mnemo_model"]["format_version"].as_int(), kModelFormatVersion);
  EXPECT_EQ(file["mnemo_model"]["mnemo_version"].as_string(), kVersion);
  const std::string& json = file["mnemo_model"]["architecture"].as_string();
  EXPECT_EQ(json, to_json(nn::ModuleRegistry::global().describe(*mlp)));
  EXPECT_THAT(json, HasSubstr("\"type\": \"Sequential\""));
  const StateDict state = file["state_dict"].to_state_dict();
  EXPECT_EQ(state.size(), mlp->state_dict().size());
  EXPECT_TRUE(state.at("0.weight").equal(mlp->submodule("0")->parameter("weight")));
}

TEST(ModelFile, UserModulesRoundTrip) {
  TempDir dir;
  auto ensemble = std::make_shared<Ensemble>();
  ensemble->add_member("small", std::make_shared<Classifier>(6, 4, 3));
  ensemble->add_member("large", std::make_shared<Classifier>(6, 12, 3));
  ensemble->add_member("linear", std::make_shared<nn::Linear>(6, 3));
  std::dynamic_pointer_cast<Classifier>(ensemble->members[1])->scale.fill_(0.5);
  save_model(*ensemble, dir / "ensemble.pt");

  std::shared_ptr<Ensemble> loaded = load_model<Ensemble>(dir / "ensemble.pt");
  ASSERT_EQ(loaded->members.size(), 3u);
  auto large = std::dynamic_pointer_cast<Classifier>(loaded->members[1]);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(large->hidden, 12);
  EXPECT_EQ(large->scale.item<float>(), 0.5f);
  const Tensor x = randn({5, 6});
  EXPECT_TRUE(loaded->forward(x).equal(ensemble->forward(x)));
}

TEST(ModelFile, LoadsWithMmap) {
  TempDir dir;
  auto mlp = make_mlp();
  save_model(*mlp, dir / "mlp.pt");
  nn::ModulePtr loaded = load_model(dir / "mlp.pt", {.load = {.mmap = true}});
  const Tensor x = randn({2, 8});
  EXPECT_TRUE(loaded->forward(x).equal(mlp->forward(x)));
}

// A module with a buffer the file does not hold (not persistent), filled by nn::init.
struct WithScratch : nn::Module {
  WithScratch() {
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 2));
    scratch = register_buffer("scratch", empty({4}), /*persistent=*/false);
    nn::init::constant_(scratch, 7.0);
  }
  Tensor forward(const Tensor& x) override { return fc->forward(x); }
  std::shared_ptr<nn::Linear> fc;
  Tensor scratch;
};

MNEMO_REGISTER_MODULE(WithScratch, "WithScratch", 1,
                      [](const nn::ModuleSpec&) { return std::make_shared<WithScratch>(); });

TEST(ModelFile, LoadDrawsNoInitialValuesForWhatTheFileHolds) {
  TempDir dir;
  auto mlp = make_mlp();
  save_model(*mlp, dir / "mlp.pt");
  manual_seed(11);
  const Tensor before = rand({3});
  manual_seed(11);
  nn::ModulePtr loaded = load_model(dir / "mlp.pt");
  EXPECT_TRUE(rand({3}).equal(before));  // the default generator was not drawn from
  const Tensor x = randn({2, 8});
  EXPECT_TRUE(loaded->forward(x).equal(mlp->forward(x)));

  // What the file does not hold is initialised as the constructor asked.
  save_model(WithScratch(), dir / "scratch.pt");
  auto restored = load_model<WithScratch>(dir / "scratch.pt");
  EXPECT_TRUE(restored->scratch.equal(full({4}, 7.0)));
}

TEST(ModelFile, LoadedParametersAreTheModelsOwnWritableTensors) {
  TempDir dir;
  auto mlp = make_mlp();
  save_model(*mlp, dir / "mlp.pt");
  const auto saved = mlp->named_parameters();
  for (const bool mmap : {false, true}) {
    SCOPED_TRACE(mmap ? "mmap" : "read");
    nn::ModulePtr loaded = load_model(dir / "mlp.pt", {.load = {.mmap = mmap}});
    const auto parameters = loaded->named_parameters();
    ASSERT_EQ(parameters.size(), saved.size());
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      const auto& [name, parameter] = parameters[i];
      EXPECT_EQ(name, saved[i].first);
      EXPECT_TRUE(parameter.equal(saved[i].second)) << name;
      EXPECT_TRUE(parameter.requires_grad()) << name;
      EXPECT_NO_THROW(parameter.mutable_data_ptr()) << name;  // training writes them
    }
  }
  // A file whose tensor has another dtype than the model's: cast into the model's, as
  // load_state_dict copies do.
  const std::vector<std::byte> wider = edited(*mlp, [](Dict& file) {
    Dict& state = file.at("state_dict").as_dict();
    state.insert_or_assign("0.bias", state.at("0.bias").as_tensor().to(DType::kFloat64));
  });
  nn::ModulePtr cast = load_model(wider);
  EXPECT_EQ(cast->submodule("0")->parameter("bias").dtype(), DType::kFloat32);
  EXPECT_TRUE(
      cast->submodule("0")->parameter("bias").equal(mlp->submodule("0")->parameter("bias")));
}

TEST(ModelFile, UsesTheRegistryItIsGiven) {
  nn::ModuleRegistry registry;
  registry.add_builtins();
  registry.add<Unregistered>(
      "Identity", 1, [](const nn::ModuleSpec&) { return std::make_shared<Unregistered>(); });
  nn::Sequential model{std::make_shared<nn::Linear>(2, 2), std::make_shared<Unregistered>()};
  const std::vector<std::byte> bytes = save_model_to_bytes(model, {.registry = &registry});
  nn::ModulePtr loaded = load_model(bytes, {.registry = &registry});
  EXPECT_NE(dynamic_cast<Unregistered*>(loaded->submodule("1").get()), nullptr);

  // The global registry has no "Identity".
  EXPECT_THAT([&] { load_model(bytes); },
              ErrorWith(ErrorCode::kMismatch,
                        "load_model(<bytes>): no module type 'Identity' is registered (at '1'); "
                        "register it with MNEMO_REGISTER_MODULE"));
}

// --- failures ------------------------------------------------------------------------------------

TEST(ModelFile, SaveRefusesAnUnregisteredModuleAndWritesNothing) {
  TempDir dir;
  nn::Sequential model{std::make_shared<nn::Linear>(2, 2),
                       std::make_shared<nn::Sequential>(
                           std::initializer_list<nn::ModulePtr>{std::make_shared<Unregistered>()})};
  const auto path = dir / "model.pt";
  EXPECT_THAT(
      [&] { save_model(model, path); },
      ErrorWith(ErrorCode::kUnsupported, "save_model('" + path.string() + "'): ",
                "the module (at '1.0'), of C++ type mnemo::(anonymous namespace)::Unregistered, "
                "has no registered module type",
                "or save the state_dict instead"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ModelFile, SaveRefusesASafetensorsPath) {
  TempDir dir;
  EXPECT_THAT([&] { save_model(*make_mlp(), dir / "model.safetensors"); },
              ErrorWith(ErrorCode::kInvalidArgument, "a safetensors file holds tensors only"));
}

TEST(ModelFile, LoadRefusesAPlainStateDict) {
  TempDir dir;
  auto mlp = make_mlp();
  save(mlp->state_dict(), dir / "weights.pt");
  EXPECT_THAT(
      [&] { load_model(dir / "weights.pt"); },
      ErrorWith(ErrorCode::kUnsupported, "load_model('" + (dir / "weights.pt").string() + "'): ",
                "the file holds a state_dict, not a model saved by save_model; build the "
                "model in code and call load_state_dict"));
  save(mlp->state_dict(), dir / "weights.safetensors");
  EXPECT_THAT([&] { load_model(dir / "weights.safetensors"); },
              ErrorWith(ErrorCode::kUnsupported, "holds a state_dict"));
}

TEST(ModelFile, LoadRefusesATrainingCheckpoint) {
  const std::vector<std::byte> bytes =
      save_to_bytes(Dict{{"epoch", 3}, {"model_state_dict", make_mlp()->state_dict()}});
  EXPECT_THAT([&] { load_model(bytes); },
              ErrorWith(ErrorCode::kUnsupported,
                        "the file holds a dict with keys 'epoch', 'model_state_dict' (no "
                        "'mnemo_model' record), not a model saved by save_model"));
  const std::vector<std::byte> many_keys =
      save_to_bytes(Dict{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}, {"f", 6}});
  EXPECT_THAT([&] { load_model(many_keys); },
              ErrorWith(ErrorCode::kUnsupported, "keys 'a', 'b', 'c', 'd', 'e', ... (no"));
}

TEST(ModelFile, LoadRefusesAnUnknownType) {
  auto bytes = with_architecture(*make_cnn(), [](Dict& architecture) {
    child(architecture, "3").insert_or_assign("type", "Foo");
  });
  EXPECT_THAT([&] { load_model(bytes); },
              ErrorWith(ErrorCode::kMismatch, "no module type 'Foo' is registered (at '3')"));
}

TEST(ModelFile, LoadRefusesAMissingOrMistypedField) {
  auto missing = with_architecture(*make_cnn(), [](Dict& architecture) {
    child(architecture, "0").at("config").as_dict().erase("groups");
  });
  EXPECT_THAT([&] { load_model(missing); },
              ErrorWith(ErrorCode::kMismatch,
                        "config field 'groups' of Conv2d (at '0') is missing (expected an int"));
  auto mistyped = with_architecture(*make_cnn(), [](Dict& architecture) {
    child(architecture, "9").at("config").as_dict().insert_or_assign("bias", "yes");
  });
  EXPECT_THAT(
      [&] { load_model(mistyped); },
      ErrorWith(ErrorCode::kMismatch,
                "config field 'bias' of Linear (at '9') is a str ('yes'), expected a bool"));
}

TEST(ModelFile, LoadRefusesANewerConfigVersion) {
  auto bytes = with_architecture(
      Classifier(2, 3, 4), [](Dict& architecture) { architecture.insert_or_assign("version", 2); });
  EXPECT_THAT([&] { load_model(bytes); },
              ErrorWith(ErrorCode::kMismatch,
                        "Classifier (at the root) was saved with config version 2, newer than "
                        "version 1, the newest the registered factory reads"));
}

TEST(ModelFile, LoadRefusesANewerModelFormat) {
  auto bytes = edited(*make_mlp(), [](Dict& file) {
    file.at("mnemo_model").as_dict().insert_or_assign("format_version", 2);
  });
  EXPECT_THAT([&] { load_model(bytes); },
              ErrorWith(ErrorCode::kUnsupported, "saved in model format version 2",
                        "reads up to version 1"));
}

TEST(ModelFile, LoadRefusesAStateDictThatDoesNotFit) {
  auto bytes =
      edited(*make_mlp(), [](Dict& file) { file.at("state_dict").as_dict().erase("2.bias"); });
  EXPECT_THAT([&] { load_model(bytes); },
              ErrorWith(ErrorCode::kMismatch, "Error(s) in loading state_dict for Sequential",
                        "Missing key(s) in state_dict: \"2.bias\""));
}

TEST(ModelFile, LoadRefusesAMalformedRecord) {
  auto no_state = edited(*make_mlp(), [](Dict& file) { file.erase("state_dict"); });
  EXPECT_THAT([&] { load_model(no_state); },
              ErrorWith(ErrorCode::kCorrupt, "no 'state_dict' dict beside it"));
  auto bad_children = with_architecture(
      *make_mlp(), [](Dict& architecture) { architecture.insert_or_assign("children", List{}); });
  EXPECT_THAT(
      [&] { load_model(bad_children); },
      ErrorWith(ErrorCode::kCorrupt,
                "the module (at the root) has no 'children' (expected a dict, got a list)"));
  auto not_json = edited(*make_mlp(), [](Dict& file) {
    file.at("mnemo_model").as_dict().insert_or_assign("architecture", "{\"type\": ");
  });
  EXPECT_THAT(
      [&] { load_model(not_json); },
      ErrorWith(ErrorCode::kCorrupt, "the 'mnemo_model' record's architecture is not valid JSON"));
  auto not_text = edited(*make_mlp(), [](Dict& file) {
    file.at("mnemo_model").as_dict().insert_or_assign("architecture", Dict{});
  });
  EXPECT_THAT([&] { load_model(not_text); },
              ErrorWith(ErrorCode::kCorrupt, "has no 'architecture' (JSON text)"));
}

TEST(ModelFile, SaveRefusesAConfigJsonCanNotHold) {
  nn::ModuleRegistry registry;
  registry.add_builtins();
  struct Holder : nn::Module {
    explicit Holder(Value held) : held(std::move(held)) {}
    Value config() const override { return Dict{{"held", held}}; }
    Value held;
  };
  registry.add<Holder>("Holder", 1, [](const nn::ModuleSpec& spec) {
    return std::make_shared<Holder>(spec.get("held"));
  });
  auto save_holding = [&](Value held) {
    nn::Sequential model{std::make_shared<Holder>(std::move(held))};
    return save_model_to_bytes(model, {.registry = &registry});
  };
  EXPECT_THAT([&] { save_holding(ones({2})); },
              ErrorWith(ErrorCode::kUnsupported,
                        "save_model(<bytes>): config field 'held' of "
                        "Holder (at '0') holds a tensor"));
  EXPECT_THAT(
      [&] {
        save_holding(List{1.0, std::numeric_limits<double>::infinity()});
      },
      ErrorWith(ErrorCode::kUnsupported, "holds inf"));
  EXPECT_THAT(
      [&] {
        save_holding(Bytes{1, 2});
      },
      ErrorWith(ErrorCode::kUnsupported, "holds bytes"));
  // What JSON holds comes back, tuples as lists.
  const Value held = Dict{{"none", none},
                          {"flag", true},
                          {"int", -7},
                          {"float", 0.1},
                          {"whole", 2.0},
                          {"text", "caf\u00e9"},
                          {"tuple", Tuple{1, List{}}}};
  nn::ModulePtr loaded = load_model(save_holding(held), {.registry = &registry});
  const Value& back = dynamic_cast<Holder&>(*loaded->submodule("0")).held;
  EXPECT_EQ(back, Value(Dict{{"none", none},
                             {"flag", true},
                             {"int", -7},
                             {"float", 0.1},
                             {"whole", 2.0},
                             {"text", "caf\u00e9"},
                             {"tuple", List{1, List{}}}}));
}

TEST(ModelFile, TypedLoadRefusesAnotherClass) {
  TempDir dir;
  save_model(*make_mlp(), dir / "mlp.pt");
  EXPECT_THAT([&] { load_model<Classifier>(dir / "mlp.pt"); },
              ErrorWith(ErrorCode::kMismatch,
                        "the saved model is a Sequential, not a "
                        "mnemo::(anonymous namespace)::Classifier"));
}

}  // namespace
}  // namespace mnemo
