// salvage_state_dict recovers what model.state_dict() would give from a salvaged
// nn.Module: parameters, then persistent buffers, then submodules, with versions.
#include "formats/pickle/module_salvage.h"

#include <gtest/gtest.h>

#include "formats/pickle/pickle_test_util.h"

namespace mnemo::pickle::testing {
namespace {

Dict ordered(std::initializer_list<Dict::Item> items) {
  Dict dict(items);
  dict.set_ordered_dict(true);
  return dict;
}

Value module(const std::string& class_name, Dict parameters, Dict buffers, Dict modules,
             List non_persistent = {}) {
  const Dict state{{"training", true},
                   {"_parameters", parameters},
                   {"_buffers", buffers},
                   {"_non_persistent_buffers_set", non_persistent},
                   {"_backward_hooks", ordered({})},
                   {"_modules", modules}};
  return Dict{{"__class__", class_name}, {"__args__", Tuple{}}, {"__state__", state}};
}

Tensor parameter(const Shape& shape) {
  Tensor t = zeros(shape);
  t.set_requires_grad(true);
  return t;
}

TEST(ModuleSalvage, StateDictInPyTorchOrderWithVersions) {
  const Value fc = module("torch.nn.modules.linear.Linear",
                          ordered({{"weight", parameter({3, 2})}, {"bias", none}}), ordered({}),
                          ordered({}));
  const Value bn = module(
      "torch.nn.modules.batchnorm.BatchNorm1d",
      ordered({{"weight", parameter({3})}, {"bias", parameter({3})}}),
      ordered({{"running_mean", zeros({3})},
               {"running_var", zeros({3})},
               {"num_batches_tracked", zeros({}, {.dtype = DType::kInt64})}}),
      ordered({}));
  const Value net = module("__main__.Net", ordered({{"scale", parameter({1})}}),
                           ordered({{"nb", zeros({2})}, {"kept", zeros({2})}, {"unset", none}}),
                           ordered({{"fc", fc}, {"bn", bn}, {"gone", none}}), List{"nb"});
  const StateDict sd = pickle::salvage_state_dict(net);
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"scale", "kept", "fc.weight", "bn.weight",
                                                 "bn.bias", "bn.running_mean", "bn.running_var",
                                                 "bn.num_batches_tracked"}));
  EXPECT_EQ(sd.at("fc.weight").sizes(), (Shape{3, 2}));
  EXPECT_FALSE(sd.at("fc.weight").requires_grad());  // detached, as state_dict() is
  EXPECT_TRUE(sd.at("fc.weight").storage().is_same(
      net["__state__"]["_modules"]["fc"]["__state__"]["_parameters"]["weight"].as_tensor().storage()));
  EXPECT_EQ(sd.version(""), 1);
  EXPECT_EQ(sd.version("fc"), 1);
  EXPECT_EQ(sd.version("bn"), 2);
  EXPECT_EQ(sd.metadata()->keys(), (std::vector<DictKey>{"", "fc", "bn"}));
}

TEST(ModuleSalvage, VersionTwoForTheNormBaseFamily) {
  for (const char* name : {"torch.nn.modules.batchnorm.BatchNorm2d", "torch.nn.modules.batchnorm.SyncBatchNorm",
                           "torch.nn.modules.instancenorm.InstanceNorm1d", "mylib.FrozenBatchNorm2d"}) {
    EXPECT_EQ(
        pickle::salvage_state_dict(module(name, ordered({}), ordered({}), ordered({}))).version(""),
        2)
        << name;
  }
  EXPECT_EQ(pickle::salvage_state_dict(module("torch.nn.modules.normalization.LayerNorm",
                                              ordered({}), ordered({}), ordered({})))
                .version(""),
            1);
}

TEST(ModuleSalvage, RefusesWhatIsNotAModule) {
  EXPECT_TRUE(throws_error([] { pickle::salvage_state_dict(Value(3)); },
                           ErrorCode::kInvalidArgument,
                           {"not a salvaged nn.Module", "it is an int"}));
  const Value no_class = Dict{{"a", 1}};
  EXPECT_TRUE(throws_error([&] { pickle::salvage_state_dict(no_class); },
                           ErrorCode::kInvalidArgument, {"no '__class__'"}));
  const Value no_parameters =
      Dict{{"__class__", "x.Y"}, {"__args__", Tuple{}}, {"__state__", Dict{{"_buffers", Dict{}}}}};
  EXPECT_TRUE(throws_error([&] { pickle::salvage_state_dict(no_parameters); },
                           ErrorCode::kInvalidArgument, {"no '_parameters'"}));
  const Value bad_child = module("a.Net", ordered({}), ordered({}),
                                 ordered({{"block", module("a.Block", ordered({{"w", 1.0}}),
                                                           ordered({}), ordered({}))}}));
  EXPECT_TRUE(throws_error([&] { pickle::salvage_state_dict(bad_child); },
                           ErrorCode::kInvalidArgument, {"'block'", "'w' is a float"}));
}

// A hand-written pickle of a module, read with salvage = true, as torch.save(model)
// writes one: NEWOBJ of the class, then BUILD with its __dict__.
TEST(ModuleSalvage, FromASalvagedPickle) {
  PickleBuilder b;
  b.proto().global("__main__", "Net").put(0).op(Op::kEmptyTuple).op(Op::kNewObj).put(1);
  b.op(Op::kEmptyDict).mark();
  b.unicode("training").op(Op::kNewTrue);
  b.unicode("_parameters").global("collections", "OrderedDict").put(2).op(Op::kEmptyTuple);
  b.op(Op::kReduce).unicode("w").global("torch._utils", "_rebuild_parameter");
  b.tensor("FloatStorage", "0", 4, 0, {2, 2}, {2, 1}).op(Op::kNewTrue).get(2).op(Op::kEmptyTuple);
  b.op(Op::kReduce).op(Op::kTuple3).op(Op::kReduce).op(Op::kSetItem);
  b.unicode("_buffers").get(2).op(Op::kEmptyTuple).op(Op::kReduce);
  b.unicode("_non_persistent_buffers_set").global("__builtin__", "set").op(Op::kEmptyList);
  b.op(Op::kTuple1).op(Op::kReduce);
  b.unicode("act").global("torch.nn.functional", "relu");  // a function kept as an attribute
  b.unicode("_modules").get(2).op(Op::kEmptyTuple).op(Op::kReduce);
  b.op(Op::kSetItems).op(Op::kBuild).stop();
  const Value object = read(b, {.salvage = true});
  EXPECT_EQ(object["__class__"].as_string(), "__main__.Net");
  EXPECT_EQ(object["__state__"]["act"].as_string(), "torch.nn.functional.relu");
  const StateDict sd = pickle::salvage_state_dict(object);
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"w"}));
  EXPECT_EQ(sd.at("w").sizes(), (Shape{2, 2}));
  EXPECT_EQ(sd.version(""), 1);
}

}  // namespace
}  // namespace mnemo::pickle::testing
