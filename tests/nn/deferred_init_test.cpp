// DeferredInit: nn::init's fills recorded while a model is built, and made afterwards for
// the tensors a load did not write.
#include "nn/deferred_init.h"

#include <gtest/gtest.h>

#include "mnemo/nn/init.h"

namespace mnemo::nn {
namespace {

TEST(DeferredInit, RecordsFillsAndMakesThoseOfTensorsTheLoadLeftAlone) {
  const Tensor drawn = zeros({64}), constant = zeros({3}), loaded = zeros({5});
  manual_seed(7);
  DeferredInit deferral;
  init::kaiming_uniform_(drawn.view({8, 8}), 1.0);
  init::constant_(constant, 2.5);
  init::normal_(loaded, 0.0, 1.0);
  EXPECT_TRUE(drawn.equal(zeros({64})));  // nothing filled yet
  EXPECT_TRUE(constant.equal(zeros({3})));
  deferral.finish([&](const Tensor& t) { return t.storage().is_same(loaded.storage()); });
  EXPECT_TRUE(constant.equal(full({3}, 2.5)));
  EXPECT_TRUE(loaded.equal(zeros({5})));  // the load's values stay

  // The deferred fill drew what the fill made at once draws from the same generator state:
  // the normal_ skipped took nothing from the generator.
  const Tensor expected = zeros({64});
  manual_seed(7);
  init::kaiming_uniform_(expected.view({8, 8}), 1.0);
  EXPECT_TRUE(drawn.equal(expected));
  EXPECT_EQ(DeferredInit::current(), nullptr);
}

TEST(DeferredInit, FillsFromAGivenGeneratorAreMadeAtOnce) {
  Generator generator(3);
  const Tensor t = zeros({4});
  DeferredInit deferral;
  init::uniform_(t, 1.0, 2.0, &generator);
  EXPECT_FALSE(t.equal(zeros({4})));
  deferral.finish([](const Tensor&) { return false; });
}

TEST(DeferredInit, ChecksArgumentsAtOnceAndDropsItsFillsWhenNotFinished) {
  const Tensor integers = zeros({2}, {.dtype = DType::kInt64});
  const Tensor t = zeros({2});
  {
    DeferredInit deferral;
    EXPECT_EQ(DeferredInit::current(), &deferral);
    EXPECT_THROW(init::uniform_(integers, 0.0, 1.0), Error);
    init::ones_(t);
  }
  EXPECT_EQ(DeferredInit::current(), nullptr);
  EXPECT_TRUE(t.equal(zeros({2})));  // dropped: the build it belonged to failed
  init::ones_(t);                    // and fills are made at once again
  EXPECT_TRUE(t.equal(ones({2})));
}

}  // namespace
}  // namespace mnemo::nn
