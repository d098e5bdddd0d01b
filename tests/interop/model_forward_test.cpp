// Live: with the same weights and input, mnemo's MLP and CNN compute what PyTorch's do,
// in evaluation and in training mode (BatchNorm's batch statistics and running-stat
// updates included).
#include <gtest/gtest.h>

#include "interop/models.h"
#include "support/python.h"
#include "support/raw_tensors.h"

namespace mnemo::testing {
namespace {

// Loads the weights mnemo wrote (raw files named by index, shapes and dtypes listed in
// a manifest), runs the model, and writes the output and the resulting state.
constexpr const char* kRunModel = R"PY(
import sys, os
import numpy as np
model_name, mode, work = sys.argv[1], sys.argv[2], sys.argv[3]
model = MODELS[model_name]()
sd = model.state_dict()
with open(os.path.join(work, "manifest.txt")) as f:
    lines = [line.split() for line in f.read().splitlines()]
loaded = {}
for index, (key, dtype, shape) in enumerate(lines):
    dims = [int(s) for s in shape.split(",")] if shape != "-" else []
    data = np.fromfile(os.path.join(work, f"{index}.bin"), dtype=dtype).reshape(dims)
    loaded[key] = torch.from_numpy(data.copy())
model.load_state_dict(loaded)
x_shape = [int(s) for s in open(os.path.join(work, "input_shape.txt")).read().split(",")]
x = torch.from_numpy(np.fromfile(os.path.join(work, "input.bin"), dtype="float32").reshape(x_shape))
model.train(mode == "train")
with torch.no_grad():
    y = model(x)
y.numpy().tofile(os.path.join(work, "output.bin"))
for index, (key, t) in enumerate(model.state_dict().items()):
    t.numpy().tofile(os.path.join(work, f"after_{index}.bin"))
)PY";

void expect_output_close(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(actual.allclose(expected, 1e-4, 1e-5)) << what << "\nmnemo:   " << actual.repr()
                                                    << "\nPyTorch: " << expected.repr();
}

void check_against_pytorch(nn::Module& model, const std::string& name, const Tensor& input,
                           bool training) {
  TempDir work;
  std::ofstream manifest(work / "manifest.txt");
  std::size_t index = 0;
  for (const auto& [key, value] : model.state_dict()) {
    const Tensor& t = value.as_tensor();
    manifest << key << " " << dtype_name(t.dtype()) << " " << shape_text(t.sizes()) << "\n";
    write_raw(work / (std::to_string(index++) + ".bin"), t);
  }
  manifest.close();
  write_raw(work / "input.bin", input);
  std::ofstream(work / "input_shape.txt") << shape_text(input.sizes());

  python_output(std::string(kPythonModels) + kRunModel,
                name + (training ? " train " : " eval ") + work.path().string());

  model.train(training);
  Tensor output = model.forward(input);
  expect_output_close(output, read_raw(work / "output.bin", output.sizes()), name + " output");
  index = 0;
  for (const auto& [key, value] : model.state_dict()) {
    const Tensor& t = value.as_tensor();
    Tensor theirs = read_raw(work / ("after_" + std::to_string(index++) + ".bin"), t.sizes(), t.dtype());
    if (t.dtype() == DType::kInt64) {
      EXPECT_TRUE(t.equal(theirs)) << name << " " << key;
    } else {
      expect_output_close(t, theirs, name + " " + key + " after forward");
    }
  }
}

TEST(ModelForwardLive, MlpMatchesPyTorch) {
  Generator gen(7);
  Mlp model;
  check_against_pytorch(model, "Mlp", rand({4, 1, 28, 28}, {}, &gen), /*training=*/false);
}

TEST(ModelForwardLive, CnnMatchesPyTorchInEvalAndTraining) {
  Generator gen(11);
  Cnn model;
  // Non-trivial running statistics, so that evaluation mode is really tested.
  for (const auto& [key, value] : model.state_dict()) {
    if (key.find("running_") != std::string::npos) {
      value.as_tensor().copy_(add(rand(value.as_tensor().sizes(), {}, &gen), 0.5));
    }
  }
  check_against_pytorch(model, "Cnn", randn({3, 1, 28, 28}, {}, &gen), /*training=*/false);
  check_against_pytorch(model, "Cnn", randn({3, 1, 28, 28}, {}, &gen), /*training=*/true);
}

}  // namespace
}  // namespace mnemo::testing
