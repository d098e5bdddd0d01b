// The README's quickstart: define a model, take its state_dict, load it strictly into a
// second instance, and see what a mismatch reports.
#include <iostream>

#include <mnemo/mnemo.h>

namespace nn = mnemo::nn;

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1, fc2;
  Net(std::int64_t hidden = 256) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, 10));
  }
  mnemo::Tensor forward(const mnemo::Tensor& x) override {
    return fc2->forward(mnemo::relu(fc1->forward(x)));
  }
};

int main() {
  Net net;
  mnemo::StateDict sd = net.state_dict();  // fc1.weight, fc1.bias, fc2.weight, fc2.bias
  for (const auto& [name, value] : sd) {
    std::cout << name << " " << mnemo::shape_repr(value.as_tensor().sizes()) << "\n";
  }

  Net restored;
  restored.load_state_dict(sd);  // strict: every key must match
  std::cout << "restored equal: " << restored.fc1->weight.equal(net.fc1->weight) << "\n";

  Net wider(512);
  try {
    wider.load_state_dict(sd);
  } catch (const mnemo::Error& e) {
    std::cout << e.what() << "\n";  // PyTorch's message, and `wider` is unchanged
  }
  return 0;
}
