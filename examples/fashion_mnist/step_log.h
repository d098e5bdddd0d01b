// The step log of --log: one JSON object per optimizer step,
// {"step": k, "epoch": e, "loss": x, "lr": y}, k counting from 1.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace fashion_mnist {

class StepLog {
 public:
  // Opens `path` for appending after keeping only the steps up to `keep_through_step`
  // (those a resumed run already did; later lines came from the interrupted run and will
  // be written again). An empty path logs nothing.
  StepLog(const std::string& path, std::int64_t keep_through_step);

  void write(std::int64_t step, std::int64_t epoch, double loss, double lr);

 private:
  std::ofstream out_;
};

}  // namespace fashion_mnist
