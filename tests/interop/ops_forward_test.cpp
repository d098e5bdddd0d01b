// Live: mnemo's ops compute what torch.nn.functional computes on the same inputs.
//
// Each test writes seeded random inputs as raw little-endian files, runs one Python
// process that loads them, applies the same ops with PyTorch and writes the results,
// and compares. Float32 results are compared with rtol 1e-5; the tolerance also allows
// an absolute 1e-5 for sums of many products (conv, linear, matmul), whose rounding
// depends on the summation order of each library and is relative to the size of the
// terms rather than of the result.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mnemo/core/generator.h"
#include "mnemo/ops.h"
#include "support/python.h"
#include "support/raw_tensors.h"

namespace mnemo::testing {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the raw files exchanged with numpy are little-endian");

// load(name) / save(name, tensor) over the files of the directory in argv[1]; a
// tensor's dtype and shape travel in name.meta.
constexpr const char* kOpsPrelude = R"PY(
import os, sys
import numpy as np
import torch
import torch.nn.functional as F
DIR = sys.argv[1]
def load(name):
    with open(os.path.join(DIR, name + ".meta")) as f:
        dtype, shape = f.read().split("\n")[:2]
    dims = [int(s) for s in shape.split()]
    data = np.fromfile(os.path.join(DIR, name + ".bin"), dtype=dtype).reshape(dims)
    return torch.from_numpy(data.copy())
def save(name, t):
    a = t.detach().contiguous().numpy()
    a.tofile(os.path.join(DIR, name + ".bin"))
    with open(os.path.join(DIR, name + ".meta"), "w") as f:
        f.write(str(a.dtype) + "\n" + " ".join(str(s) for s in a.shape) + "\n")
)PY";

// One exchange with PyTorch: inputs, a script body, outputs.
class TorchRun {
 public:
  void input(const std::string& name, const Tensor& t) {
    write_raw(dir_ / (name + ".bin"), t);
    std::ofstream meta(dir_ / (name + ".meta"));
    meta << dtype_name(t.dtype()) << "\n";
    for (std::int64_t s : t.sizes()) meta << s << " ";
    meta << "\n";
  }
  void run(const std::string& body) {
    python_output(std::string(kOpsPrelude) + body, dir_.path().string());
  }
  Tensor output(const std::string& name) const {
    std::ifstream meta(dir_ / (name + ".meta"));
    std::string dtype, shape_line;
    std::getline(meta, dtype);
    std::getline(meta, shape_line);
    Shape sizes;
    std::istringstream dims(shape_line);
    for (std::int64_t s; dims >> s;) sizes.push_back(s);
    return read_raw(dir_ / (name + ".bin"), sizes, *dtype_from_name(dtype));
  }

 private:
  TempDir dir_;
};

// |mnemo - torch| <= atol + rtol * |torch| for every element, reporting the worst one.
void expect_close(const Tensor& ours, const Tensor& theirs, const std::string& what,
                  double rtol = 1e-5, double atol = 1e-6) {
  ASSERT_EQ(ours.sizes(), theirs.sizes()) << what;
  ASSERT_EQ(ours.dtype(), theirs.dtype()) << what;
  const Tensor a = ours.to(DType::kFloat64).contiguous();
  const Tensor b = theirs.to(DType::kFloat64).contiguous();
  double worst = 0;  // the largest |a - b| / (atol + rtol * |b|)
  std::int64_t worst_at = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<double>()[i], y = b.data<double>()[i];
    const double ratio =
        std::isnan(x - y) ? INFINITY : std::abs(x - y) / (atol + rtol * std::abs(y));
    if (ratio > worst) worst = ratio, worst_at = i;
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << worst_at << " is " << a.data<double>()[worst_at]
                        << " in mnemo and " << b.data<double>()[worst_at] << " in PyTorch";
}

constexpr double kSumAtol = 1e-5;

std::string pair(std::array<std::int64_t, 2> v) {
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ")";
}

