// Live: the same architecture built in mnemo and in PyTorch has the same state_dict —
// keys, order, shapes, dtypes, module versions — and the same named parameters/buffers.
#include <gtest/gtest.h>

#include <sstream>

#include "interop/models.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

std::string sizes_text(const Shape& sizes) {
  std::string out;
  for (std::size_t i = 0; i < sizes.size(); ++i) out += (i ? "," : "") + std::to_string(sizes[i]);
  return "[" + out + "]";
}

std::string describe(const std::string& model, const nn::Module& m) {
  std::ostringstream out;
  StateDict sd = m.state_dict();
  for (const auto& [key, value] : sd) {
    const Tensor& t = value.as_tensor();
    out << model << " state " << key << " " << sizes_text(t.sizes()) << " "
        << dtype_name(t.dtype()) << "\n";
  }
  for (const auto& [prefix, meta] : *sd.metadata()) {
    out << model << " meta '" << std::get<std::string>(prefix) << "' "
        << meta["version"].as_int() << "\n";
  }
  for (const auto& [name, t] : m.named_parameters()) out << model << " param " << name << "\n";
  for (const auto& [name, t] : m.named_buffers()) out << model << " buffer " << name << "\n";
  return out.str();
}

constexpr const char* kDescribe = R"PY(
for name, cls in MODELS.items():
    m = cls()
    sd = m.state_dict()
    for key, t in sd.items():
        print(name, "state", key, "[" + ",".join(str(s) for s in t.shape) + "]", str(t.dtype)[6:])
    for prefix, meta in sd._metadata.items():
        print(name, "meta", "'" + prefix + "'", meta["version"])
    for key, _ in m.named_parameters():
        print(name, "param", key)
    for key, _ in m.named_buffers():
        print(name, "buffer", key)
)PY";

TEST(StateDictLayoutLive, MatchesPyTorchForMlpCnnAndTextModel) {
  const std::string expected = python_output(std::string(kPythonModels) + kDescribe);
  const std::string actual =
      describe("Mlp", Mlp()) + describe("Cnn", Cnn()) + describe("TextModel", TextModel());
  EXPECT_EQ(actual, expected);
  EXPECT_NE(actual.find("Cnn state features.1.num_batches_tracked [] int64"), std::string::npos);
}

}  // namespace
}  // namespace mnemo::testing
