// The architectures the live tests build both in mnemo and in PyTorch; their Python
// twins are kPythonModels, with the same names in the same order.
#pragma once

#include <memory>

#include "mnemo/nn.h"
#include "mnemo/ops.h"

namespace mnemo::testing {

struct Mlp : nn::Module {
  Mlp() {
    register_module("fc1", std::make_shared<nn::Linear>(784, 256));
    register_module("fc2", std::make_shared<nn::Linear>(256, 128));
    register_module("out", std::make_shared<nn::Linear>(128, 10));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(submodule("fc1")->forward(x.flatten(1)));
    return submodule("out")->forward(relu(submodule("fc2")->forward(h)));
  }
};

// Conv-BN-ReLU-MaxPool twice, then Linear.
struct Cnn : nn::Module {
  Cnn() {
    register_module("features",
                    std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
                        std::make_shared<nn::Conv2d>(1, 16, 3, nn::Conv2dOptions{.padding = {1, 1}}),
                        std::make_shared<nn::BatchNorm2d>(16), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool2d>(2),
                        std::make_shared<nn::Conv2d>(16, 32, 3, nn::Conv2dOptions{.padding = {1, 1}}),
                        std::make_shared<nn::BatchNorm2d>(32), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool2d>(2)}));
    register_module("classifier", std::make_shared<nn::Linear>(32 * 7 * 7, 10));
  }
  Tensor forward(const Tensor& x) override {
    return submodule("classifier")->forward(submodule("features")->forward(x).flatten(1));
  }
};

// LayerNorm, Embedding, a non-persistent buffer, ModuleList, ModuleDict, a BatchNorm
// without affine parameters, Dropout and GELU.
struct TextModel : nn::Module {
  TextModel() {
    register_module("embed", std::make_shared<nn::Embedding>(1000, 64, 0));
    register_module("norm", std::make_shared<nn::LayerNorm>(Shape{64}));
    register_buffer("positions", arange(16), /*persistent=*/false);
    register_buffer("scale", ones({1}));
    register_module("blocks", std::make_shared<nn::ModuleList>(std::initializer_list<nn::ModulePtr>{
                                  std::make_shared<nn::Linear>(64, 64),
                                  std::make_shared<nn::Linear>(64, 64)}));
    register_module("heads", std::make_shared<nn::ModuleDict>(
                                 std::initializer_list<std::pair<std::string, nn::ModulePtr>>{
                                     {"cls", std::make_shared<nn::Linear>(64, 4)},
                                     {"reg", std::make_shared<nn::Linear>(64, 1, false)}}));
    register_module("bn", std::make_shared<nn::BatchNorm1d>(
                              64, nn::BatchNormOptions{.affine = false}));
    register_module("drop", std::make_shared<nn::Dropout>(0.1));
    register_module("act", std::make_shared<nn::GELU>());
  }
};

inline constexpr const char* kPythonModels = R"PY(
import torch
import torch.nn as nn

class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.out = nn.Linear(128, 10)
    def forward(self, x):
        h = torch.relu(self.fc1(x.flatten(1)))
        return self.out(torch.relu(self.fc2(h)))

class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(32 * 7 * 7, 10)
    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))

class TextModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(1000, 64, padding_idx=0)
        self.norm = nn.LayerNorm(64)
        self.register_buffer("positions", torch.arange(16), persistent=False)
        self.register_buffer("scale", torch.ones(1))
        self.blocks = nn.ModuleList([nn.Linear(64, 64), nn.Linear(64, 64)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(64, 4), "reg": nn.Linear(64, 1, bias=False)})
        self.bn = nn.BatchNorm1d(64, affine=False)
        self.drop = nn.Dropout(0.1)
        self.act = nn.GELU()

MODELS = {"Mlp": Mlp, "Cnn": Cnn, "TextModel": TextModel}
)PY";

}  // namespace mnemo::testing
