// Live: .pt files written by torch.save load in mnemo with every value equal, and files
// mnemo writes load in torch.load with every value, container type and shared storage
// equal; re-saving a state_dict reproduces torch.save's bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "interop/pt_python.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;

// Writes one file per case into the directory given as argv[1], with the canonical JSON
// of what was saved beside it.
constexpr const char* kMakePtCases = R"PY(
import torch.nn as nn
out = sys.argv[1]
torch.manual_seed(0)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.conv = nn.Conv2d(3, 5, 3, padding=1, groups=1)
        self.bn = nn.BatchNorm2d(5)
        self.norm = nn.LayerNorm(4)
        self.embed = nn.Embedding(10, 3, padding_idx=0)

net = Net()
net.bn(torch.randn(2, 5, 4, 4))  # moves the running statistics

base = torch.arange(20.0).reshape(4, 5)
shared = torch.randn(3, 3)
cases = {
    "modules": net.state_dict(),
    "dtypes": {
        "float64": torch.tensor([1.5, -2.25, float("inf"), float("nan")], dtype=torch.float64),
        "float32": torch.randn(3, 2),
        "float16": torch.tensor([0.1, -65504.0, 6e-8], dtype=torch.float16),
        "bfloat16": torch.tensor([1.0, -3.5e38, 1e-30], dtype=torch.bfloat16),
        "int64": torch.tensor([-(2**63), 2**63 - 1, 0]),
        "int32": torch.tensor([-(2**31), 7], dtype=torch.int32),
        "int16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "int8": torch.tensor([-128, 127], dtype=torch.int8),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "complex64": torch.tensor([1 + 2j, -3.5j], dtype=torch.complex64),
        "complex128": torch.tensor([0.25 - 1j], dtype=torch.complex128),
    },
    "views": {
        "base": base, "transposed": base.t(), "sliced": base[1:3], "strided": base[:, ::2],
        "column": base[:, 3], "expanded": torch.ones(3, 1).expand(3, 4),
        "scalar": torch.tensor(3.5), "empty": torch.empty(0), "empty_rows": torch.zeros(0, 3),
        "parameter": nn.Parameter(torch.randn(2, 2)), "tied_a": shared, "tied_b": shared,
        "tied_view": shared[1],
    },
    "values": {
        "epoch": 7, "step": 123456, "negative": -5, "huge": 2**70, "negative_huge": -(2**65),
        "int32_edge": 2**31, "loss": 0.125, "lr": 1e-08, "inf": float("inf"),
        "neg_inf": float("-inf"), "nan": float("nan"), "neg_zero": -0.0,
        "text": "h\u00e9llo \u2713 \u65e5\u672c \"quoted\"\n", "none": None, "flags": [True, False],
        "tuple": (1, "two", 3.0), "single": (4,), "empty_tuple": (), "empty_list": [],
        "nested": {"a": {"b": [1, {"c": torch.ones(2)}]}}, "int_keys": {0: "zero", 5: "five"},
        "blob": b"\x00\xffabc", "empty_blob": b"",
    },
}

opt_params = [nn.Parameter(torch.randn(3, 2)), nn.Parameter(torch.randn(2))]
for name, optimizer in [("sgd", torch.optim.SGD(opt_params, lr=0.1, momentum=0.9)),
                        ("adam", torch.optim.Adam(opt_params, lr=1e-3))]:
    (opt_params[0] ** 2).sum().backward()
    opt_params[1].grad = torch.ones(2)
    optimizer.step()
    cases[name] = optimizer.state_dict()

cases["many"] = {"t%05d" % i: torch.tensor([float(i)]) for i in range(66000)}

for name, obj in cases.items():
    torch.save(obj, os.path.join(out, name + ".pt"))
    write_text(os.path.join(out, name + ".json"), canonical_json(obj))