TEST(OpsForward, Conv2d) {
  struct Case {
    Shape input, weight;
    Conv2dOptions options;
    bool bias;
    DType dtype;
  };
  const Case cases[] = {
      {{2, 3, 9, 8}, {5, 3, 3, 3}, {.stride = {2, 1}, .padding = {1, 2}}, true, DType::kFloat32},
      {{1, 4, 11, 10},
       {6, 2, 3, 2},
       {.padding = {2, 1}, .dilation = {2, 3}, .groups = 2},
       false,
       DType::kFloat32},
      {{2, 6, 7, 7},
       {6, 1, 5, 5},
       {.stride = {2, 2}, .padding = {2, 2}, .groups = 6},
       true,
       DType::kFloat32},
      {{3, 8, 5, 5}, {4, 8, 1, 1}, {}, true, DType::kFloat32},
      {{4, 9, 8}, {2, 4, 3, 3}, {.stride = {1, 2}, .dilation = {2, 1}}, true, DType::kFloat32},
      {{2, 4, 9, 8},
       {6, 2, 3, 3},
       {.stride = {2, 1}, .padding = {1, 1}, .dilation = {1, 2}, .groups = 2},
       true,
       DType::kFloat64},
  };
  Generator gen(2024);
  TorchRun torch;
  std::string body;
  std::vector<Tensor> ours;
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const Case& c = cases[i];
    const std::string n = std::to_string(i);
    const Tensor x = randn(c.input, {.dtype = c.dtype}, &gen);
    const Tensor w = randn(c.weight, {.dtype = c.dtype}, &gen);
    const Tensor b = c.bias ? randn({c.weight[0]}, {.dtype = c.dtype}, &gen) : Tensor();
    torch.input("x" + n, x);
    torch.input("w" + n, w);
    if (c.bias) torch.input("b" + n, b);
    body += "save('y" + n + "', F.conv2d(load('x" + n + "'), load('w" + n + "'), " +
            (c.bias ? "load('b" + n + "')" : std::string("None")) +
            ", stride=" + pair(c.options.stride) + ", padding=" + pair(c.options.padding) +
            ", dilation=" + pair(c.options.dilation) +
            ", groups=" + std::to_string(c.options.groups) + "))\n";
    ours.push_back(conv2d(x, w, b, c.options));
  }
  torch.run(body);
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const bool f64 = cases[i].dtype == DType::kFloat64;
    expect_close(ours[i], torch.output("y" + std::to_string(i)), "conv2d case " + std::to_string(i),
                 f64 ? 1e-12 : 1e-5, f64 ? 1e-12 : kSumAtol);
  }
}

