// Module::load_state_dict: PyTorch's rules and messages, and the all-or-nothing guarantee.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mnemo/nn.h"

namespace mnemo::nn::state_dict_loader_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Net : Module {
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<BatchNorm1d> bn;
  Net() {
    fc1 = register_module("fc1", std::make_shared<Linear>(3, 2));
    fc2 = register_module("fc2", std::make_shared<Linear>(2, 5));
    bn = register_module("bn", std::make_shared<BatchNorm1d>(5));
  }
};

// Every tensor of the model, deep-copied, to check that nothing changed.
std::vector<Tensor> snapshot(const Module& m) {
  std::vector<Tensor> copies;
  for (const auto& [name, value] : m.state_dict()) copies.push_back(value.as_tensor().clone());
  return copies;
}

void expect_unchanged(const Module& m, const std::vector<Tensor>& before) {
  std::size_t i = 0;
  for (const auto& [name, value] : m.state_dict()) {
    EXPECT_TRUE(value.as_tensor().equal(before.at(i++))) << name << " changed";
  }
}

std::string load_error(Module& m, const StateDict& sd, LoadStateDictOptions options = {}) {
  try {
    m.load_state_dict(sd, options);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kMismatch);
    return e.what();
  }
  return "no error";
}

TEST(LoadStateDict, CopiesEveryTensorIntoTheModel) {
  Net source, target;
  source.bn->running_mean.fill_(0.5);
  source.bn->num_batches_tracked.fill_(9);
  const Tensor weight_handle = target.fc1->weight;  // as an optimizer would hold it
  IncompatibleKeys result = target.load_state_dict(source.state_dict());
  EXPECT_TRUE(result.all_matched());
  EXPECT_EQ(result.repr(), "<All keys matched successfully>");
  EXPECT_TRUE(weight_handle.equal(source.fc1->weight));
  EXPECT_FALSE(weight_handle.storage().is_same(source.fc1->weight.storage()));
  EXPECT_EQ(target.bn->num_batches_tracked.item<std::int64_t>(), 9);
  EXPECT_TRUE(target.bn->running_mean.equal(full({5}, 0.5)));
}

// A module of two large parameters given as they are (views included), for the copies
// that load_state_dict makes in pieces over the cores.
struct Pair : Module {
  Pair(const Tensor& a, const Tensor& b) {
    register_parameter("a", a);
    register_parameter("b", b);
  }
};

constexpr std::int64_t kLarge = std::int64_t{1} << 20;  // 4 MiB of float32: two pieces

Tensor view_of(const Tensor& base, std::int64_t offset, std::int64_t numel) {
  return Tensor(base.storage(), base.dtype(), {numel}, {1}, base.storage_offset() + offset);
}

TEST(LoadStateDict, LargeTensorsAreCopiedIntoTheModelsOwnMemory) {
  Pair model(zeros({kLarge}), zeros({kLarge}));
  const void* a_memory = model.parameter("a").data_ptr();
  // a's source starts 3 elements into its storage; b's is not contiguous.
  const Tensor backing = arange(0.0, static_cast<double>(kLarge + 8), 1.0);
  const Tensor strided =
      arange(0.0, static_cast<double>(2 * kLarge), 1.0).view({kLarge, 2}).select(1, 1);
  model.load_state_dict(StateDict{{"a", view_of(backing, 3, kLarge)}, {"b", strided}});
  EXPECT_EQ(model.parameter("a").data_ptr(), a_memory);
  EXPECT_TRUE(model.parameter("a").equal(view_of(backing, 3, kLarge)));
  EXPECT_TRUE(model.parameter("b").equal(strided));
}

TEST(LoadStateDict, LargeCopiesThatShareMemoryAreMadeInOrderAsCopyDoes) {
  // a views the model's storage one element after where its source starts: copied as
  // copy_ copies overlapping tensors, each element from the source's old value. (Copied
  // in pieces instead, on one thread for these 4 MiB, each piece would start from an
  // element the piece before it had already overwritten.)
  const Tensor shared = arange(0.0, static_cast<double>(kLarge + 1), 1.0);
  Pair overlapping(view_of(shared, 1, kLarge), zeros({4}));
  overlapping.load_state_dict(StateDict{{"a", view_of(shared, 0, kLarge)}, {"b", zeros({4})}});
  EXPECT_TRUE(overlapping.parameter("a").equal(arange(0.0, static_cast<double>(kLarge), 1.0)));

  // Tied weights, given different values: the later key wins, as with one copy_ after
  // the other.
  const Tensor tied = zeros({kLarge});
  Pair same(tied, tied);
  same.load_state_dict(StateDict{{"a", full({kLarge}, 1.0)}, {"b", full({kLarge}, 2.0)}});
  EXPECT_TRUE(tied.equal(full({kLarge}, 2.0)));
}

