// The two models of the training example, with exactly the state_dict keys of their
// PyTorch equivalents:
//   mlp: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
//   cnn: nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
//                      nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
//                      nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
//                      nn.Linear(3136, 10))
#pragma once

#include <memory>
#include <string>

#include "mnemo/nn.h"

namespace fashion_mnist {

// "mlp" or "cnn"; throws mnemo::Error (kInvalidArgument) for another name.
std::shared_ptr<mnemo::nn::Sequential> make_model(const std::string& name);

}  // namespace fashion_mnist
