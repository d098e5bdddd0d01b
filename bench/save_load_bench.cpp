// mnemo-bench-io: one timed save or load of one benchmark case, printed as one JSON line.
// bench/save_load_bench.py runs it in a fresh process per measurement, beside the same
// operation in PyTorch, and makes the table. Run it alone to time one thing:
//
//   mnemo-bench-io --case big --op save-pt --file /tmp/big.pt
//   mnemo-bench-io --case big --op load-pt --file /tmp/big.pt
//   mnemo-bench-io --op memcpy --bytes 1073741824
//
// Cases (the same in the Python worker of save_load_bench.py):
//   big         64 float32 tensors of 2048 x 2048 (1 GiB), an OrderedDict "w00".."w63"
//   many        20,000 float32 tensors of 1,000 elements (--tensors N for another count)
//   checkpoint  a 25M-parameter transformer-like model and its Adam state, nested as
//               {"epoch", "model", "optimizer": {"state", "param_groups"}, "loss"}
// Operations: save-pt, save-pt-durable (fsync), load-pt (copy, CRC checked), load-pt-mmap,
// and the same with -st for .safetensors; memcpy measures the machine's copy bandwidth.
// resume-pt (checkpoint only) is what resuming training does: the load, then the model's
// and the Adam optimizer's load_state_dict, into a model built (and an optimizer made
// over it) before the timing starts. load-model (big only) rebuilds a whole model from a
// file save-model wrote: 64 Linear(2048, 2048, bias=False) layers, 1 GiB.
//
// "seconds" is the operation alone (building the tensors to save is not timed). For an
// mmap load, "touch_seconds" is the time to then read one byte of every 4 KiB page of
// every tensor. "peak_bytes" is the process's peak resident memory during the operation
// above its resident memory before the case was built (so a save's peak includes the
// tensors it saves), from VmHWM after resetting it through /proc/self/clear_refs.
// "huge_page_bytes" is the process's memory in transparent huge pages after the operation.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/checkpoint/model_file.h"
#include "mnemo/core/storage.h"
#include "mnemo/core/tensor.h"
#include "mnemo/core/value.h"
#include "mnemo/nn/container.h"
#include "mnemo/nn/linear.h"
#include "mnemo/nn/module.h"
#include "mnemo/optim/adam.h"
#include "mnemo/serialize.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// --- resident memory ------------------------------------------------------------------

std::uint64_t status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::stoull(line.substr(n + 1));
    }
  }
  return 0;
}

// The process's anonymous memory in transparent huge pages; -1 where the kernel does not
// tell.
long long huge_page_bytes() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.starts_with("AnonHugePages:")) return std::stoll(line.substr(14)) * 1024;
  }
  return -1;
}

std::uint64_t rss_bytes() { return status_kib("VmRSS") * 1024; }
std::uint64_t hwm_bytes() { return status_kib("VmHWM") * 1024; }

// Resets the peak (VmHWM) to the current resident size. Returns false where the kernel
// does not allow it; the peak then covers the whole process.
bool reset_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

// --- the cases ------------------------------------------------------------------------

// Fills float32 tensors with values from a fast generator: real bytes, so every page is
// backed and nothing compresses to zero pages.
class Filler {
 public:
  void fill(const mnemo::Tensor& tensor) {
    auto* p = static_cast<float*>(tensor.mutable_data_ptr());
    const auto n = static_cast<std::size_t>(tensor.numel());
    for (std::size_t i = 0; i < n; ++i) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 7;
      state_ ^= state_ << 17;
      p[i] = static_cast<float>(static_cast<std::int64_t>(state_ >> 40) - (1 << 23)) * 0x1p-24f;
    }
  }

 private:
  std::uint64_t state_ = 0x9e3779b97f4a7c15ULL;
};

mnemo::Tensor float_tensor(const mnemo::Shape& shape, Filler& filler) {
  std::int64_t numel = 1;
  for (std::int64_t s : shape) numel *= s;
  mnemo::Shape strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  mnemo::Tensor t(mnemo::Storage::allocate(static_cast<std::size_t>(numel) * 4),
                  mnemo::DType::kFloat32, shape, strides);
  filler.fill(t);
  return t;
}

