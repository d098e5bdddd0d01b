// LR schedulers: lr sequences (the expected values are what PyTorch 1.13 prints for the
// same schedules, to the last digit), state_dict layouts, load_state_dict, initial_lr,
// SequentialLR's hand-over, and Python's int/float arithmetic.
#include "mnemo/optim/lr_scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mnemo/optim.h"
#include "optim/python_number.h"
#include "support/errors.h"

namespace mnemo::optim {
namespace {

using mnemo::testing::error_of;

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

struct Fixture {
  Tensor p = zeros({1});
  SGD opt;
  explicit Fixture(Number lr = 0.1) : opt({p}, {.lr = lr}) {}
};

// The lr after construction and after each of `steps` steps, as Python's repr.
std::vector<std::string> lr_reprs(Optimizer& opt, LRScheduler& scheduler, int steps) {
  std::vector<std::string> out{opt.param_groups()[0].options.at("lr").repr()};
  for (int i = 0; i < steps; ++i) {
    scheduler.step();
    out.push_back(opt.param_groups()[0].options.at("lr").repr());
  }
  return out;
}

TEST(LRScheduler, StepLR) {
  Fixture f;
  StepLR s(f.opt, 3, {.gamma = 0.5});
  EXPECT_THAT(lr_reprs(f.opt, s, 12),
              ElementsAreArray({"0.1", "0.1", "0.1", "0.05", "0.05", "0.05", "0.025", "0.025",
                                "0.025", "0.0125", "0.0125", "0.0125", "0.00625"}));
  EXPECT_EQ(s.state_dict().repr(),
            "{'step_size': 3, 'gamma': 0.5, 'base_lrs': [0.1], 'last_epoch': 12, 'verbose': False, "
            "'_step_count': 13, '_get_lr_called_within_step': False, '_last_lr': [0.00625]}");
}

TEST(LRScheduler, MultiStepLRCountsRepeatedMilestones) {
  Fixture f;
  MultiStepLR s(f.opt, {2, 5, 5}, {.gamma = 0.5});
  EXPECT_THAT(lr_reprs(f.opt, s, 12),
              ElementsAreArray({"0.1", "0.1", "0.05", "0.05", "0.05", "0.0125", "0.0125", "0.0125",
                                "0.0125", "0.0125", "0.0125", "0.0125", "0.0125"}));
  // PyTorch's Counter({5: 2, 2: 1}) keeps first-appearance order: {2: 1, 5: 2}.
  EXPECT_EQ(s.state_dict()["milestones"].value().repr(), "{2: 1, 5: 2}");
}

TEST(LRScheduler, ExponentialLR) {
  Fixture f;
  ExponentialLR s(f.opt, 0.9);
  EXPECT_THAT(
      lr_reprs(f.opt, s, 12),
      ElementsAreArray({"0.1", "0.09000000000000001", "0.08100000000000002", "0.07290000000000002",
                        "0.06561000000000002", "0.05904900000000002", "0.05314410000000002",
                        "0.04782969000000002", "0.043046721000000024", "0.03874204890000002",
                        "0.03486784401000002", "0.03138105960900001", "0.028242953648100012"}));
}

TEST(LRScheduler, CosineAnnealingLRRecursiveFormKeepsPyTorchsRounding) {
  Fixture f;
  CosineAnnealingLR s(f.opt, 4, {.eta_min = 0.01});
  EXPECT_THAT(
      lr_reprs(f.opt, s, 12),
      ElementsAreArray({"0.1", "0.08681980515339464", "0.05500000000000001", "0.023180194846605363",
                        "0.01", "0.023180194846605363", "0.05500000000000002",
                        "0.08681980515339469", "0.10000000000000006", "0.0868198051533947",
                        "0.05500000000000005", "0.023180194846605412", "0.01"}));
  EXPECT_EQ(s.state_dict().repr(),
            "{'T_max': 4, 'eta_min': 0.01, 'base_lrs': [0.1], 'last_epoch': 12, 'verbose': False, "
            "'_step_count': 13, '_get_lr_called_within_step': False, '_last_lr': [0.01]}");
}

TEST(LRScheduler, LinearLRWarmUp) {
  Fixture f;
  LinearLR s(f.opt, {.start_factor = 0.25, .total_iters = 4});
  EXPECT_THAT(lr_reprs(f.opt, s, 6),
              ElementsAreArray({"0.025", "0.043750000000000004", "0.06250000000000001",
                                "0.08125000000000002", "0.10000000000000002", "0.10000000000000002",
                                "0.10000000000000002"}));
  EXPECT_EQ(
      s.state_dict().as_dict().keys(),
      (std::vector<DictKey>{"start_factor", "end_factor", "total_iters", "base_lrs", "last_epoch",
                            "verbose", "_step_count", "_get_lr_called_within_step", "_last_lr"}));
  EXPECT_THAT(error_of([&] { LinearLR bad(f.opt, {.start_factor = 1.5}); }),
              HasSubstr("Starting multiplicative factor expected to be between 0 and 1."));
  EXPECT_THAT(error_of([&] { LinearLR bad(f.opt, {.end_factor = -1}); }),
              HasSubstr("Ending multiplicative factor expected to be between 0 and 1."));
}

TEST(LRScheduler, SequentialLRHandsOverAtMilestonesWithTheClosedForm) {
  Fixture f;
  auto warmup =
      std::make_shared<LinearLR>(f.opt, LinearLROptions{.start_factor = 0.5, .total_iters = 2});
  auto cosine = std::make_shared<CosineAnnealingLR>(f.opt, 5);
  auto decay = std::make_shared<ExponentialLR>(f.opt, 0.5);
  SequentialLR s(f.opt, {warmup, cosine, decay}, {3, 6});
  EXPECT_THAT(
      lr_reprs(f.opt, s, 10),
      ElementsAreArray({"0.05", "0.07500000000000001", "0.1", "0.1", "0.09045084971874738",
                        "0.06545084971874737", "0.1", "0.05", "0.025", "0.0125", "0.00625"}));
  EXPECT_EQ(s.state_dict().repr(),
            "{'_milestones': [3, 6], 'last_epoch': 10, '_last_lr': [0.00625], '_schedulers': ["
            "{'start_factor': 0.5, 'end_factor': 1.0, 'total_iters': 2, 'base_lrs': [0.1], "
            "'last_epoch': 2, 'verbose': False, '_step_count': 3, '_get_lr_called_within_step': "
            "False, '_last_lr': [0.1]}, {'T_max': 5, 'eta_min': 0, 'base_lrs': [0.1], "
            "'last_epoch': 2, 'verbose': False, '_step_count': 4, '_get_lr_called_within_step': "
            "False, '_last_lr': [0.06545084971874737]}, {'gamma': 0.5, 'base_lrs': [0.1], "
            "'last_epoch': 4, 'verbose': False, '_step_count': 6, '_get_lr_called_within_step': "
            "False, '_last_lr': [0.00625]}]}");
}

TEST(LRScheduler, SequentialLRChecksItsArguments) {
  Fixture f;
  Fixture other;
  auto a = std::make_shared<ExponentialLR>(f.opt, 0.5);
  auto b = std::make_shared<ExponentialLR>(other.opt, 0.5);
  EXPECT_THAT(error_of([&] {
                SequentialLR s(f.opt, {a, b}, {2});
              }),
              HasSubstr("got schedulers at index 1 to be different than the optimizer passed in"));
  EXPECT_THAT(
      error_of([&] { SequentialLR s(f.opt, {a}, {2}); }),
      HasSubstr("but got number of schedulers 1 and the number of milestones to be equal to 1"));
}

TEST(LRScheduler, AnIntLrStaysAnIntUntilAFormulaMakesItAFloat) {
  Fixture f(1);
  StepLR s(f.opt, 2, {.gamma = 0.5});
  EXPECT_THAT(lr_reprs(f.opt, s, 4), ElementsAreArray({"1", "1", "0.5", "0.5", "0.25"}));
  EXPECT_EQ(s.state_dict()["base_lrs"].value().repr(), "[1]");
}

TEST(LRScheduler, InitialLrIsAddedToTheOptimizerGroupsAsPyTorchDoes) {
  Fixture f;
  StepLR s(f.opt, 3);
  EXPECT_EQ(f.opt.state_dict()["param_groups"][0].value().repr(),
            "{'lr': 0.1, 'momentum': 0, 'dampening': 0, 'weight_decay': 0, 'nesterov': False, "
            "'maximize': False, 'foreach': None, 'differentiable': False, 'initial_lr': 0.1, "
            "'params': [0]}");
}

TEST(LRScheduler, ResumingNeedsInitialLr) {
  Fixture f;
  EXPECT_THAT(
      error_of([&] { StepLR s(f.opt, 3, {.last_epoch = 4}); }),
      HasSubstr(
          "param 'initial_lr' is not specified in param_groups[0] when resuming an optimizer"));
  f.opt.param_groups()[0].options.insert_or_assign("initial_lr", 0.4);
  StepLR s(f.opt, 3, {.last_epoch = 4});
  // PyTorch's constructor steps once more: epoch 5, not a multiple of 3.
  EXPECT_EQ(s.last_epoch(), 5);
  EXPECT_EQ(s.get_last_lr(), std::vector<double>{0.1});
}

TEST(LRScheduler, StepWithAnEpochUsesTheClosedForm) {
  Fixture f;
  StepLR s(f.opt, 3, {.gamma = 0.5});
  s.step(7);  // 0.1 * 0.5 ** (7 // 3)
  EXPECT_EQ(s.get_last_lr(), std::vector<double>{0.1 * 0.25});
  EXPECT_EQ(s.last_epoch(), 7);
}

TEST(LRScheduler, LoadStateDictRestoresTheScheduleAndKeepsUnknownKeys) {
  Fixture f;
  CosineAnnealingLR s(f.opt, 10);
  for (int i = 0; i < 4; ++i) s.step();
  Value sd = s.state_dict();
  sd.as_dict().insert_or_assign("_from_the_future", 3);

  Fixture g;
  CosineAnnealingLR t(g.opt, 99, {.eta_min = 0.5});
  t.load_state_dict(sd);
  g.opt.param_groups()[0].options.insert_or_assign("lr", f.opt.param_groups()[0].options.at("lr"));
  EXPECT_EQ(t.state_dict(), sd);
  for (int i = 0; i < 5; ++i) {
    s.step();
    t.step();
    EXPECT_EQ(s.get_last_lr(), t.get_last_lr());
  }
}

TEST(LRScheduler, AFailedLoadChangesNothing) {
  Fixture f;
  StepLR s(f.opt, 3);
  const Value before = s.state_dict();
  Value bad = before;
  bad.as_dict().insert_or_assign("last_epoch", 7);
  bad.as_dict().insert_or_assign("gamma", "small");
  EXPECT_THAT(error_of([&] { s.load_state_dict(bad); }),
              HasSubstr("state_dict['gamma'] must be an int or a float, got str"));
  EXPECT_EQ(s.state_dict(), before);
  EXPECT_THAT(error_of([&] { s.load_state_dict(Value(List{})); }), HasSubstr("must be a dict"));
}

TEST(LRScheduler, SequentialLRLoadsItsSchedulersAllOrNothing) {
  Fixture f;
  auto a =
      std::make_shared<LinearLR>(f.opt, LinearLROptions{.start_factor = 0.5, .total_iters = 2});
  auto b = std::make_shared<ExponentialLR>(f.opt, 0.5);
  SequentialLR s(f.opt, {a, b}, {3});
  for (int i = 0; i < 5; ++i) s.step();
  const Value saved = s.state_dict();

  Fixture g;
  auto c =
      std::make_shared<LinearLR>(g.opt, LinearLROptions{.start_factor = 0.5, .total_iters = 2});
  auto d = std::make_shared<ExponentialLR>(g.opt, 0.5);
  SequentialLR t(g.opt, {c, d}, {3});
  const Value fresh = t.state_dict();
  Value bad = saved;
  bad.as_dict().at("_schedulers").as_list()[1].as_dict().insert_or_assign("gamma", none);
  EXPECT_THROW(t.load_state_dict(bad), Error);
  EXPECT_EQ(t.state_dict(), fresh);

  t.load_state_dict(saved);
  EXPECT_EQ(t.state_dict(), saved);
}

TEST(PythonNumber, FollowsPythonsTypesAndRounding) {
  EXPECT_TRUE((Number(2) * Number(3)).is_int());
  EXPECT_FALSE((Number(2) * Number(3.0)).is_int());
  EXPECT_FALSE((Number(6) / Number(3)).is_int());
  EXPECT_EQ((Number(-7) % Number(3)).as_int(), 2);
  EXPECT_EQ((Number(7) % Number(-3)).as_int(), -2);
  EXPECT_EQ((Number(-1.5) % Number(2.0)).to_double(), 0.5);
  EXPECT_EQ(floor_div(-7, 2), -4);
  EXPECT_TRUE(pow(Number(2), Number(10)).is_int());
  EXPECT_EQ(pow(Number(2), Number(10)).as_int(), 1024);
  EXPECT_FALSE(pow(Number(2), Number(-1)).is_int());
  EXPECT_EQ(pow(Number(0.5), Number(0)).to_double(), 1.0);
  EXPECT_TRUE(equals(Number(1), Number(1.0)));
  EXPECT_THROW(Number(INT64_MAX) + Number(1), Error);
}

}  // namespace
}  // namespace mnemo::optim
