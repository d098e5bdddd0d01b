// Live: mnemo's gradients are PyTorch's. For every op the layers and losses use, and
// for whole models (the MLP and CNN of models.h under cross_entropy), the same float32
// inputs and weights go to both, each computes y, takes backward with the same random
// output gradient, and every input's gradient is compared.
//
// The measure is, per tensor, max |mnemo - torch| / max |torch| (the worst error
// relative to the tensor's scale, so that elements near zero in a sum of many products
// are not judged against their own tiny size); it must be <= 1e-5. Each test prints
// the worst value it saw.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "interop/models.h"
#include "mnemo/autograd.h"
#include "mnemo/core/generator.h"
#include "mnemo/ops.h"
#include "support/python.h"
#include "support/raw_tensors.h"

namespace mnemo::testing {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the raw files exchanged with numpy are little-endian");

constexpr double kMaxRelativeError = 1e-5;

// run_case(name, fn): loads the case's inputs (those with a .grad marker require grad),
// applies fn, saves the output, runs backward with the saved output gradient and saves
// each input's gradient, and each non-differentiable float input as it is afterwards
// (batch_norm's running statistics).
constexpr const char* kAutogradPrelude = R"PY(
import os, sys
import numpy as np
import torch
import torch.nn.functional as F
DIR = sys.argv[1]
def path(name):
    return os.path.join(DIR, name)
def load(name):
    with open(path(name + ".meta")) as f:
        dtype, shape = f.read().split("\n")[:2]
    dims = [int(s) for s in shape.split()]
    return torch.from_numpy(np.fromfile(path(name + ".bin"), dtype=dtype).reshape(dims).copy())
def save(name, t):
    a = t.detach().contiguous().numpy()
    a.tofile(path(name + ".bin"))
    with open(path(name + ".meta"), "w") as f:
        f.write(str(a.dtype) + "\n" + " ".join(str(s) for s in a.shape) + "\n")
def run_case(name, fn):
    xs = []
    while os.path.exists(path(f"{name}_in{len(xs)}.bin")):
        t = load(f"{name}_in{len(xs)}")
        if os.path.exists(path(f"{name}_in{len(xs)}.grad")):
            t.requires_grad_(True)
        xs.append(t)
    y = fn(xs)
    save(f"{name}_out", y)
    y.backward(load(f"{name}_dy"))
    for i, t in enumerate(xs):
        if t.requires_grad:
            save(f"{name}_grad{i}", t.grad)
        elif t.is_floating_point():
            save(f"{name}_after{i}", t)
)PY";

class Exchange {
 public:
  void write(const std::string& name, const Tensor& t) const {
    write_raw(dir_ / (name + ".bin"), t);
    std::ofstream meta(dir_ / (name + ".meta"));
    meta << dtype_name(t.dtype()) << "\n";
    for (std::int64_t s : t.sizes()) meta << s << " ";
    meta << "\n";
  }
  void mark(const std::string& name) const { std::ofstream(dir_ / name) << ""; }
  Tensor read(const std::string& name) const {
    std::ifstream meta(dir_ / (name + ".meta"));
    std::string dtype, shape_line;
    std::getline(meta, dtype);
    std::getline(meta, shape_line);
    Shape sizes;
    std::istringstream dims(shape_line);
    for (std::int64_t s; dims >> s;) sizes.push_back(s);
    return read_raw(dir_ / (name + ".bin"), sizes, *dtype_from_name(dtype));
  }
  void run(const std::string& body) const {
    python_output(std::string(kAutogradPrelude) + body, dir_.path().string());
  }

 private:
  TempDir dir_;
};

// max |a - b| / max |b|, the measure described at the top.
double relative_error(const Tensor& ours, const Tensor& theirs) {
  const Tensor a = ours.to(DType::kFloat64).contiguous();
  const Tensor b = theirs.to(DType::kFloat64).contiguous();
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<double>()[i], y = b.data<double>()[i];
    diff = std::max(diff, std::isnan(x - y) ? INFINITY : std::abs(x - y));
    scale = std::max(scale, std::abs(y));
  }
  if (diff == 0) return 0;
  return scale == 0 ? INFINITY : diff / scale;
}

double max_abs(const Tensor& t) {
  const Tensor d = t.to(DType::kFloat64).contiguous();
  double m = 0;
  for (std::int64_t i = 0; i < d.numel(); ++i) m = std::max(m, std::abs(d.data<double>()[i]));
  return m;
}