TEST(LoadStateDict, CastsToTheModelsDtype) {
  Net source, target;
  StateDict sd = source.state_dict();
  sd.insert("fc1.weight", full({2, 3}, 0.25, {.dtype = DType::kFloat64}));
  target.load_state_dict(sd);
  EXPECT_EQ(target.fc1->weight.dtype(), DType::kFloat32);
  EXPECT_TRUE(target.fc1->weight.equal(full({2, 3}, 0.25)));
}

TEST(LoadStateDict, ErrorTextIsPyTorchsForMissingUnexpectedAndSizeMismatch) {
  Net net;
  StateDict sd = net.state_dict();
  sd.erase("fc2.bias");
  sd.insert("bn.foo", zeros({1}));
  sd.insert("fc1.extra", zeros({1}));
  sd.insert("extra.w", zeros({1}));
  sd.insert("fc1.weight", zeros({5, 5}));
  sd.insert("bn.running_mean", zeros({7}));
  EXPECT_EQ(load_error(net, sd),
            "Error(s) in loading state_dict for Net:\n"
            "\tMissing key(s) in state_dict: \"fc2.bias\". \n"
            "\tUnexpected key(s) in state_dict: \"extra.w\", \"fc1.extra\", \"bn.foo\". \n"
            "\tsize mismatch for fc1.weight: copying a param with shape torch.Size([5, 5]) from "
            "checkpoint, the shape in current model is torch.Size([2, 3]).\n"
            "\tsize mismatch for bn.running_mean: copying a param with shape torch.Size([7]) "
            "from checkpoint, the shape in current model is torch.Size([5]).");
}

TEST(LoadStateDict, AFailedLoadChangesNothing) {
  Net source, target;
  source.bn->running_var.fill_(3.0);
  StateDict sd = source.state_dict();
  sd.insert("fc2.weight", zeros({9, 9}));  // the one bad entry, after good ones
  const std::vector<Tensor> before = snapshot(target);
  EXPECT_NE(load_error(target, sd, {.strict = false}), "no error");
  expect_unchanged(target, before);

  StateDict missing = source.state_dict();
  missing.erase("bn.bias");
  EXPECT_NE(load_error(target, missing), "no error");
  expect_unchanged(target, before);
}

TEST(LoadStateDict, NonStrictReportsButLoadsTheRest) {
  Net source, target;
  StateDict sd = source.state_dict();
  sd.erase("fc2.bias");
  sd.insert("extra.w", zeros({1}));
  IncompatibleKeys result = target.load_state_dict(sd, {.strict = false});
  EXPECT_THAT(result.missing_keys, ElementsAre("fc2.bias"));
  EXPECT_THAT(result.unexpected_keys, ElementsAre("extra.w"));
  EXPECT_EQ(result.repr(),
            "_IncompatibleKeys(missing_keys=['fc2.bias'], unexpected_keys=['extra.w'])");
  EXPECT_TRUE(target.fc1->weight.equal(source.fc1->weight));
}

TEST(LoadStateDict, ShapeMismatchIsAnErrorEvenWhenNotStrict) {
  Net net;
  StateDict sd = net.state_dict();
  sd.insert("fc1.bias", zeros({3}));
  EXPECT_EQ(load_error(net, sd, {.strict = false}),
            "Error(s) in loading state_dict for Net:\n"
            "\tsize mismatch for fc1.bias: copying a param with shape torch.Size([3]) from "
            "checkpoint, the shape in current model is torch.Size([2]).");
}

TEST(LoadStateDict, NonTensorValueGetsPyTorchsMessage) {
  Linear lin(1, 1);
  StateDict sd = lin.state_dict();
  sd.insert("bias", Value(0.5));
  EXPECT_EQ(load_error(lin, sd),
            "Error(s) in loading state_dict for Linear:\n"
            "\tWhile copying the parameter named \"bias\", expected torch.Tensor or Tensor-like "
            "object from checkpoint but received <class 'float'>");
}

TEST(LoadStateDict, KeysNestedUnderATensorAreUnexpected) {
  Linear lin(1, 1);
  StateDict sd = lin.state_dict();
  sd.insert("weight.extra", zeros({1}));
  IncompatibleKeys result = lin.load_state_dict(sd, {.strict = false});
  EXPECT_THAT(result.unexpected_keys, ElementsAre("weight.extra"));
}