torch.save(cases["views"], os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
write_text(os.path.join(out, "legacy.json"), canonical_json(cases["views"]))

import zipfile
with zipfile.ZipFile(os.path.join(out, "modules.pt")) as src:
    with zipfile.ZipFile(os.path.join(out, "deflated.pt"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in reversed(src.infolist()):
            dst.writestr(info.filename, src.read(info.filename))
write_text(os.path.join(out, "deflated.json"), canonical_json(cases["modules"]))

# A file whose storages say they live on the first GPU, as one saved on a CUDA machine.
import torch.serialization as serialization
serialization.location_tag = lambda storage: "cuda:0"
torch.save({"w": torch.arange(4.0)}, os.path.join(out, "cuda.pt"))
write_text(os.path.join(out, "cuda.json"), canonical_json({"w": torch.arange(4.0)}))
)PY";

// Loads each file mnemo wrote with torch.load and reports what came back: the canonical
// JSON, and facts about container types and shared storages.
constexpr const char* kCheckRoundTrip = R"PY(
out = sys.argv[1]
for name in sys.argv[2:]:
    obj = torch.load(os.path.join(out, name + ".mnemo.pt"))
    write_text(os.path.join(out, name + ".mnemo.json"), canonical_json(obj))
    facts = []
    if name == "views":
        facts.append("tied shared: %s" % (obj["tied_a"].storage().data_ptr() == obj["tied_b"].storage().data_ptr()))
        facts.append("view shared: %s" % (obj["tied_view"].storage().data_ptr() == obj["tied_a"].storage().data_ptr()))
        facts.append("transposed shared: %s" % (obj["transposed"].storage().data_ptr() == obj["base"].storage().data_ptr()))
        facts.append("transposed stride: %s" % (obj["transposed"].stride(),))
        facts.append("expanded stride: %s" % (obj["expanded"].stride(),))
    if name == "values":
        facts.append("tuple: %s" % type(obj["tuple"]).__name__)
        facts.append("single: %s" % type(obj["single"]).__name__)
        facts.append("flags: %s" % type(obj["flags"]).__name__)
    if name == "modules":
        facts.append("type: %s" % type(obj).__name__)
        facts.append("metadata: %s" % dict(obj._metadata))
        weights_only = torch.load(os.path.join(out, name + ".mnemo.pt"), weights_only=True)
        facts.append("weights_only keys: %d" % len(weights_only))
    write_text(os.path.join(out, name + ".facts"), "\n".join(facts))
)PY";

class PtFormatLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    python_output(std::string(kCanonicalJsonPython) + kMakePtCases, dir_->path().string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path file(const std::string& name) { return dir_->path() / name; }

  // Loads case `name` and checks it against what PyTorch saved.
  static Value load_and_compare(const std::string& name, LoadOptions options = {}) {
    Value value = load(file(name + ".pt"), options);
    EXPECT_EQ(to_json(value, {.hash = true}), read_text(file(name + ".json"))) << name;
    return value;
  }

  static TempDir* dir_;
};

TempDir* PtFormatLive::dir_ = nullptr;

TEST_F(PtFormatLive, ModuleStateDictLoadsWithItsMetadata) {
  Value value = load_and_compare("modules");
  StateDict sd = value.to_state_dict();
  EXPECT_EQ(sd.version("bn"), 2);
  EXPECT_EQ(sd.version("fc"), 1);
  EXPECT_EQ(sd.at("bn.num_batches_tracked").item<std::int64_t>(), 1);
  EXPECT_TRUE(value.as_dict().is_ordered_dict());
}

TEST_F(PtFormatLive, EveryDtypeLoads) { load_and_compare("dtypes"); }

TEST_F(PtFormatLive, ViewsKeepOffsetsStridesAndSharing) {
  Value value = load_and_compare("views");
  const Tensor& base = value["base"].as_tensor();
  const Tensor& transposed = value["transposed"].as_tensor();
  EXPECT_TRUE(transposed.storage().is_same(base.storage()));
  EXPECT_EQ(transposed.strides(), (Shape{1, 5}));
  EXPECT_EQ(value["sliced"].as_tensor().storage_offset(), 5);
  EXPECT_EQ(value["expanded"].as_tensor().strides(), (Shape{1, 0}));
  EXPECT_TRUE(value["tied_a"].as_tensor().storage().is_same(value["tied_b"].as_tensor().storage()));
  EXPECT_TRUE(value["parameter"].as_tensor().requires_grad());
}

TEST_F(PtFormatLive, CheckpointValuesLoad) { load_and_compare("values"); }
TEST_F(PtFormatLive, OptimizerStateLoads) {
  load_and_compare("sgd");
  Value adam = load_and_compare("adam");
  EXPECT_EQ(adam["state"][0]["step"].as_tensor().dim(), 0);
}

TEST_F(PtFormatLive, MoreThan65535TensorsUseZip64) {
  Value value = load_and_compare("many");
  EXPECT_EQ(value.as_dict().size(), 66000u);
  EXPECT_EQ(value["t65999"].as_tensor().item<float>(), 65999.0f);
}

TEST_F(PtFormatLive, LegacyFormatLoads) {
  EXPECT_EQ(detect_format(file("legacy.pt")), FileFormat::kPtLegacy);
  Value value = load_and_compare("legacy");
  EXPECT_TRUE(value["tied_a"].as_tensor().storage().is_same(value["tied_b"].as_tensor().storage()));
}

TEST_F(PtFormatLive, DeflatedRecordsInAnyOrderLoad) {
  load_and_compare("deflated");
  load_and_compare("deflated", {.mmap = true});  // deflated records fall back to copies
}

TEST_F(PtFormatLive, MmapLoadViewsTheFile) {
  Value value = load_and_compare("modules", {.mmap = true});
  const Tensor& weight = value["fc.weight"].as_tensor();
  EXPECT_EQ(weight.storage().kind(), StorageKind::kMapped);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(weight.data_ptr()) % 64, 0u);
}

