// A training loop with dropout, random data and momentum, checkpointed through a .pt
// file (model, optimizer and RNG state) and resumed in a fresh model and optimizer, ends
// bitwise where the uninterrupted loop ends.
#include <gtest/gtest.h>

#include <memory>

#include "mnemo/autograd.h"
#include "mnemo/mnemo.h"
#include "mnemo/serialize.h"

namespace mnemo {
namespace {

std::shared_ptr<nn::Sequential> make_net() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(8, 16));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Dropout>(0.5));
  net->push_back(std::make_shared<nn::Linear>(16, 4));
  return net;
}

// One step on a batch drawn from the default generator (as dropout's masks are).
void train_step(nn::Module& net, optim::Optimizer& optimizer) {
  const Tensor x = randn({32, 8});
  const Tensor target = randn({32, 4});
  const Tensor loss = mse_loss(net.forward(x), target);
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
}

Value checkpoint_of(const nn::Module& net, const optim::Optimizer& optimizer) {
  return Dict{{"model_state_dict", net.state_dict()},
              {"optimizer_state_dict", optimizer.state_dict()},
              {"rng_state", get_rng_state()}};
}

TEST(ExactResume, DropoutRandomDataAndMomentumResumeBitForBit) {
  manual_seed(11);
  auto net = make_net();
  optim::SGD sgd(net->parameters(), {.lr = 0.05, .momentum = 0.9, .nesterov = true});
  std::vector<std::byte> saved;
  for (int step = 1; step <= 12; ++step) {
    train_step(*net, sgd);
    if (step == 5) saved = save_to_bytes(checkpoint_of(*net, sgd));
  }

  // A new process would start from other random state: scramble it first.
  manual_seed(999);
  auto resumed = make_net();
  optim::SGD resumed_sgd(resumed->parameters(), {.lr = 0.05, .momentum = 0.9, .nesterov = true});
  const Value checkpoint = load(saved);
  resumed->load_state_dict(checkpoint["model_state_dict"].to_state_dict());
  resumed_sgd.load_state_dict(checkpoint["optimizer_state_dict"]);
  set_rng_state(checkpoint["rng_state"].as_tensor());
  for (int step = 6; step <= 12; ++step) train_step(*resumed, resumed_sgd);

  const StateDict expected = net->state_dict();
  const StateDict got = resumed->state_dict();
  for (const auto& [name, value] : expected) {
    EXPECT_TRUE(got.at(name).equal(value.as_tensor())) << name << " differs";
  }
  // Without the RNG state the masks and batches differ, and so do the weights.
  manual_seed(999);
  auto unseeded = make_net();
  optim::SGD unseeded_sgd(unseeded->parameters(), {.lr = 0.05, .momentum = 0.9, .nesterov = true});
  unseeded->load_state_dict(checkpoint["model_state_dict"].to_state_dict());
  unseeded_sgd.load_state_dict(checkpoint["optimizer_state_dict"]);
  for (int step = 6; step <= 12; ++step) train_step(*unseeded, unseeded_sgd);
  EXPECT_FALSE(unseeded->state_dict().at("0.weight").equal(expected.at("0.weight")));
}

}  // namespace
}  // namespace mnemo