std::string two_digits(int i) { return (i < 10 ? "0" : "") + std::to_string(i); }

mnemo::Value make_big(Filler& filler) {
  mnemo::Dict d;
  d.set_ordered_dict(true);
  for (int i = 0; i < 64; ++i) d.insert_or_assign("w" + two_digits(i), float_tensor({2048, 2048}, filler));
  return d;
}

mnemo::Value make_many(Filler& filler, int count) {
  mnemo::Dict d;
  d.set_ordered_dict(true);
  d.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) d.insert_or_assign("t" + std::to_string(i), float_tensor({1000}, filler));
  return d;
}

// The model's parameters: (name, shape), 25,070,592 parameters in all.
std::vector<std::pair<std::string, mnemo::Shape>> model_parameters() {
  constexpr std::int64_t kVocab = 12000, kDim = 512, kHidden = 2048, kLayers = 6;
  std::vector<std::pair<std::string, mnemo::Shape>> params;
  params.push_back({"embed.weight", {kVocab, kDim}});
  for (std::int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    params.push_back({p + "ln1.weight", {kDim}});
    params.push_back({p + "ln1.bias", {kDim}});
    params.push_back({p + "attn.qkv.weight", {3 * kDim, kDim}});
    params.push_back({p + "attn.qkv.bias", {3 * kDim}});
    params.push_back({p + "attn.proj.weight", {kDim, kDim}});
    params.push_back({p + "attn.proj.bias", {kDim}});
    params.push_back({p + "ln2.weight", {kDim}});
    params.push_back({p + "ln2.bias", {kDim}});
    params.push_back({p + "mlp.fc1.weight", {kHidden, kDim}});
    params.push_back({p + "mlp.fc1.bias", {kHidden}});
    params.push_back({p + "mlp.fc2.weight", {kDim, kHidden}});
    params.push_back({p + "mlp.fc2.bias", {kDim}});
  }
  params.push_back({"ln_f.weight", {kDim}});
  params.push_back({"ln_f.bias", {kDim}});
  return params;
}

mnemo::Value make_checkpoint(Filler& filler) {
  const auto params = model_parameters();
  mnemo::Dict model;
  model.set_ordered_dict(true);
  mnemo::Dict state;
  mnemo::List ids;
  for (std::size_t i = 0; i < params.size(); ++i) {
    model.insert_or_assign(params[i].first, float_tensor(params[i].second, filler));
    mnemo::Dict s;
    s.insert_or_assign("step", float_tensor({}, filler));
    s.insert_or_assign("exp_avg", float_tensor(params[i].second, filler));
    s.insert_or_assign("exp_avg_sq", float_tensor(params[i].second, filler));
    state.insert_or_assign(static_cast<std::int64_t>(i), std::move(s));
    ids.push_back(static_cast<std::int64_t>(i));
  }
  mnemo::Dict group{{"lr", 0.001},
                    {"betas", mnemo::Tuple{0.9, 0.999}},
                    {"eps", 1e-08},
                    {"weight_decay", 0},
                    {"amsgrad", false},
                    {"maximize", false},
                    {"foreach", mnemo::none},
                    {"capturable", false},
                    {"differentiable", false},
                    {"fused", false},
                    {"params", std::move(ids)}};
  mnemo::Dict optimizer{{"state", std::move(state)}, {"param_groups", mnemo::List{std::move(group)}}};
  return mnemo::Dict{{"epoch", 3},
                     {"model", std::move(model)},
                     {"optimizer", std::move(optimizer)},
                     {"loss", 0.125}};
}

mnemo::Value make_case(const std::string& name, int tensors) {
  Filler filler;
  if (name == "big") return make_big(filler);
  if (name == "many") return make_many(filler, tensors > 0 ? tensors : 20000);
  if (name == "checkpoint") return make_checkpoint(filler);
  throw std::runtime_error("unknown case '" + name + "' (big, many, checkpoint)");
}

// The checkpoint case's model, as a tree of plain modules holding its parameters (zeros),
// and an Adam over them: what resume-pt loads into.
struct Trainee {
  std::shared_ptr<mnemo::nn::Module> model = std::make_shared<mnemo::nn::Module>("Model");
  std::unique_ptr<mnemo::optim::Adam> optimizer;
};