// Collects the worst error of a test and prints it.
class Worst {
 public:
  explicit Worst(std::string test) : test_(std::move(test)) {}
  ~Worst() { std::cout << "[ measure ] " << test_ << ": max relative error " << worst_ << "\n"; }
  // `scale`, when given, replaces max |theirs| as the denominator (see check_model).
  void check(const Tensor& ours, const Tensor& theirs, const std::string& what, double scale = 0) {
    ASSERT_EQ(ours.sizes(), theirs.sizes()) << what;
    const double error = scale > 0 ? relative_error(ours, theirs) * max_abs(theirs) / scale
                                   : relative_error(ours, theirs);
    worst_ = std::max(worst_, error);
    EXPECT_LE(error, kMaxRelativeError)
        << what << "\nmnemo:   " << ours.repr() << "\nPyTorch: " << theirs.repr();
  }

 private:
  std::string test_;
  double worst_ = 0;
};

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct Case {
  std::string name;
  std::vector<Tensor> inputs;  // float ones that require grad get a gradient
  Function fn;                 // mnemo
  std::string python;          // a Python expression of x (the list of inputs)
};

// Seeded float32 inputs.
Tensor input(const Shape& sizes, std::uint64_t seed, bool requires_grad = true) {
  Generator gen(seed);
  Tensor t = randn(sizes, {}, &gen);
  t.set_requires_grad(requires_grad);
  return t;
}

void check_cases(const std::string& test, std::vector<Case> cases) {
  Exchange exchange;
  std::string body;
  std::vector<Tensor> outputs;
  for (Case& c : cases) {
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
      const std::string name = c.name + "_in" + std::to_string(i);
      exchange.write(name, c.inputs[i]);
      if (c.inputs[i].requires_grad()) exchange.mark(name + ".grad");
    }
    const Tensor y = c.fn(c.inputs);
    Generator gen(99);
    const Tensor dy = randn(y.sizes(), {.dtype = y.dtype()}, &gen);
    exchange.write(c.name + "_dy", dy);
    y.backward(dy);
    outputs.push_back(y.detach());
    body += "run_case('" + c.name + "', lambda x: " + c.python + ")\n";
  }
  exchange.run(body);

  Worst worst(test);
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    worst.check(outputs[k], exchange.read(c.name + "_out"), c.name + " output");
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
      const Tensor& x = c.inputs[i];
      const std::string what = c.name + " input " + std::to_string(i);
      if (x.requires_grad()) {
        ASSERT_TRUE(x.grad().defined()) << what << " has no gradient";
        worst.check(x.grad(), exchange.read(c.name + "_grad" + std::to_string(i)), what + " grad");
      } else if (is_floating_point(x.dtype())) {
        worst.check(x, exchange.read(c.name + "_after" + std::to_string(i)), what + " after");
      }
    }
  }
}

TEST(AutogradLive, LinearAndMatmul) {
  check_cases("LinearAndMatmul", {
                                     {"linear",
                                      {input({8, 20}, 1), input({6, 20}, 2), input({6}, 3)},
                                      [](const auto& x) { return linear(x[0], x[1], x[2]); },
                                      "F.linear(x[0], x[1], x[2])"},
                                     {"linear3d",
                                      {input({2, 5, 20}, 4), input({6, 20}, 5)},
                                      [](const auto& x) { return linear(x[0], x[1]); },
                                      "F.linear(x[0], x[1])"},
                                     {"mm",
                                      {input({7, 9}, 6), input({9, 4}, 7)},
                                      [](const auto& x) { return matmul(x[0], x[1]); },
                                      "torch.matmul(x[0], x[1])"},
                                     {"bmm_bcast",
                                      {input({2, 1, 3, 5}, 8), input({4, 5, 2}, 9)},
                                      [](const auto& x) { return matmul(x[0], x[1]); },
                                      "torch.matmul(x[0], x[1])"},
                                     {"mv",
                                      {input({3, 5}, 10), input({5}, 11)},
                                      [](const auto& x) { return matmul(x[0], x[1]); },
                                      "torch.matmul(x[0], x[1])"},
                                 });
}

