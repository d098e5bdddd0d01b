// Live: a file written by save_model is an ordinary .pt for PyTorch — torch.load with
// weights_only=True opens it (1.13's, which refuses any pickled float, included), its
// state_dict loads strictly into the same architecture built with torch.nn (from the
// saved types and configs, which use torch.nn's class and argument names) and computes
// what mnemo computes.
#include <gtest/gtest.h>

#include "mnemo/checkpoint/model_file.h"
#include "mnemo/nn.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

constexpr const char* kReadModelFile = R"PY(
import json
import sys
import torch
import torch.nn as nn

checkpoint = torch.load(sys.argv[1], weights_only=True)
record = checkpoint["mnemo_model"]
architecture = json.loads(record["architecture"])
print("format", record["format_version"], architecture["type"])
print("children", " ".join(node["type"] for node in architecture["children"].values()))

def build(node):
    if node["type"] == "Sequential":
        module = nn.Sequential(*[build(child) for child in node["children"].values()])
    else:
        module = getattr(nn, node["type"])(**node["config"])
    module.train(node["training"])
    return module

model = build(architecture)
print(model.load_state_dict(checkpoint["state_dict"]))
print("training", model.training)
io = torch.load(sys.argv[2], weights_only=True)
with torch.no_grad():
    output = model(io["input"])
print("close", torch.allclose(output, io["output"], rtol=1e-4, atol=1e-5))
)PY";

TEST(ModelFileLive, TorchLoadsTheStateDictWithWeightsOnly) {
  auto cnn = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.padding = {1, 1}}),
      std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2),
      std::make_shared<nn::Conv2d>(4, 8, 3, nn::Conv2dOptions{.stride = {1, 1}, .padding = {1, 1}}),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::GELU>(),
      std::make_shared<nn::AvgPool2d>(2), std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(8 * 2 * 2, 5)});
  cnn->forward(randn({3, 1, 8, 8}));  // moves BatchNorm's running statistics
  cnn->eval();
  const Tensor input = randn({2, 1, 8, 8});
  const Tensor output = cnn->forward(input);

  TempDir dir;
  save_model(*cnn, dir / "model.pt");
  save(Dict{{"input", input}, {"output", output}}, dir / "io.pt");
  const std::string printed =
      python_output(kReadModelFile, (dir / "model.pt").string() + " " + (dir / "io.pt").string());
  EXPECT_EQ(printed,
            "format 1 Sequential\n"
            "children Conv2d BatchNorm2d ReLU MaxPool2d Conv2d BatchNorm2d GELU AvgPool2d "
            "Flatten Dropout Linear\n"
            "<All keys matched successfully>\n"
            "training False\n"
            "close True\n");
}

}  // namespace
}  // namespace mnemo::testing
