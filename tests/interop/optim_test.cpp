// Live: mnemo's optimizers and LR schedulers against PyTorch 1.13.
//  - SGD, Adam and AdamW, every option combination, float32 (and float64): the same
//    parameters and gradients give the same bits after each of 5 steps;
//  - optimizer state_dicts cross both ways (torch.save -> mnemo::load, mnemo::save ->
//    torch.load) and training continues identically for 10 steps;
//  - mnemo::save of an optimizer state_dict writes torch.save's bytes exactly;
//  - LR schedulers give PyTorch's lrs to the bit over 30 steps, their state_dicts have
//    PyTorch's layout, and they resume from each other's state_dicts.
// Tensors cross as raw files (support/raw_tensors.h); state_dicts as .pt files.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>

#include "mnemo/core/generator.h"
#include "mnemo/optim.h"
#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"
#include "support/raw_tensors.h"

namespace mnemo::testing {
namespace {

using namespace mnemo::optim;  // NOLINT: the API under test

constexpr int kSteps = 5;
const Shape kWeightShape = {37, 19};  // 703 elements: vector loops and their tails
const Shape kBiasShape = {5};

// --- one optimizer configuration, as mnemo options and as Python arguments ---------------------

struct Config {
  std::string optimizer;  // "SGD", "Adam", "AdamW"
  DType dtype = DType::kFloat32;
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, amsgrad = false, maximize = false;

  std::string name() const {
    std::ostringstream out;
    out << optimizer << "_" << dtype_name(dtype) << "_m" << momentum << "_d" << dampening << "_wd"
        << weight_decay << (nesterov ? "_nesterov" : "") << (amsgrad ? "_amsgrad" : "")
        << (maximize ? "_maximize" : "");
    return out.str();
  }

  // Two groups: the weight with its own lr, the bias with the default one.
  double group_lr() const { return optimizer == "SGD" ? 0.1 : 0.01; }

  double default_weight_decay() const { return optimizer == "AdamW" ? 0.01 : 0.0; }

  // Only values that differ from PyTorch's defaults are given, on both sides, so that the
  // defaults' Python types (the int 0 of weight_decay) are exercised too.
  std::string python(const std::string& w, const std::string& b) const {
    std::ostringstream out;
    out << "torch.optim." << optimizer << "([{'params': [" << w
        << "], 'lr': " << repr_double(group_lr()) << "}, {'params': [" << b
        << "]}], lr=" << (optimizer == "SGD" ? "0.05" : "0.002");
    if (momentum != 0) out << ", momentum=" << repr_double(momentum);
    if (dampening != 0) out << ", dampening=" << repr_double(dampening);
    if (nesterov) out << ", nesterov=True";
    if (amsgrad) out << ", amsgrad=True";
    if (weight_decay != default_weight_decay())
      out << ", weight_decay=" << repr_double(weight_decay);
    if (maximize) out << ", maximize=True";
    out << ")";
    return out.str();
  }

  std::unique_ptr<Optimizer> make(const Tensor& w, const Tensor& b) const {
    const std::vector<ParamGroup> groups{{{w}, {.lr = group_lr()}}, {{b}}};
    if (optimizer == "SGD") {
      SGDOptions o{.lr = 0.05, .nesterov = nesterov, .maximize = maximize};
      if (momentum != 0) o.momentum = momentum;
      if (dampening != 0) o.dampening = dampening;
      if (weight_decay != 0) o.weight_decay = weight_decay;
      return std::make_unique<SGD>(groups, o);
    }
    if (optimizer == "Adam") {
      AdamOptions o{.lr = 0.002, .amsgrad = amsgrad, .maximize = maximize};
      if (weight_decay != 0) o.weight_decay = weight_decay;
      return std::make_unique<Adam>(groups, o);
    }
    AdamWOptions o{.lr = 0.002, .amsgrad = amsgrad, .maximize = maximize};
    if (weight_decay != default_weight_decay()) o.weight_decay = weight_decay;
    return std::make_unique<AdamW>(groups, o);
  }
};

std::vector<Config> all_configs() {
  std::vector<Config> out;
  for (double wd : {0.0, 0.01}) {
    for (bool maximize : {false, true}) {
      for (double momentum : {0.0, 0.9}) {
        for (double dampening : {0.0, 0.5}) {
          for (bool nesterov : {false, true}) {
            if (nesterov && (momentum == 0 || dampening != 0)) continue;
            out.push_back(
                {"SGD", DType::kFloat32, momentum, dampening, wd, nesterov, false, maximize});
          }
        }
      }
      for (const char* adam : {"Adam", "AdamW"}) {
        for (bool amsgrad : {false, true})
          out.push_back({adam, DType::kFloat32, 0, 0, wd, false, amsgrad, maximize});
      }
    }
  }
  out.push_back({"SGD", DType::kFloat64, 0.9, 0.0, 0.01, true, false, false});
  out.push_back({"Adam", DType::kFloat64, 0, 0, 0.01, false, true, false});
  out.push_back({"AdamW", DType::kFloat64, 0, 0, 0.01, false, false, true});
  return out;
}

// --- exchange --------------------------------------------------------------------------------

// Initial parameters and a gradient sequence for each dtype, written for Python.
struct Data {
  std::map<DType, std::pair<Tensor, Tensor>> init;
  std::map<DType, std::vector<std::pair<Tensor, Tensor>>> grads;

