#include <iostream>

#include <mnemo/mnemo.h>

int main() {
  mnemo::nn::Linear lin(3, 2);
  mnemo::StateDict sd = lin.state_dict();
  mnemo::nn::Linear other(3, 2);
  other.load_state_dict(sd);
  const bool ok = other.weight.equal(lin.weight) && sd.size() == 2;
  std::cout << (ok ? "consumer ok" : "consumer FAILED") << "\n";
  return ok ? 0 : 1;
}