Trainee make_trainee() {
  Trainee t;
  std::map<std::string, std::shared_ptr<mnemo::nn::Module>> modules{{"", t.model}};
  for (const auto& [name, shape] : model_parameters()) {
    std::string prefix;
    std::size_t start = 0;
    for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', start)) {
      const std::string child = name.substr(start, dot - start);
      auto& module = modules[prefix + child + "."];
      if (!module) {
        module = modules[prefix]->register_module(child, std::make_shared<mnemo::nn::Module>());
      }
      prefix += child + ".";
      start = dot + 1;
    }
    modules[prefix]->register_parameter(name.substr(start), mnemo::zeros(shape));
  }
  t.optimizer = std::make_unique<mnemo::optim::Adam>(t.model->parameters());
  return t;
}

// The big case as a model: 64 Linear(2048, 2048) layers without bias, in a Sequential.
std::shared_ptr<mnemo::nn::Sequential> make_big_model() {
  auto model = std::make_shared<mnemo::nn::Sequential>();
  for (int i = 0; i < 64; ++i) {
    model->push_back(std::make_shared<mnemo::nn::Linear>(2048, 2048, false));
  }
  return model;
}

// safetensors holds only (nested dicts of) tensors: the checkpoint case is saved as its
// model and optimizer state, flattened; its scalars are left out.
mnemo::Value for_safetensors(const mnemo::Value& value) {
  if (!value.as_dict().contains(std::string("optimizer"))) return value;
  return mnemo::Dict{{"model", value["model"].value()},
                     {"optimizer", value["optimizer"]["state"].value()}};
}

struct Census {
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;
};

Census census(const mnemo::Value& value) {
  Census c;
  mnemo::for_each_tensor(value, [&](const std::string&, const mnemo::Tensor& t) {
    ++c.tensors;
    c.bytes += t.nbytes();
  });
  return c;
}

// Reads one byte of every page of every tensor.
std::uint64_t touch(const mnemo::Value& value) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t sum = 0;
  mnemo::for_each_tensor(value, [&](const std::string&, const mnemo::Tensor& t) {
    const auto* p = static_cast<const volatile unsigned char*>(t.data_ptr());
    const std::size_t n = t.nbytes();
    for (std::size_t i = 0; i < n; i += page) sum += p[i];
    if (n > 0) sum += p[n - 1];
  });
  return sum;
}

// --- memcpy bandwidth -----------------------------------------------------------------

double memcpy_gib_per_s(std::size_t bytes, int reps) {
  void* src = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* dst = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (src == MAP_FAILED || dst == MAP_FAILED) throw std::runtime_error("mmap failed");
  std::memset(src, 1, bytes);  // both buffers backed before timing
  std::memset(dst, 2, bytes);
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    std::memcpy(dst, src, bytes);
    times.push_back(seconds_since(start));
  }
  ::munmap(src, bytes);
  ::munmap(dst, bytes);
  std::sort(times.begin(), times.end());
  return static_cast<double>(bytes) / times[times.size() / 2] / (1024.0 * 1024 * 1024);
}

struct Args {
  std::string case_name = "big";
  std::string op;
  std::string file;
  int tensors = 0;
  std::size_t bytes = std::size_t{1} << 30;
  int reps = 5;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--case") a.case_name = next();
    else if (arg == "--op") a.op = next();
    else if (arg == "--file") a.file = next();
    else if (arg == "--tensors") a.tensors = std::stoi(next());
    else if (arg == "--bytes") a.bytes = std::stoull(next());
    else if (arg == "--reps") a.reps = std::stoi(next());
    else if (arg == "--help" || arg == "-h") {
      std::cout
          << "usage: mnemo-bench-io --case big|many|checkpoint --op OP --file PATH [--tensors N]\n"
             "       mnemo-bench-io --op memcpy [--bytes N] [--reps N]\n"
             "OP: save-pt save-pt-durable load-pt load-pt-mmap save-st save-st-durable "
             "load-st load-st-mmap resume-pt\n";
      std::exit(0);
    } else {
      throw std::runtime_error("unknown argument '" + arg + "' (--help)");
    }
  }
  return a;
}