  Data(const TempDir& dir, int steps) {
    Generator gen(7);
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      const std::string d(dtype_name(dtype));
      init[dtype] = {randn(kWeightShape, {.dtype = dtype}, &gen),
                     randn(kBiasShape, {.dtype = dtype}, &gen)};
      write_raw(dir / ("w_" + d + ".bin"), init[dtype].first);
      write_raw(dir / ("b_" + d + ".bin"), init[dtype].second);
      for (int s = 0; s < steps; ++s) {
        grads[dtype].emplace_back(randn(kWeightShape, {.dtype = dtype}, &gen),
                                  randn(kBiasShape, {.dtype = dtype}, &gen));
        write_raw(dir / ("gw_" + d + "_" + std::to_string(s) + ".bin"), grads[dtype][s].first);
        write_raw(dir / ("gb_" + d + "_" + std::to_string(s) + ".bin"), grads[dtype][s].second);
      }
    }
  }
};

constexpr const char* kPythonCommon = R"PY(
import sys, warnings
import numpy as np
import torch
warnings.simplefilter("ignore")
out = sys.argv[1]
W, B = (37, 19), (5,)

def load(name, shape, dtype):
    return torch.from_numpy(np.fromfile(f"{out}/{name}", dtype=dtype).reshape(shape).copy())

def params(dtype, prefix=""):
    w = torch.nn.Parameter(load(f"{prefix}w_{dtype}.bin", W, dtype))
    b = torch.nn.Parameter(load(f"{prefix}b_{dtype}.bin", B, dtype))
    return w, b

def set_grads(w, b, dtype, step):
    w.grad = load(f"gw_{dtype}_{step}.bin", W, dtype)
    b.grad = load(f"gb_{dtype}_{step}.bin", B, dtype)

def dump(name, *tensors):
    for i, t in enumerate(tensors):
        t.detach().numpy().tofile(f"{out}/{name}_{i}.bin")
)PY";

bool same_bits(const Tensor& actual, const std::filesystem::path& path) {
  const Tensor expected = read_raw(path, actual.sizes(), actual.dtype());
  return std::memcmp(actual.data_ptr(), expected.data_ptr(), actual.nbytes()) == 0;
}

// --- (1) bit-exact updates ---------------------------------------------------------------------

TEST(OptimLive, EveryOptionMatchesPyTorchBitForBitOverFiveSteps) {
  TempDir dir;
  Data data(dir, kSteps);
  const std::vector<Config> configs = all_configs();
  std::string script = std::string(kPythonCommon) + "CONFIGS = [\n";
  for (std::size_t i = 0; i < configs.size(); ++i) {
    script += "  ('" + std::string(dtype_name(configs[i].dtype)) +
              "', lambda w, b: " + configs[i].python("w", "b") + "),\n";
  }
  script += R"PY(]
for index, (dtype, make) in enumerate(CONFIGS):
    w, b = params(dtype)
    opt = make(w, b)
    for step in range(5):
        set_grads(w, b, dtype, step)
        opt.step()
        dump(f"out{index}_{step}", w, b)
print("ok")
)PY";
  ASSERT_EQ(python_output(script, dir.path().string()), "ok\n");

  for (std::size_t i = 0; i < configs.size(); ++i) {
    const Config& c = configs[i];
    SCOPED_TRACE(c.name());
    const Tensor w = data.init[c.dtype].first.clone();
    const Tensor b = data.init[c.dtype].second.clone();
    auto opt = c.make(w, b);
    for (int s = 0; s < kSteps; ++s) {
      w.set_grad(data.grads[c.dtype][s].first);
      b.set_grad(data.grads[c.dtype][s].second);
      opt->step();
      const std::string prefix = "out" + std::to_string(i) + "_" + std::to_string(s);
      ASSERT_TRUE(same_bits(w, dir / (prefix + "_0.bin"))) << "weight, step " << s + 1;
      ASSERT_TRUE(same_bits(b, dir / (prefix + "_1.bin"))) << "bias, step " << s + 1;
    }
  }
}

