// mnemo-demo: what a model has learned, as a state_dict — taken, loaded back strictly,
// and refused with PyTorch's report when the architecture does not match.
#include <iomanip>
#include <iostream>

#include <mnemo/mnemo.h>

namespace nn = mnemo::nn;

namespace {

// A small Fashion-MNIST classifier: two Conv-BN-ReLU-MaxPool blocks, then a Linear.
struct FashionNet : nn::Module {
  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::Linear> classifier;

  explicit FashionNet(std::int64_t width = 16) : nn::Module("FashionNet") {
    features = register_module(
        "features", std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
                        std::make_shared<nn::Conv2d>(1, width, 3, nn::Conv2dOptions{.padding = {1, 1}}),
                        std::make_shared<nn::BatchNorm2d>(width), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool2d>(2),
                        std::make_shared<nn::Conv2d>(width, 2 * width, 3,
                                                     nn::Conv2dOptions{.padding = {1, 1}}),
                        std::make_shared<nn::BatchNorm2d>(2 * width), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool2d>(2)}));
    classifier = register_module("classifier", std::make_shared<nn::Linear>(2 * width * 7 * 7, 10));
  }

  mnemo::Tensor forward(const mnemo::Tensor& x) override {
    return classifier->forward(features->forward(x).flatten(1));
  }
};

void heading(const std::string& text) { std::cout << "\n== " << text << " ==\n"; }

void print_state_dict(const mnemo::StateDict& sd) {
  std::int64_t elements = 0;
  for (const auto& [name, value] : sd) {
    const mnemo::Tensor& t = value.as_tensor();
    elements += t.numel();
    std::cout << "  " << std::left << std::setw(34) << name << std::setw(28)
              << mnemo::shape_repr(t.sizes()) << mnemo::dtype_name(t.dtype()) << "\n";
  }
  std::cout << "  " << sd.size() << " tensors, " << elements << " elements\n";
}

}  // namespace

int main() {
  mnemo::manual_seed(0);
  FashionNet model;
  heading("The model");
  std::cout << model.repr() << "\n";

  // Train mode: one batch moves BatchNorm's running statistics, state beyond weights.
  mnemo::Tensor batch = mnemo::randn({8, 1, 28, 28});
  model.forward(batch);
  model.eval();
  mnemo::Tensor logits = model.forward(batch);

  heading("Its state_dict: parameters and buffers, PyTorch's keys in PyTorch's order");
  mnemo::StateDict sd = model.state_dict();
  print_state_dict(sd);

  heading("Strict load into a second instance");
  FashionNet restored;
  restored.eval();
  nn::IncompatibleKeys result = restored.load_state_dict(sd);
  std::cout << "  " << result.repr() << "\n";
  const bool same = restored.forward(batch).equal(logits);
  std::cout << "  same predictions as the original: " << (same ? "yes" : "NO") << "\n";

  heading("Loading into the wrong architecture (twice as wide)");
  FashionNet wider(32);
  const mnemo::Tensor before = wider.classifier->weight.clone();
  try {
    wider.load_state_dict(sd);
    std::cout << "  unexpectedly loaded\n";
    return 1;
  } catch (const mnemo::Error& e) {
    std::cout << e.what() << "\n";
  }
  std::cout << "  the wider model is unchanged: "
            << (wider.classifier->weight.equal(before) ? "yes" : "NO") << "\n";

  heading("A checkpoint from a DataParallel model ('module.' prefix), loaded non-strictly");
  mnemo::StateDict prefixed;
  for (const auto& [name, value] : sd) prefixed.insert("module." + name, value);
  FashionNet target;
  nn::IncompatibleKeys report = target.load_state_dict(prefixed, {.strict = false});
  std::cout << "  missing: " << report.missing_keys.size()
            << ", unexpected: " << report.unexpected_keys.size() << " (first: "
            << report.unexpected_keys.front() << ")\n";
  return same ? 0 : 1;
}