TEST_F(PtFormatLive, CudaTagsNeedAMapLocation) {
  try {
    load(file("cuda.pt"));
    ADD_FAILURE() << "a cuda:0 tensor loaded without map_location";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_THAT(e.what(), HasSubstr("map_location = cpu"));
  }
  load_and_compare("cuda", {.map_location = Device::cpu()});
  load_and_compare("cuda", {.map_location = std::map<std::string, std::string>{{"cuda:0", "cpu"}}});
  load_and_compare("cuda", {.map_location = MapLocation::Function(
                                [](const std::string&) { return Device::cpu(); })});
  EXPECT_THROW(load(file("cuda.pt"),
                    {.map_location = std::map<std::string, std::string>{{"cuda:1", "cpu"}}}),
               Error);
  Value kept = load(file("cuda.pt"), {.map_location = MapLocation::keep_saved()});
  EXPECT_EQ(kept["w"].as_tensor().device(), Device::cuda(0));
}

TEST_F(PtFormatLive, FilesMnemoWritesLoadInPyTorch) {
  const std::vector<std::string> names = {"modules", "dtypes", "views", "values",
                                          "sgd",     "adam",   "legacy", "many"};
  std::string args = dir_->path().string();
  for (const std::string& name : names) {
    save(load(file(name + ".pt")), file(name + ".mnemo.pt"), {.fsync = false});
    args += " " + name;
  }
  python_output(std::string(kCanonicalJsonPython) + kCheckRoundTrip, args);
  for (const std::string& name : names) {
    EXPECT_EQ(read_text(file(name + ".mnemo.json")), read_text(file(name + ".json"))) << name;
  }
  EXPECT_EQ(read_text(file("views.facts")),
            "tied shared: True\nview shared: True\ntransposed shared: True\n"
            "transposed stride: (1, 5)\nexpanded stride: (1, 0)");
  EXPECT_EQ(read_text(file("values.facts")), "tuple: tuple\nsingle: tuple\nflags: list");
  EXPECT_THAT(read_text(file("modules.facts")),
              HasSubstr("type: OrderedDict\nmetadata: {'': {'version': 1}, 'fc': {'version': 1}, "
                        "'conv': {'version': 1}, 'bn': {'version': 2}, 'norm': {'version': 1}, "
                        "'embed': {'version': 1}}\nweights_only keys: 12"));
}

TEST_F(PtFormatLive, ResavingAStateDictReproducesTorchSavesBytes) {
  // "many" has 66,000 storages: its records follow keys "0" to "65999" in string order.
  for (const std::string name : {"modules", "dtypes", "many"}) {
    const std::filesystem::path copy_dir = dir_->path() / ("resave_" + name);
    std::filesystem::create_directory(copy_dir);
    save(load(file(name + ".pt")), copy_dir / (name + ".pt"), {.fsync = false});
    EXPECT_TRUE(read_text(copy_dir / (name + ".pt")) == read_text(file(name + ".pt")))
        << name << ".pt differs from torch.save's bytes";
  }
}

}  // namespace
}  // namespace mnemo::testing