// --- (2) state_dicts cross both ways; (3) byte-identical files --------------------------------

const std::vector<Config>& resume_configs() {
  static const std::vector<Config> configs{
      {"SGD", DType::kFloat32, 0.0, 0.0, 0.01, false, false, false},  // momentum_buffer: None
      {"SGD", DType::kFloat32, 0.9, 0.5, 0.0, false, false, true},    // int defaults
      {"Adam", DType::kFloat32, 0, 0, 0.0, false, false, false},      // all defaults but lr
      {"SGD", DType::kFloat32, 0.9, 0.0, 0.01, true, false, false},
      {"Adam", DType::kFloat32, 0, 0, 0.01, false, true, false},
      {"AdamW", DType::kFloat32, 0, 0, 0.01, false, false, true},
  };
  return configs;
}

// PyTorch trains 5 steps, saves its state_dict and parameters, and continues 10 steps;
// mnemo loads both and continues with the same gradients.
TEST(OptimLive, ResumesFromPyTorchsStateDictBitForBit) {
  TempDir dir;
  Data data(dir, 15);
  const auto& configs = resume_configs();
  std::string script = std::string(kPythonCommon) + "CONFIGS = [\n";
  for (const Config& c : configs) script += "  lambda w, b: " + c.python("w", "b") + ",\n";
  script += R"PY(]
for index, make in enumerate(CONFIGS):
    w, b = params("float32")
    opt = make(w, b)
    for step in range(15):
        if step == 5:
            torch.save(opt.state_dict(), f"{out}/opt{index}.pt")
            dump(f"resume{index}", w, b)
        set_grads(w, b, "float32", step)
        opt.step()
        if step >= 5:
            dump(f"out{index}_{step}", w, b)
print("ok")
)PY";
  ASSERT_EQ(python_output(script, dir.path().string()), "ok\n");

  for (std::size_t i = 0; i < configs.size(); ++i) {
    SCOPED_TRACE(configs[i].name());
    const std::string n = std::to_string(i);
    const Tensor w = read_raw(dir / ("resume" + n + "_0.bin"), kWeightShape);
    const Tensor b = read_raw(dir / ("resume" + n + "_1.bin"), kBiasShape);
    auto opt = configs[i].make(w, b);
    opt->load_state_dict(load(dir / ("opt" + n + ".pt")));
    for (int s = 5; s < 15; ++s) {
      w.set_grad(data.grads[DType::kFloat32][s].first);
      b.set_grad(data.grads[DType::kFloat32][s].second);
      opt->step();
      const std::string prefix = "out" + n + "_" + std::to_string(s);
      ASSERT_TRUE(same_bits(w, dir / (prefix + "_0.bin"))) << "weight, step " << s + 1;
      ASSERT_TRUE(same_bits(b, dir / (prefix + "_1.bin"))) << "bias, step " << s + 1;
    }
  }
}

