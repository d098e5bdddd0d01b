#include "models.h"

namespace fashion_mnist {

namespace nn = mnemo::nn;

std::shared_ptr<nn::Sequential> make_model(const std::string& name) {
  if (name == "mlp") {
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(256, 10)});
  }
  if (name == "cnn") {
    const nn::Conv2dOptions same{.padding = {1, 1}};
    return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
        std::make_shared<nn::Conv2d>(1, 32, 3, same), std::make_shared<nn::BatchNorm2d>(32),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
        std::make_shared<nn::Conv2d>(32, 64, 3, same), std::make_shared<nn::BatchNorm2d>(64),
        std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(3136, 10)});
  }
  mnemo::fail(mnemo::ErrorCode::kInvalidArgument, "unknown model '", name,
              "': expected mlp or cnn");
}

}  // namespace fashion_mnist