TEST(AutogradLive, Conv2d) {
  check_cases(
      "Conv2d",
      {
          {"conv_basic",
           {input({2, 3, 9, 8}, 1), input({5, 3, 3, 3}, 2), input({5}, 3)},
           [](const auto& x) {
             return conv2d(x[0], x[1], x[2], {.stride = {2, 1}, .padding = {1, 2}});
           },
           "F.conv2d(x[0], x[1], x[2], stride=(2, 1), padding=(1, 2))"},
          {"conv_dilated_groups",
           {input({2, 4, 11, 10}, 4), input({6, 2, 3, 2}, 5)},
           [](const auto& x) {
             return conv2d(x[0], x[1], Tensor(),
                           {.padding = {2, 1}, .dilation = {2, 3}, .groups = 2});
           },
           "F.conv2d(x[0], x[1], None, padding=(2, 1), dilation=(2, 3), groups=2)"},
          {"conv_depthwise",
           {input({2, 6, 7, 7}, 6), input({6, 1, 5, 5}, 7), input({6}, 8)},
           [](const auto& x) {
             return conv2d(x[0], x[1], x[2], {.stride = {2, 2}, .padding = {2, 2}, .groups = 6});
           },
           "F.conv2d(x[0], x[1], x[2], stride=2, padding=2, groups=6)"},
          {"conv_1x1",
           {input({3, 8, 6, 5}, 9), input({4, 8, 1, 1}, 10), input({4}, 11)},
           [](const auto& x) { return conv2d(x[0], x[1], x[2]); },
           "F.conv2d(x[0], x[1], x[2])"},
      });
}

TEST(AutogradLive, BatchNormAndLayerNorm) {
  const double eps = 1e-5;
  auto running_mean = [](std::uint64_t seed) { return input({4}, seed, false); };
  auto running_var = [](std::uint64_t seed) { return add(exp(input({4}, seed, false)), 0.1); };
  check_cases(
      "BatchNormAndLayerNorm",
      {
          {"bn_train",
           {input({6, 4, 3, 3}, 1), running_mean(2), running_var(3), input({4}, 4), input({4}, 5)},
           [eps](const auto& x) {
             return batch_norm(x[0], x[1], x[2], x[3], x[4], true, 0.1, eps);
           },
           "F.batch_norm(x[0], x[1], x[2], x[3], x[4], training=True, momentum=0.1, eps=1e-5)"},
          {"bn_train_2d_plain",
           {input({8, 4}, 6)},
           [eps](const auto& x) {
             return batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, eps);
           },
           "F.batch_norm(x[0], None, None, None, None, training=True, momentum=0.1, eps=1e-5)"},
          {"bn_eval",
           {input({5, 4, 2, 3}, 7), running_mean(8), running_var(9), input({4}, 10),
            input({4}, 11)},
           [eps](const auto& x) {
             return batch_norm(x[0], x[1], x[2], x[3], x[4], false, 0.1, eps);
           },
           "F.batch_norm(x[0], x[1], x[2], x[3], x[4], training=False, momentum=0.1, eps=1e-5)"},
          {"ln_last",
           {input({3, 5, 16}, 12), input({16}, 13), input({16}, 14)},
           [eps](const auto& x) { return layer_norm(x[0], {16}, x[1], x[2], eps); },
           "F.layer_norm(x[0], [16], x[1], x[2], eps=1e-5)"},
          {"ln_two_dims",
           {input({4, 3, 6}, 15), input({3, 6}, 16), input({3, 6}, 17)},
           [eps](const auto& x) {
             return layer_norm(x[0], {3, 6}, x[1], x[2], eps);
           },
           "F.layer_norm(x[0], [3, 6], x[1], x[2], eps=1e-5)"},
          {"ln_plain",
           {input({7, 10}, 18)},
           [eps](const auto& x) { return layer_norm(x[0], {10}, Tensor(), Tensor(), eps); },
           "F.layer_norm(x[0], [10], eps=1e-5)"},
      });
}