// mnemo trains 5 steps and saves; PyTorch loads the state_dict into a fresh optimizer and
// continues 10 steps, as mnemo does. Both files of the 5-step state are compared byte for
// byte: mnemo::save writes what torch.save writes.
TEST(OptimLive, PyTorchResumesFromMnemosStateDictAndTheFilesAreByteIdentical) {
  TempDir dir;
  Data data(dir, 15);
  const auto& configs = resume_configs();
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  std::vector<std::pair<Tensor, Tensor>> params;
  std::filesystem::create_directory(dir / "mnemo");
  std::filesystem::create_directory(dir / "torch");
  for (std::size_t i = 0; i < configs.size(); ++i) {
    const std::string n = std::to_string(i);
    params.emplace_back(data.init[DType::kFloat32].first.clone(),
                        data.init[DType::kFloat32].second.clone());
    auto& [w, b] = params.back();
    optimizers.push_back(configs[i].make(w, b));
    for (int s = 0; s < 5; ++s) {
      w.set_grad(data.grads[DType::kFloat32][s].first);
      b.set_grad(data.grads[DType::kFloat32][s].second);
      optimizers.back()->step();
    }
    save(optimizers.back()->state_dict(), dir / "mnemo" / ("opt" + n + ".pt"));
    write_raw(dir / ("mw" + n + ".bin"), w);
    write_raw(dir / ("mb" + n + ".bin"), b);
  }

  std::string script = std::string(kPythonCommon) + "CONFIGS = [\n";
  for (const Config& c : configs) script += "  lambda w, b: " + c.python("w", "b") + ",\n";
  script += R"PY(]
for index, make in enumerate(CONFIGS):
    # PyTorch's own 5 steps, saved beside mnemo's file under the same name.
    w, b = params("float32")
    opt = make(w, b)
    for step in range(5):
        set_grads(w, b, "float32", step)
        opt.step()
    torch.save(opt.state_dict(), f"{out}/torch/opt{index}.pt")
    # Resume from mnemo's parameters and state_dict.
    w = torch.nn.Parameter(load(f"mw{index}.bin", W, "float32"))
    b = torch.nn.Parameter(load(f"mb{index}.bin", B, "float32"))
    opt = make(w, b)
    opt.load_state_dict(torch.load(f"{out}/mnemo/opt{index}.pt"))
    for step in range(5, 15):
        set_grads(w, b, "float32", step)
        opt.step()
        dump(f"out{index}_{step}", w, b)
print("ok")
)PY";
  ASSERT_EQ(python_output(script, dir.path().string()), "ok\n");

  for (std::size_t i = 0; i < configs.size(); ++i) {
    SCOPED_TRACE(configs[i].name());
    const std::string n = std::to_string(i);
    EXPECT_EQ(read_text(dir / "mnemo" / ("opt" + n + ".pt")),
              read_text(dir / "torch" / ("opt" + n + ".pt")))
        << "mnemo::save and torch.save wrote different bytes";
    auto& [w, b] = params[i];
    for (int s = 5; s < 15; ++s) {
      w.set_grad(data.grads[DType::kFloat32][s].first);
      b.set_grad(data.grads[DType::kFloat32][s].second);
      optimizers[i]->step();
      const std::string prefix = "out" + n + "_" + std::to_string(s);
      ASSERT_TRUE(same_bits(w, dir / (prefix + "_0.bin"))) << "weight, step " << s + 1;
      ASSERT_TRUE(same_bits(b, dir / (prefix + "_1.bin"))) << "bias, step " << s + 1;
    }
  }
}

// --- (4) LR schedulers -------------------------------------------------------------------------

struct SchedulerConfig {
  std::string name;
  std::string python;  // builds it on the optimizer `o`
  std::function<std::shared_ptr<LRScheduler>(Optimizer&)> make;
};

