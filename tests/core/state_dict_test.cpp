#include "mnemo/core/state_dict.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/tensor_test_util.h"

namespace mnemo {
namespace {

using testing::kInvalid;
using testing::throws_error;

std::vector<std::string> names(const StateDict& sd) { return sd.keys(); }

TEST(StateDictTest, KeepsInsertionOrder) {
  const Tensor w = zeros({2, 2}), b = zeros({2}), r = zeros({3});
  StateDict sd{{"fc.weight", w}, {"fc.bias", b}};
  sd.insert("bn.running_mean", r);
  EXPECT_EQ(names(sd), (std::vector<std::string>{"fc.weight", "fc.bias", "bn.running_mean"}));
  EXPECT_EQ(sd.size(), 3u);
  EXPECT_FALSE(sd.empty());
  EXPECT_TRUE(sd.at("fc.bias").is_same(b));
  std::vector<std::string> iterated;
  for (const auto& [name, value] : sd) {
    iterated.push_back(name);
    EXPECT_TRUE(value.is_tensor());
  }
  EXPECT_EQ(iterated, names(sd));
  EXPECT_TRUE(StateDict().empty());
}

TEST(StateDictTest, ReplacingKeepsThePosition) {
  StateDict sd{{"a", zeros({1})}, {"b", zeros({1})}, {"c", zeros({1})}};
  const Tensor replacement = ones({4});
  sd.insert("b", replacement);
  EXPECT_EQ(names(sd), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(sd.at("b").is_same(replacement));
  EXPECT_TRUE(sd.erase("a"));
  EXPECT_FALSE(sd.erase("a"));
  EXPECT_EQ(names(sd), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(sd.contains("c"));
  EXPECT_FALSE(sd.contains("a"));
  EXPECT_NE(sd.find("c"), nullptr);
  EXPECT_EQ(sd.find("a"), nullptr);
}

TEST(StateDictTest, AtErrors) {
  StateDict sd{{"w", zeros({1})}};
  sd.insert("layer._extra_state", Value(Dict{{"k", 1}}));
  sd.insert("count._extra_state", Value(3));
  EXPECT_TRUE(throws_error([&] { (void)sd.at("missing"); }, kInvalid,
                           "no key 'missing' in the state_dict"));
  EXPECT_TRUE(throws_error([&] { (void)sd.at("layer._extra_state"); }, kInvalid,
                           "state_dict entry 'layer._extra_state' is a dict, not a Tensor"));
  EXPECT_TRUE(throws_error([&] { (void)sd.at("count._extra_state"); }, kInvalid,
                           "is an int, not a Tensor"));
  EXPECT_EQ((*sd.find("count._extra_state")).as_int(), 3);
}

TEST(StateDictTest, MetadataVersions) {
  StateDict sd;
  EXPECT_FALSE(sd.has_metadata());
  EXPECT_EQ(sd.metadata(), nullptr);
  EXPECT_EQ(sd.version(""), std::nullopt);
  sd.set_version("", 1);
  sd.set_version("bn", 2);
  sd.set_version("bn", 3);  // replaces
  EXPECT_TRUE(sd.has_metadata());
  EXPECT_EQ(sd.version(""), 1);
  EXPECT_EQ(sd.version("bn"), 3);
  EXPECT_EQ(sd.version("fc"), std::nullopt);
  const Dict* metadata = sd.metadata();
  ASSERT_NE(metadata, nullptr);
  EXPECT_TRUE(metadata->is_ordered_dict());
  EXPECT_EQ(metadata->size(), 2u);
  EXPECT_EQ(Value(*metadata).repr(), "OrderedDict([('', {'version': 1}), ('bn', {'version': 3})])");
  sd.clear_metadata();
  EXPECT_FALSE(sd.has_metadata());
}

TEST(StateDictTest, VersionIgnoresOddMetadata) {
  StateDict sd;
  sd.set_metadata(Dict{{"a", 5}, {"b", Dict{{"version", "two"}}}, {"c", Dict{{"other", 1}}}});
  EXPECT_TRUE(sd.metadata()->is_ordered_dict());  // set_metadata marks it so
  EXPECT_EQ(sd.version("a"), std::nullopt);
  EXPECT_EQ(sd.version("b"), std::nullopt);
  EXPECT_EQ(sd.version("c"), std::nullopt);
  sd.set_version("a", 4);  // a non-dict entry is replaced
  EXPECT_EQ(sd.version("a"), 4);
  sd.set_version("c", 1);  // other fields stay
  EXPECT_EQ(sd.metadata()->at("c").as_dict().at("other").as_int(), 1);
}

TEST(StateDictTest, ToValueIsAnOrderedDictWithMetadataAttributes) {
  const Tensor w = tensor<float>({1, 2});
  StateDict sd{{"w", w}, {"b", zeros({1})}};
  sd.set_version("", 1);
  const Value v = sd.to_value();
  ASSERT_TRUE(v.is_dict());
  const Dict& d = v.as_dict();
  EXPECT_TRUE(d.is_ordered_dict());
  EXPECT_EQ(std::get<std::string>(d.keys()[0]), "w");
  EXPECT_TRUE(v["w"].as_tensor().is_same(w));  // the same tensors, not copies
  ASSERT_NE(d.attributes(), nullptr);
  EXPECT_EQ(Value(*d.attributes()).repr(), "{'_metadata': OrderedDict([('', {'version': 1})])}");
  EXPECT_EQ(Value(sd), v);  // the implicit conversion is to_value()
  EXPECT_EQ((StateDict{{"w", w}}.to_value().as_dict().attributes()), nullptr);
}

TEST(StateDictTest, RoundTripsThroughValue) {
  StateDict sd{{"features.0.weight", tensor<float>({1, 2})}, {"features.0.bias", zeros({1})}};
  sd.insert("features._extra_state", Value(List{1, "x"}));
  sd.set_version("", 1);
  sd.set_version("features.1", 2);
  const StateDict back = StateDict::from_value(sd.to_value());
  EXPECT_EQ(back, sd);
  EXPECT_EQ(names(back), names(sd));
  EXPECT_EQ(back.version("features.1"), 2);
  EXPECT_EQ(Value(sd).to_state_dict(), sd);
  const Value checkpoint = Dict{{"model", sd}};
  EXPECT_EQ(checkpoint["model"].to_state_dict(), sd);
}

TEST(StateDictTest, EqualityComparesTensorsByValueAndMetadata) {
  StateDict a{{"w", tensor<float>({1})}};
  StateDict b{{"w", tensor<float>({1})}};
  EXPECT_EQ(a, b);
  b.set_version("", 1);
  EXPECT_NE(a, b);
  a.set_version("", 1);
  EXPECT_EQ(a, b);
  a.insert("w", tensor<float>({2}));
  EXPECT_NE(a, b);
}

TEST(StateDictTest, FromPlainDictHasNoMetadata) {
  const Value plain = Dict{{"w", zeros({1})}};
  const StateDict sd = StateDict::from_value(plain);
  EXPECT_FALSE(sd.has_metadata());
  EXPECT_EQ(sd.size(), 1u);
  Dict odd_attributes{{"w", zeros({1})}};
  odd_attributes.set_attributes(Dict{{"_metadata", 5}, {"other", 1}});
  EXPECT_FALSE(StateDict::from_value(odd_attributes).has_metadata());
}

TEST(StateDictTest, FromValueRefusals) {
  EXPECT_TRUE(throws_error([] { StateDict::from_value(List{}); }, kInvalid,
                           "a state_dict must be a dict of tensors, got a list"));
  EXPECT_TRUE(throws_error([] { StateDict::from_value(Value(7)); }, kInvalid, "got an int"));
  EXPECT_TRUE(throws_error(
      [] {
        StateDict::from_value(Dict{{3, zeros({1})}});
      },
      kInvalid, "key 3 is an int"));
  EXPECT_TRUE(throws_error(
      [] {
        StateDict::from_value(Dict{{"w", zeros({1})}, {"epoch", 5}});
      },
      kInvalid, "state_dict entry 'epoch' is an int, not a Tensor"));
  EXPECT_TRUE(throws_error(
      [] {
        StateDict::from_value(Dict{{"x_extra_state", 1}});
      },
      kInvalid, "'x_extra_state' is an int"));
  EXPECT_TRUE(throws_error(
      [] {
        StateDict::from_value(Dict{{"n", none}});
      },
      kInvalid, "'n' is None, not a Tensor"));
}

TEST(StateDictTest, FromValueHintsAtANestedCheckpoint) {
  const StateDict model{{"fc.weight", zeros({1})}};
  const Value checkpoint = Dict{{"model_state_dict", model}, {"epoch", 3}};
  EXPECT_TRUE(
      throws_error([&] { checkpoint.to_state_dict(); }, kInvalid,
                   "state_dict entry 'model_state_dict' is a dict, not a Tensor; this looks "
                   "like a checkpoint holding several dicts: take the state_dict from it "
                   "first, e.g. value['model_state_dict'].to_state_dict()"));
  EXPECT_TRUE(throws_error([&] { (void)checkpoint["epoch"].to_state_dict(); }, kInvalid,
                           "expected a state_dict (a dict of tensors) at ['epoch'], got an int"));
}

TEST(StateDictTest, ExtraStateMayBeAnything) {
  const Value v = Dict{{"w", zeros({1})},
                       {"_extra_state", "root state"},
                       {"block.0._extra_state", Dict{{"step", 3}}},
                       {"block.1._extra_state", none}};
  const StateDict sd = StateDict::from_value(v);
  EXPECT_EQ(sd.size(), 4u);
  EXPECT_EQ(sd.find("block.0._extra_state")->as_dict().at("step").as_int(), 3);
  EXPECT_EQ(sd.find("_extra_state")->as_string(), "root state");
  EXPECT_EQ(sd.to_value(), [&] {
    Value ordered = v;
    ordered.as_dict().set_ordered_dict(true);
    return ordered;
  }());
}

TEST(StateDictTest, StreamsAsAnOrderedDict) {
  StateDict sd{{"w", tensor<float>({1.5f})}};
  std::ostringstream out;
  out << sd;
  EXPECT_EQ(out.str(), "OrderedDict([('w', tensor([1.5000]))])");
}

}  // namespace
}  // namespace mnemo
