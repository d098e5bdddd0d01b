// Live: load_state_dict's error text and IncompatibleKeys repr equal PyTorch 1.13's,
// byte for byte, for the same architecture and the same damaged state_dict.
#include <gtest/gtest.h>

#include "mnemo/nn.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

struct Net : nn::Module {
  Net() {
    register_module("fc1", std::make_shared<nn::Linear>(3, 2));
    register_module("fc2", std::make_shared<nn::Linear>(2, 5));
    register_module("bn", std::make_shared<nn::BatchNorm1d>(5));
  }
};

constexpr const char* kPythonNet = R"PY(
import sys
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 2)
        self.fc2 = nn.Linear(2, 5)
        self.bn = nn.BatchNorm1d(5)

net = Net()
sd = net.state_dict()
del sd["fc2.bias"]
sd["bn.foo"] = torch.zeros(1)
sd["fc1.extra"] = torch.zeros(1)
sd["extra.w"] = torch.zeros(1)
if sys.argv[1] == "strict":
    sd["fc1.weight"] = torch.zeros(5, 5)
    sd["bn.running_mean"] = torch.zeros(7)
    try:
        net.load_state_dict(sd)
    except RuntimeError as e:
        sys.stdout.write(str(e))
else:
    sys.stdout.write(repr(net.load_state_dict(sd, strict=False)))
)PY";

StateDict damaged(const Net& net) {
  StateDict sd = net.state_dict();
  sd.erase("fc2.bias");
  sd.insert("bn.foo", zeros({1}));
  sd.insert("fc1.extra", zeros({1}));
  sd.insert("extra.w", zeros({1}));
  return sd;
}

TEST(LoadStateDictMessagesLive, StrictErrorIsByteIdentical) {
  const std::string expected = python_output(kPythonNet, "strict");
  Net net;
  StateDict sd = damaged(net);
  sd.insert("fc1.weight", zeros({5, 5}));
  sd.insert("bn.running_mean", zeros({7}));
  std::string actual = "no error";
  try {
    net.load_state_dict(sd);
  } catch (const Error& e) {
    actual = e.what();
  }
  EXPECT_EQ(actual, expected);
  EXPECT_NE(expected.find("Missing key(s)"), std::string::npos);  // the oracle did fail
}

TEST(LoadStateDictMessagesLive, NonStrictResultReprIsIdentical) {
  const std::string expected = python_output(kPythonNet, "relaxed");
  Net net;
  EXPECT_EQ(net.load_state_dict(damaged(net), {.strict = false}).repr(), expected);
}

}  // namespace
}  // namespace mnemo::testing