std::vector<SchedulerConfig> scheduler_configs() {
  using P = std::shared_ptr<LRScheduler>;
  return {
      {"StepLR", "L.StepLR(o, 7, gamma=0.3)",
       [](Optimizer& o) -> P {
         return std::make_shared<StepLR>(o, 7, StepLROptions{.gamma = 0.3});
       }},
      {"MultiStepLR", "L.MultiStepLR(o, [5, 12, 12, 20], gamma=0.3)",
       [](Optimizer& o) -> P {
         return std::make_shared<MultiStepLR>(o, std::vector<std::int64_t>{5, 12, 12, 20},
                                              MultiStepLROptions{.gamma = 0.3});
       }},
      {"ExponentialLR", "L.ExponentialLR(o, 0.93)",
       [](Optimizer& o) -> P { return std::make_shared<ExponentialLR>(o, 0.93); }},
      {"CosineAnnealingLR", "L.CosineAnnealingLR(o, 8, eta_min=0.001)",
       [](Optimizer& o) -> P {
         return std::make_shared<CosineAnnealingLR>(o, 8,
                                                    CosineAnnealingLROptions{.eta_min = 0.001});
       }},
      {"LinearLR", "L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=10)",
       [](Optimizer& o) -> P {
         return std::make_shared<LinearLR>(
             o, LinearLROptions{.start_factor = 0.2, .end_factor = 0.9, .total_iters = 10});
       }},
      {"SequentialLR_warmup_cosine",
       "L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=5), "
       "L.CosineAnnealingLR(o, 10, eta_min=0.0001), L.ExponentialLR(o, 0.9)], [5, 15])",
       [](Optimizer& o) -> P {
         auto warmup =
             std::make_shared<LinearLR>(o, LinearLROptions{.start_factor = 0.1, .total_iters = 5});
         auto cosine = std::make_shared<CosineAnnealingLR>(
             o, 10, CosineAnnealingLROptions{.eta_min = 0.0001});
         auto decay = std::make_shared<ExponentialLR>(o, 0.9);
         return std::make_shared<SequentialLR>(o, std::vector<P>{warmup, cosine, decay},
                                               std::vector<std::int64_t>{5, 15});
       }},
      {"SequentialLR_steps",
       "L.SequentialLR(o, [L.ExponentialLR(o, 0.95), L.StepLR(o, 3, gamma=0.5), "
       "L.MultiStepLR(o, [2, 4], gamma=0.7)], [6, 11])",
       [](Optimizer& o) -> P {
         auto a = std::make_shared<ExponentialLR>(o, 0.95);
         auto b = std::make_shared<StepLR>(o, 3, StepLROptions{.gamma = 0.5});
         auto c = std::make_shared<MultiStepLR>(o, std::vector<std::int64_t>{2, 4},
                                                MultiStepLROptions{.gamma = 0.7});
         return std::make_shared<SequentialLR>(o, std::vector<P>{a, b, c},
                                               std::vector<std::int64_t>{6, 11});
       }},
  };
}

constexpr int kSchedulerSteps = 30;
constexpr int kResumeAt = 15;

// Two groups with different lrs, as the Python side builds them.
std::unique_ptr<SGD> scheduler_optimizer() {
  return std::make_unique<SGD>(std::vector<ParamGroup>{{{zeros({2})}, {.lr = 0.1}}, {{zeros({3})}}},
                               SGDOptions{.lr = 0.05, .momentum = 0.9});
}

std::vector<double> group_lrs(const Optimizer& opt) {
  return {opt.param_groups()[0].lr(), opt.param_groups()[1].lr()};
}

// Compares mnemo's lrs with the float64 values Python wrote, bit for bit.
void expect_lrs(const std::vector<std::vector<double>>& actual, const std::filesystem::path& path) {
  const Tensor expected =
      read_raw(path, {static_cast<std::int64_t>(actual.size()), 2}, DType::kFloat64);
  for (std::size_t i = 0; i < actual.size(); ++i) {
    for (int g = 0; g < 2; ++g) {
      const double e = expected.data<double>()[i * 2 + static_cast<std::size_t>(g)];
      EXPECT_EQ(std::memcmp(&actual[i][static_cast<std::size_t>(g)], &e, sizeof(double)), 0)
          << "lr " << i << " of group " << g << ": mnemo "
          << repr_double(actual[i][static_cast<std::size_t>(g)]) << ", PyTorch " << repr_double(e);
    }
  }
}

TEST(OptimLive, SchedulersMatchPyTorchAndResumeFromEachOthersStateDicts) {
  TempDir dir;
  std::filesystem::create_directory(dir / "mnemo");
  std::filesystem::create_directory(dir / "torch");
  const auto configs = scheduler_configs();

  // mnemo's runs first: their lrs, and their state_dicts at step 15 for PyTorch to resume.
  std::vector<std::vector<std::vector<double>>> sequences;
  std::vector<Value> scheduler_at_15, optimizer_at_15;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    auto opt = scheduler_optimizer();
    auto scheduler = configs[i].make(*opt);
    sequences.push_back({group_lrs(*opt)});
    for (int s = 1; s <= kSchedulerSteps; ++s) {
      scheduler->step();
      sequences.back().push_back(group_lrs(*opt));
      EXPECT_EQ(scheduler->get_last_lr(), sequences.back().back());
      if (s == kResumeAt) {
        scheduler_at_15.push_back(scheduler->state_dict());
        optimizer_at_15.push_back(opt->state_dict());
        save(scheduler_at_15.back(), dir / "mnemo" / ("sched" + std::to_string(i) + ".pt"));
        save(optimizer_at_15.back(), dir / "mnemo" / ("opt" + std::to_string(i) + ".pt"));
      }
    }
  }

  std::string script = std::string(kPythonCommon) + "L = torch.optim.lr_scheduler\nCONFIGS = [\n";
  for (const auto& c : configs) script += "  lambda o: " + c.python + ",\n";
  script += R"PY(]