TEST(AutogradLive, ActivationsAndElementwise) {
  auto positive = [](const Shape& sizes, std::uint64_t seed) {
    return add(exp(input(sizes, seed, false)), 0.5).set_requires_grad(true);
  };
  check_cases(
      "ActivationsAndElementwise",
      {
          {"relu",
           {input({4, 9}, 1)},
           [](const auto& x) { return relu(x[0]); },
           "torch.relu(x[0])"},
          {"gelu", {input({4, 9}, 2)}, [](const auto& x) { return gelu(x[0]); }, "F.gelu(x[0])"},
          {"gelu_tanh",
           {input({4, 9}, 3)},
           [](const auto& x) { return gelu(x[0], true); },
           "F.gelu(x[0], approximate='tanh')"},
          {"tanh",
           {input({4, 9}, 4)},
           [](const auto& x) { return tanh(x[0]); },
           "torch.tanh(x[0])"},
          {"sigmoid",
           {input({4, 9}, 5)},
           [](const auto& x) { return sigmoid(x[0]); },
           "torch.sigmoid(x[0])"},
          {"exp_log_sqrt",
           {positive({3, 7}, 6)},
           [](const auto& x) { return add(exp(x[0]), mul(log(x[0]), sqrt(x[0]))); },
           "torch.exp(x[0]) + torch.log(x[0]) * torch.sqrt(x[0])"},
          {"add_bcast",
           {input({2, 3, 4}, 7), input({4}, 8)},
           [](const auto& x) { return add(x[0], x[1], 0.5); },
           "torch.add(x[0], x[1], alpha=0.5)"},
          {"sub_bcast",
           {input({2, 1, 4}, 9), input({3, 1}, 10)},
           [](const auto& x) { return sub(x[0], x[1]); },
           "x[0] - x[1]"},
          {"mul_bcast",
           {input({3, 1}, 11), input({2, 3, 5}, 12)},
           [](const auto& x) { return mul(x[0], x[1]); },
           "x[0] * x[1]"},
          {"div_bcast",
           {input({2, 3, 4}, 13), positive({3, 4}, 14)},
           [](const auto& x) { return div(x[0], x[1]); },
           "x[0] / x[1]"},
          {"scalars",
           {input({5}, 15)},
           [](const auto& x) { return div(add(mul(x[0], 3.0), 1.0), 4.0); },
           "(x[0] * 3.0 + 1.0) / 4.0"},
      });
}

TEST(AutogradLive, ReductionsAndViews) {
  check_cases("ReductionsAndViews",
              {
                  {"sum_mean",
                   {input({3, 4, 5}, 1)},
                   [](const auto& x) { return add(sum(x[0], {1}), mean(x[0], {1})); },
                   "x[0].sum(1) + x[0].mean(1)"},
                  {"mean_keepdim",
                   {input({3, 4, 5}, 2)},
                   [](const auto& x) {
                     return mul(mean(x[0], {0, 2}, true), x[0]);
                   },
                   "x[0].mean((0, 2), keepdim=True) * x[0]"},
                  {"log_softmax",
                   {input({6, 10}, 3)},
                   [](const auto& x) { return log_softmax(x[0], 1); },
                   "F.log_softmax(x[0], 1)"},
                  {"softmax_dim0",
                   {input({6, 10}, 4)},
                   [](const auto& x) { return softmax(x[0], 0); },
                   "F.softmax(x[0], 0)"},
                  {"views",
                   {input({2, 3, 4}, 5)},
                   [](const auto& x) {
                     const Tensor a = x[0].flatten(1).view({2, 3, 4}).transpose(0, 2);
                     const Tensor b = x[0].permute({2, 0, 1}).reshape({4, 6}).select(1, 2);
                     return add(mul(a.reshape({4, 6}), b.unsqueeze(1).expand({4, 6})), sum(x[0]));
                   },
                   "(x[0].flatten(1).view(2, 3, 4).transpose(0, 2).reshape(4, 6) * "
                   "x[0].permute(2, 0, 1).reshape(4, 6).select(1, 2).unsqueeze(1).expand(4, 6)) + "
                   "x[0].sum()"},
              });
}