TEST(LoadStateDict, NonPersistentBuffersAreNeitherExpectedNorAccepted) {
  Module m("M");
  m.register_buffer("cache", zeros({2}), /*persistent=*/false);
  StateDict sd;
  sd.insert("cache", ones({2}));
  IncompatibleKeys result = m.load_state_dict(sd, {.strict = false});
  EXPECT_THAT(result.missing_keys, IsEmpty());
  EXPECT_THAT(result.unexpected_keys, ElementsAre("cache"));
  EXPECT_TRUE(m.buffer("cache").equal(zeros({2})));
}

TEST(LoadStateDict, ZeroDimParameterAcceptsAOneElementVector) {
  Module m("M");
  m.register_parameter("temperature", zeros({}));
  StateDict sd;
  sd.insert("temperature", full({1}, 2.5));
  m.load_state_dict(sd);
  EXPECT_EQ(m.parameter("temperature").item<float>(), 2.5f);
}

TEST(LoadStateDict, AssignAdoptsTheCheckpointTensorsKeepingHandles) {
  Linear lin(2, 2);
  const Tensor handle = lin.weight;
  StateDict sd = lin.state_dict();
  Tensor replacement = full({2, 2}, 4.0, {.dtype = DType::kFloat64});
  sd.insert("weight", replacement);
  lin.load_state_dict(sd, {.assign = true});
  EXPECT_TRUE(handle.storage().is_same(replacement.storage()));
  EXPECT_EQ(handle.dtype(), DType::kFloat64);
  EXPECT_TRUE(handle.requires_grad());
  EXPECT_TRUE(lin.weight.is_same(handle));
}

TEST(LoadStateDict, BatchNormToleratesAMissingCountFromOldStates) {
  BatchNorm1d saved(4);
  saved.num_batches_tracked.fill_(5);
  StateDict sd = saved.state_dict();
  sd.erase("num_batches_tracked");

  // Version 2 metadata: a missing count is a missing key.
  BatchNorm1d strict_target(4);
  EXPECT_EQ(load_error(strict_target, sd),
            "Error(s) in loading state_dict for BatchNorm1d:\n"
            "\tMissing key(s) in state_dict: \"num_batches_tracked\". ");

  // No metadata (a plain dict) or version 1: filled with 0, as PyTorch does.
  for (int variant = 0; variant < 2; ++variant) {
    StateDict old = sd;
    if (variant == 0) {
      old.clear_metadata();
    } else {
      old.set_version("", 1);
    }
    BatchNorm1d target(4);
    target.num_batches_tracked.fill_(7);
    EXPECT_TRUE(target.load_state_dict(old).all_matched());
    EXPECT_EQ(target.num_batches_tracked.item<std::int64_t>(), 0);
  }
}

TEST(LoadStateDict, MissingExtraStateIsReported) {
  struct Stateful : Module {
    Stateful() : Module("Stateful") {}
    bool has_extra_state() const override { return true; }
    Value get_extra_state() const override { return 1; }
    void set_extra_state(const Value&) override {}
  };
  Stateful m;
  EXPECT_EQ(load_error(m, StateDict{}),
            "Error(s) in loading state_dict for Stateful:\n"
            "\tMissing key(s) in state_dict: \"_extra_state\". ");
  // A module without extra state reports one it is given rather than dropping it.
  Linear lin(1, 1);
  StateDict sd = lin.state_dict();
  sd.insert("_extra_state", Value(1));
  EXPECT_THAT(lin.load_state_dict(sd, {.strict = false}).unexpected_keys,
              ElementsAre("_extra_state"));
}

TEST(LoadStateDict, ReadOnlyModelTensorsAreRefusedBeforeAnyCopy) {
  static const float kValues[2] = {1.0f, 2.0f};
  Module m("M");
  m.register_buffer("a", zeros({2}));
  m.register_buffer("b", Tensor(Storage::from_foreign(const_cast<float*>(kValues), sizeof(kValues),
                                                      {}, Device::cpu(), /*writable=*/false),
                                DType::kFloat32, {2}, {1}));
  StateDict sd;
  sd.insert("a", ones({2}));
  sd.insert("b", ones({2}));
  EXPECT_THAT(load_error(m, sd), ::testing::HasSubstr("read-only"));
  EXPECT_TRUE(m.buffer("a").equal(zeros({2})));
}

}  // namespace
}  // namespace mnemo::nn::state_dict_loader_test