def make_opt():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    return torch.optim.SGD([{'params': [a], 'lr': 0.1}, {'params': [b]}], lr=0.05, momentum=0.9)

def lrs(o):
    return [g['lr'] for g in o.param_groups]

for index, make in enumerate(CONFIGS):
    o = make_opt()
    s = make(o)
    seq = [lrs(o)]
    for step in range(1, 31):
        o.step()
        s.step()
        seq.append(lrs(o))
        if step == 15:
            torch.save(s.state_dict(), f"{out}/torch/sched{index}.pt")
            torch.save(o.state_dict(), f"{out}/torch/opt{index}.pt")
    np.array(seq, dtype=np.float64).tofile(f"{out}/lrs{index}.bin")
    # Resume from mnemo's state_dicts in fresh objects.
    o = make_opt()
    s = make(o)
    o.load_state_dict(torch.load(f"{out}/mnemo/opt{index}.pt"))
    s.load_state_dict(torch.load(f"{out}/mnemo/sched{index}.pt"))
    seq = []
    for step in range(16, 31):
        o.step()
        s.step()
        seq.append(lrs(o))
    np.array(seq, dtype=np.float64).tofile(f"{out}/resumed{index}.bin")
print("ok")
)PY";
  ASSERT_EQ(python_output(script, dir.path().string()), "ok\n");

  for (std::size_t i = 0; i < configs.size(); ++i) {
    SCOPED_TRACE(configs[i].name);
    const std::string n = std::to_string(i);
    expect_lrs(sequences[i], dir / ("lrs" + n + ".bin"));
    // PyTorch's resume from mnemo's state_dicts continued as mnemo did.
    const std::vector<std::vector<double>> tail(sequences[i].begin() + kResumeAt + 1,
                                                sequences[i].end());
    expect_lrs(tail, dir / ("resumed" + n + ".bin"));

    // Same layout: keys, order, values and Python types (MultiStepLR's Counter reads
    // back as the dict mnemo keeps). The optimizer's groups carry initial_lr.
    const Value torch_scheduler = load(dir / "torch" / ("sched" + n + ".pt"));
    const Value torch_optimizer = load(dir / "torch" / ("opt" + n + ".pt"));
    EXPECT_EQ(torch_scheduler, scheduler_at_15[i])
        << "PyTorch: " << torch_scheduler.repr() << "\nmnemo:   " << scheduler_at_15[i].repr();
    EXPECT_EQ(torch_optimizer, optimizer_at_15[i])
        << "PyTorch: " << torch_optimizer.repr() << "\nmnemo:   " << optimizer_at_15[i].repr();

    // The files too: torch.save's bytes, except for two Python-object facts a Value
    // cannot carry: MultiStepLR's milestones are a collections.Counter (mnemo writes the
    // plain dict it holds), and SequentialLR's _last_lr is the very list object of its
    // current scheduler's _last_lr (pickled once, then fetched from the memo).
    EXPECT_EQ(read_text(dir / "mnemo" / ("opt" + n + ".pt")),
              read_text(dir / "torch" / ("opt" + n + ".pt")));
    if (configs[i].python.find("MultiStepLR") == std::string::npos &&
        configs[i].python.find("SequentialLR") == std::string::npos) {
      EXPECT_EQ(read_text(dir / "mnemo" / ("sched" + n + ".pt")),
                read_text(dir / "torch" / ("sched" + n + ".pt")));
    }

    // mnemo resumes from PyTorch's state_dicts in fresh objects.
    auto opt = scheduler_optimizer();
    auto scheduler = configs[i].make(*opt);
    opt->load_state_dict(torch_optimizer);
    scheduler->load_state_dict(torch_scheduler);
    std::vector<std::vector<double>> resumed;
    for (int s = kResumeAt + 1; s <= kSchedulerSteps; ++s) {
      scheduler->step();
      resumed.push_back(group_lrs(*opt));
    }
    EXPECT_EQ(resumed, tail);  // which matched PyTorch's bits above
  }
}

}  // namespace
}  // namespace mnemo::testing