TEST(OpsForward, Pooling) {
  struct Case {
    bool max;
    Pool2dOptions options;
  };
  const Case cases[] = {
      {true, {.kernel_size = {3, 3}, .stride = {{2, 2}}, .padding = {1, 1}, .ceil_mode = true}},
      {true, {.kernel_size = {2, 2}, .stride = {{2, 2}}, .padding = {1, 1}, .ceil_mode = true}},
      {true, {.kernel_size = {3, 2}, .stride = {{1, 3}}, .padding = {1, 0}, .dilation = {2, 2}}},
      {true, {.kernel_size = {2, 3}, .stride = {{3, 2}}, .dilation = {1, 2}, .ceil_mode = true}},
      {false, {.kernel_size = {3, 3}, .stride = {{2, 2}}, .padding = {1, 1}, .ceil_mode = true}},
      {false,
       {.kernel_size = {3, 3},
        .stride = {{2, 2}},
        .padding = {1, 1},
        .ceil_mode = true,
        .count_include_pad = false}},
      {false, {.kernel_size = {2, 4}, .stride = {{3, 3}}, .padding = {1, 2}, .ceil_mode = true}},
      {false, {.kernel_size = {2, 2}}},
  };
  Generator gen(7);
  const Tensor x = randn({2, 3, 9, 10}, {}, &gen);
  const Tensor x3 = randn({3, 13, 7}, {}, &gen);
  TorchRun torch;
  torch.input("x", x);
  torch.input("x3", x3);
  std::string body;
  std::vector<Tensor> ours;
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const Pool2dOptions& o = cases[i].options;
    const std::string common = "kernel_size=" + pair(o.kernel_size) +
                               ", stride=" + pair(o.stride.value_or(o.kernel_size)) +
                               ", padding=" + pair(o.padding) +
                               ", ceil_mode=" + (o.ceil_mode ? "True" : "False");
    for (const char* input : {"x", "x3"}) {
      const std::string name = std::string("y") + input + "_" + std::to_string(i);
      body += "save('" + name + "', " + (cases[i].max ? "F.max_pool2d" : "F.avg_pool2d") +
              "(load('" + input + "'), " + common +
              (cases[i].max ? ", dilation=" + pair(o.dilation)
                            : std::string(", count_include_pad=") +
                                  (o.count_include_pad ? "True" : "False")) +
              "))\n";
      const Tensor& in = std::string(input) == "x" ? x : x3;
      ours.push_back(cases[i].max ? max_pool2d(in, o) : avg_pool2d(in, o));
    }
  }
  const std::array<std::int64_t, 2> adaptive[] = {{3, 3}, {4, 7}, {1, 1}, {9, 10}, {5, 3}};
  for (std::size_t i = 0; i < std::size(adaptive); ++i) {
    body += "save('a" + std::to_string(i) + "', F.adaptive_avg_pool2d(load('x'), " +
            pair(adaptive[i]) + "))\n";
  }
  torch.run(body);
  std::size_t k = 0;
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    for (const char* input : {"x", "x3"}) {
      const std::string name = std::string("y") + input + "_" + std::to_string(i);
      expect_close(ours[k++], torch.output(name), name);
    }
  }
  for (std::size_t i = 0; i < std::size(adaptive); ++i) {
    expect_close(adaptive_avg_pool2d(x, adaptive[i]), torch.output("a" + std::to_string(i)),
                 "adaptive_avg_pool2d " + pair(adaptive[i]));
  }
}

TEST(OpsForward, BatchNormAndLayerNorm) {
  Generator gen(99);
  const Tensor x4 = add(mul(randn({4, 3, 5, 6}, {}, &gen), 2.0), 0.5);
  const Tensor x2 = randn({6, 5}, {}, &gen);
  const Tensor weight = randn({3}, {}, &gen), bias = randn({3}, {}, &gen);
  const Tensor mean0 = randn({3}, {}, &gen);
  const Tensor var0 = add(rand({3}, {}, &gen), 0.5);
  TorchRun torch;
  for (const auto& [name, t] : std::vector<std::pair<std::string, Tensor>>{
           {"x4", x4}, {"x2", x2}, {"w", weight}, {"b", bias}, {"m", mean0}, {"v", var0}}) {
    torch.input(name, t);
  }
  const Tensor ln_w = randn({5, 6}, {}, &gen), ln_b = randn({5, 6}, {}, &gen);
  torch.input("ln_w", ln_w);
  torch.input("ln_b", ln_b);
  torch.run(R"PY(
m, v = load('m'), load('v')
w, b = load('w'), load('b')
save('train', F.batch_norm(load('x4'), m, v, w, b, training=True, momentum=0.1, eps=1e-5))
save('train_mean', m)
save('train_var', v)
save('eval', F.batch_norm(load('x4'), load('m'), load('v'), w, b, training=False, eps=1e-3))
m2, v2 = torch.zeros(5), torch.ones(5)
save('train2d', F.batch_norm(load('x2'), m2, v2, None, None, training=True, momentum=0.3, eps=1e-5))
save('train2d_var', v2)
save('ln_last', F.layer_norm(load('x4'), (6,), None, None, eps=1e-5))
save('ln_two', F.layer_norm(load('x4'), (5, 6), load('ln_w'), load('ln_b'), eps=1e-5))
)PY");
  const Tensor m = mean0.clone(), v = var0.clone();
  expect_close(batch_norm(x4, m, v, weight, bias, true, 0.1, 1e-5), torch.output("train"),
               "batch_norm train");
  expect_close(m, torch.output("train_mean"), "updated running_mean");
  expect_close(v, torch.output("train_var"), "updated running_var");
  expect_close(batch_norm(x4, mean0, var0, weight, bias, false, 0.1, 1e-3), torch.output("eval"),
               "batch_norm eval");
  const Tensor m2 = zeros({5}), v2 = ones({5});
  expect_close(batch_norm(x2, m2, v2, Tensor(), Tensor(), true, 0.3, 1e-5), torch.output("train2d"),
               "batch_norm train 2-D");
  expect_close(v2, torch.output("train2d_var"), "updated running_var 2-D");
  expect_close(layer_norm(x4, {6}, Tensor(), Tensor(), 1e-5), torch.output("ln_last"),
               "layer_norm over 1 dim");
  expect_close(layer_norm(x4, {5, 6}, ln_w, ln_b, 1e-5), torch.output("ln_two"),
               "layer_norm over 2 dims");
}