TEST(AutogradLive, PoolingEmbeddingDropout) {
  // Dropout's mask comes from mnemo's generator; PyTorch applies the same mask with
  // its own formula, x * mask / (1 - p).
  Generator gen(5);
  const Tensor dropped = dropout(ones({4, 6}), 0.3, true, &gen);
  const Tensor mask = mul(dropped, 0.7).detach();
  check_cases("PoolingEmbeddingDropout",
              {
                  {"max_pool",
                   {input({2, 3, 9, 8}, 1)},
                   [](const auto& x) {
                     return max_pool2d(x[0], {.kernel_size = {3, 3},
                                              .stride = std::array<std::int64_t, 2>{2, 2},
                                              .padding = {1, 1},
                                              .ceil_mode = true});
                   },
                   "F.max_pool2d(x[0], 3, 2, 1, ceil_mode=True)"},
                  {"max_pool_dilated",
                   {input({2, 9, 9}, 2)},
                   [](const auto& x) {
                     return max_pool2d(x[0], {.kernel_size = {2, 3},
                                              .stride = std::array<std::int64_t, 2>{1, 2},
                                              .padding = {1, 1},
                                              .dilation = {2, 1}});
                   },
                   "F.max_pool2d(x[0], (2, 3), (1, 2), 1, dilation=(2, 1))"},
                  {"avg_pool",
                   {input({2, 3, 9, 8}, 3)},
                   [](const auto& x) {
                     return avg_pool2d(x[0], {.kernel_size = {3, 2},
                                              .stride = std::array<std::int64_t, 2>{2, 2},
                                              .padding = {1, 1},
                                              .ceil_mode = true,
                                              .count_include_pad = false});
                   },
                   "F.avg_pool2d(x[0], (3, 2), 2, 1, ceil_mode=True, count_include_pad=False)"},
                  {"avg_pool_pad",
                   {input({2, 3, 7, 7}, 4)},
                   [](const auto& x) {
                     return avg_pool2d(x[0], {.kernel_size = {3, 3},
                                              .stride = std::array<std::int64_t, 2>{2, 2},
                                              .padding = {1, 1}});
                   },
                   "F.avg_pool2d(x[0], 3, 2, 1)"},
                  {"adaptive",
                   {input({2, 3, 9, 7}, 5)},
                   [](const auto& x) {
                     return adaptive_avg_pool2d(x[0], {4, 3});
                   },
                   "F.adaptive_avg_pool2d(x[0], (4, 3))"},
                  {"embedding",
                   {input({10, 4}, 6), tensor<std::int64_t>({3, 0, 3, 7, 9, 0}).view({2, 3})},
                   [](const auto& x) { return embedding(x[0], x[1], 0); },
                   "F.embedding(x[1], x[0], padding_idx=0)"},
                  {"dropout",
                   {input({4, 6}, 7), mask},
                   [](const auto& x) {
                     Generator same(5);
                     return dropout(x[0], 0.3, true, &same);
                   },
                   "x[0] * x[1] / 0.7"},
              });
}

TEST(AutogradLive, Losses) {
  const Tensor target = tensor<std::int64_t>({2, 0, 4, 4, 1, 3});
  auto logits = [](std::uint64_t seed) { return input({6, 5}, seed); };
  check_cases(
      "Losses",
      {
          {"ce_mean",
           {logits(1), target},
           [](const auto& x) { return cross_entropy(x[0], x[1]); },
           "F.cross_entropy(x[0], x[1])"},
          {"ce_sum_smooth",
           {logits(2), target},
           [](const auto& x) { return cross_entropy(x[0], x[1], Reduction::kSum, 0.1); },
           "F.cross_entropy(x[0], x[1], reduction='sum', label_smoothing=0.1)"},
          {"ce_none_smooth",
           {logits(3), target},
           [](const auto& x) { return cross_entropy(x[0], x[1], Reduction::kNone, 0.25); },
           "F.cross_entropy(x[0], x[1], reduction='none', label_smoothing=0.25)"},
          {"ce_mean_smooth",
           {logits(4), target},
           [](const auto& x) { return cross_entropy(x[0], x[1], Reduction::kMean, 0.3); },
           "F.cross_entropy(x[0], x[1], label_smoothing=0.3)"},
          {"nll",
           {logits(5), target},
           [](const auto& x) { return nll_loss(log_softmax(x[0], 1), x[1], Reduction::kSum); },
           "F.nll_loss(F.log_softmax(x[0], 1), x[1], reduction='sum')"},
          {"mse",
           {input({4, 5}, 6), input({4, 5}, 7)},
           [](const auto& x) { return mse_loss(x[0], x[1]); },
           "F.mse_loss(x[0], x[1])"},
          {"mse_sum",
           {input({4, 5}, 8), input({4, 5}, 9)},
           [](const auto& x) { return mse_loss(x[0], x[1], Reduction::kSum); },
           "F.mse_loss(x[0], x[1], reduction='sum')"},
      });
}

// --- whole models ---------------------------------------------------------------------

// Loads mnemo's weights into the PyTorch twin, computes cross_entropy on the same batch
// and writes the loss and the gradients of every parameter (named_parameters order) and
// of the input.
constexpr const char* kModelGrads = R"PY(
import sys, os
import numpy as np
model_name, mode, smoothing, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
model = MODELS[model_name]()
with open(os.path.join(work, "manifest.txt")) as f:
    lines = [line.split() for line in f.read().splitlines()]
loaded = {}
for index, (key, dtype, shape) in enumerate(lines):
    dims = [int(s) for s in shape.split(",")] if shape != "-" else []
    loaded[key] = torch.from_numpy(np.fromfile(os.path.join(work, f"{index}.bin"), dtype=dtype).reshape(dims).copy())