int run(const Args& a) {
  if (a.op == "memcpy") {
    std::printf("{\"op\": \"memcpy\", \"bytes\": %zu, \"gib_per_s\": %.4f}\n", a.bytes,
                memcpy_gib_per_s(a.bytes, a.reps));
    return 0;
  }
  if (a.file.empty()) throw std::runtime_error("--file is needed");
  const bool st = a.op.find("-st") != std::string::npos;
  const bool save = a.op.rfind("save-", 0) == 0;
  const bool durable = a.op.find("-durable") != std::string::npos;
  const bool mmap = a.op.find("-mmap") != std::string::npos;
  const bool resume = a.op == "resume-pt";
  if (resume && a.case_name != "checkpoint")
    throw std::runtime_error("resume-pt is for the checkpoint case");
  const bool model = a.op == "save-model" || a.op == "load-model";
  if (model && a.case_name != "big") throw std::runtime_error(a.op + " is for the big case");
  const std::string expected_ext = st ? ".safetensors" : ".pt";
  if (a.file.size() < expected_ext.size() ||
      a.file.compare(a.file.size() - expected_ext.size(), expected_ext.size(), expected_ext) != 0) {
    throw std::runtime_error("--op " + a.op + " needs a " + expected_ext + " file");
  }

  const std::uint64_t base = rss_bytes();
  double seconds = 0, touch_seconds = -1;
  Census c;
  bool peak_reset = false;
  long long huge = -1;
  if (a.op == "save-model") {
    const auto built = make_big_model();
    mnemo::save_model(*built, a.file);
    c = census(built->state_dict().to_value());
  } else if (a.op == "load-model") {
    peak_reset = reset_peak();
    const auto start = Clock::now();
    const mnemo::nn::ModulePtr loaded = mnemo::load_model(a.file);
    seconds = seconds_since(start);
    huge = huge_page_bytes();
    c = census(loaded->state_dict().to_value());
  } else if (save) {
    mnemo::Value value = make_case(a.case_name, a.tensors);
    if (st) value = for_safetensors(value);
    c = census(value);
    peak_reset = reset_peak();
    const auto start = Clock::now();
    mnemo::save(value, a.file, {.fsync = durable});
    seconds = seconds_since(start);
    huge = huge_page_bytes();
  } else if (resume) {
    Trainee trainee = make_trainee();
    peak_reset = reset_peak();
    const auto start = Clock::now();
    const mnemo::Value value = mnemo::load(a.file);
    trainee.model->load_state_dict(value["model"].value().to_state_dict());
    trainee.optimizer->load_state_dict(value["optimizer"].value());
    seconds = seconds_since(start);
    huge = huge_page_bytes();
    c = census(value);
  } else {
    peak_reset = reset_peak();
    const auto start = Clock::now();
    mnemo::Value value = mnemo::load(a.file, {.mmap = mmap});
    seconds = seconds_since(start);
    huge = huge_page_bytes();
    c = census(value);
    if (mmap) {
      const auto touch_start = Clock::now();
      const std::uint64_t sum = touch(value);
      touch_seconds = seconds_since(touch_start);
      if (sum == 1) std::fputs("", stderr);  // keeps the reads
    }
  }
  const std::uint64_t peak = hwm_bytes();
  std::printf(
      "{\"side\": \"mnemo\", \"case\": \"%s\", \"op\": \"%s\", \"seconds\": %.6f, "
      "\"touch_seconds\": %.6f, \"tensors\": %zu, \"payload_bytes\": %llu, \"peak_bytes\": %lld, "
      "\"peak_reset\": %s, \"huge_page_bytes\": %lld}\n",
      a.case_name.c_str(), a.op.c_str(), seconds, touch_seconds, c.tensors,
      static_cast<unsigned long long>(c.bytes),
      static_cast<long long>(peak) - static_cast<long long>(base), peak_reset ? "true" : "false",
      huge);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnemo-bench-io: %s\n", e.what());
    return 1;
  }
}