TEST(OpsForward, LinearMatmulActivationsEmbedding) {
  Generator gen(5);
  const Tensor x = randn({2, 3, 7}, {}, &gen);
  const Tensor w = randn({4, 7}, {}, &gen), b = randn({4}, {}, &gen);
  const Tensor a = randn({2, 1, 3, 4}, {}, &gen), c = randn({5, 4, 6}, {}, &gen);
  const Tensor logits = mul(randn({3, 5, 4}, {}, &gen), 3.0);
  const Tensor table = randn({10, 3}, {}, &gen);
  const Tensor idx = tensor<std::int64_t>({3, 0, 9, 9, 1, 4}).view({2, 3});
  TorchRun torch;
  for (const auto& [name, t] : std::vector<std::pair<std::string, Tensor>>{{"x", x},
                                                                           {"w", w},
                                                                           {"b", b},
                                                                           {"a", a},
                                                                           {"c", c},
                                                                           {"logits", logits},
                                                                           {"table", table},
                                                                           {"idx", idx}}) {
    torch.input(name, t);
  }
  torch.run(R"PY(
x, w, a, c, logits = load('x'), load('w'), load('a'), load('c'), load('logits')
save('linear', F.linear(x, w, load('b')))
save('linear_nobias', F.linear(x.transpose(0, 1), w))
save('matmul', torch.matmul(a, c))
save('matmul_t', torch.matmul(c.transpose(1, 2), a.transpose(2, 3)))
save('gelu', F.gelu(logits))
save('gelu_tanh', F.gelu(logits, approximate='tanh'))
save('log_softmax', F.log_softmax(logits, dim=1))
save('softmax', F.softmax(logits, dim=-1))
save('sigmoid', torch.sigmoid(logits))
save('tanh', torch.tanh(logits))
save('embedding', F.embedding(load('idx'), load('table')))
)PY");
  expect_close(linear(x, w, b), torch.output("linear"), "linear", 1e-5, kSumAtol);
  expect_close(linear(x.transpose(0, 1), w), torch.output("linear_nobias"), "linear, no bias", 1e-5,
               kSumAtol);
  expect_close(matmul(a, c), torch.output("matmul"), "matmul batched", 1e-5, kSumAtol);
  expect_close(matmul(c.transpose(1, 2), a.transpose(2, 3)), torch.output("matmul_t"),
               "matmul transposed", 1e-5, kSumAtol);
  expect_close(gelu(logits), torch.output("gelu"), "gelu");
  expect_close(gelu(logits, true), torch.output("gelu_tanh"), "gelu tanh");
  expect_close(log_softmax(logits, 1), torch.output("log_softmax"), "log_softmax");
  expect_close(softmax(logits, -1), torch.output("softmax"), "softmax");
  expect_close(sigmoid(logits), torch.output("sigmoid"), "sigmoid");
  expect_close(tanh(logits), torch.output("tanh"), "tanh");
  const Tensor looked_up = embedding(table, idx);
  const Tensor theirs = torch.output("embedding");
  ASSERT_EQ(looked_up.sizes(), theirs.sizes());
  EXPECT_TRUE(looked_up.equal(theirs));  // a gather is exact
}

}  // namespace
}  // namespace mnemo::testing