model.load_state_dict(loaded)
model.train(mode == "train")
x_shape = [int(s) for s in open(os.path.join(work, "input_shape.txt")).read().split(",")]
x = torch.from_numpy(np.fromfile(os.path.join(work, "input.bin"), dtype="float32").reshape(x_shape).copy())
x.requires_grad_(True)
y = torch.from_numpy(np.fromfile(os.path.join(work, "target.bin"), dtype="int64").copy())
loss = torch.nn.functional.cross_entropy(model(x), y, label_smoothing=smoothing)
loss.backward()
np.array([loss.item()], dtype="float32").tofile(os.path.join(work, "loss.bin"))
for index, (name, p) in enumerate(model.named_parameters()):
    p.grad.numpy().tofile(os.path.join(work, f"grad_{index}.bin"))
x.grad.numpy().tofile(os.path.join(work, "input_grad.bin"))
)PY";

void check_model(nn::Module& model, const std::string& name, const Tensor& x, const Tensor& target,
                 bool training, double smoothing) {
  TempDir work;
  std::ofstream manifest(work / "manifest.txt");
  std::size_t index = 0;
  for (const auto& [key, value] : model.state_dict()) {
    const Tensor& t = value.as_tensor();
    manifest << key << " " << dtype_name(t.dtype()) << " " << shape_text(t.sizes()) << "\n";
    write_raw(work / (std::to_string(index++) + ".bin"), t);
  }
  manifest.close();
  write_raw(work / "input.bin", x);
  write_raw(work / "target.bin", target);
  std::ofstream(work / "input_shape.txt") << shape_text(x.sizes());
  python_output(std::string(kPythonModels) + kModelGrads, name + (training ? " train " : " eval ") +
                                                              std::to_string(smoothing) + " " +
                                                              work.path().string());

  model.train(training);
  model.zero_grad();
  const Tensor input = x.detach().set_requires_grad(true);
  const Tensor loss = cross_entropy(model.forward(input), target, Reduction::kMean, smoothing);
  loss.backward();

  Worst worst("model " + name + (training ? " train" : " eval"));
  worst.check(loss, read_raw(work / "loss.bin", {}), name + " loss");
  std::vector<Tensor> theirs;
  double model_scale = 0;  // the largest gradient of any parameter
  index = 0;
  for (const auto& [key, p] : model.named_parameters()) {
    theirs.push_back(read_raw(work / ("grad_" + std::to_string(index++) + ".bin"), p.sizes()));
    model_scale = std::max(model_scale, max_abs(theirs.back()));
  }
  index = 0;
  for (const auto& [key, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << key;
    const Tensor& expected = theirs[index++];
    // A conv bias feeding a training-mode BatchNorm has a gradient that is zero in exact
    // arithmetic (the batch mean removes it): both sides hold rounding noise, so it is
    // measured against the model's gradient scale rather than against its own noise.
    const bool exactly_zero = max_abs(expected) < 1e-6 * model_scale;
    worst.check(p.grad(), expected, name + " " + key + ".grad", exactly_zero ? model_scale : 0);
  }
  worst.check(input.grad(), read_raw(work / "input_grad.bin", x.sizes()), name + " input.grad");
}

TEST(AutogradLive, MlpGradientsMatchPyTorch) {
  Generator gen(21);
  Mlp model;
  const Tensor x = rand({8, 1, 28, 28}, {}, &gen);
  const Tensor target = tensor<std::int64_t>({3, 1, 4, 1, 5, 9, 2, 6});
  check_model(model, "Mlp", x, target, /*training=*/true, 0.0);
  check_model(model, "Mlp", x, target, /*training=*/true, 0.1);
}

TEST(AutogradLive, CnnGradientsMatchPyTorch) {
  Generator gen(22);
  Cnn model;
  {
    NoGradGuard no_grad;  // non-trivial running statistics for evaluation mode
    for (const auto& [key, value] : model.state_dict()) {
      if (key.find("running_") != std::string::npos) {
        value.as_tensor().copy_(add(rand(value.as_tensor().sizes(), {}, &gen), 0.5));
      }
    }
  }
  const Tensor x = randn({4, 1, 28, 28}, {}, &gen);
  const Tensor target = tensor<std::int64_t>({7, 0, 3, 3});
  check_model(model, "Cnn", x, target, /*training=*/false, 0.0);
  check_model(model, "Cnn", x, target, /*training=*/true, 0.0);
  check_model(model, "Cnn", x, target, /*training=*/true, 0.2);
}

}  // namespace
}  // namespace mnemo::testing
