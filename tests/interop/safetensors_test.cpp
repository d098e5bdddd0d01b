// Live: a PyTorch state_dict goes .pt -> mnemo -> .safetensors -> mnemo -> .pt ->
// torch.load, equal at every step (the canonical JSON hashes every tensor). Python also
// parses mnemo's .safetensors by hand (struct, json, numpy: the oracle has no safetensors
// package) to check the values and the header rules, and writes a file of its own, laid
// out differently, that mnemo must read.
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

// What the tests compare against, and the safetensors helpers of the Python side.
constexpr const char* kSafetensorsPython = R"PY(
import struct
import numpy as np

# The reference's Dtype enum order: its writer puts tensors in descending order of it,
# then in ascending order of their names.
ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
         "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
         "C64", "F64", "I64", "U64"]
NAMES = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
         torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
         torch.float32: "F32", torch.complex64: "C64", torch.float64: "F64",
         torch.int64: "I64"}
NUMPY = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16,
         "F16": np.float16, "BF16": np.int16, "I32": np.int32, "F32": np.float32,
         "C64": np.complex64, "F64": np.float64, "I64": np.int64}

def file_order(tensors):
    keys = sorted(tensors, key=lambda k: (-ORDER.index(NAMES[tensors[k].dtype]), k.encode()))
    return {k: tensors[k] for k in keys}

def flatten(tree, prefix="", out=None):
    out = {} if out is None else out
    for key, value in tree.items():
        if isinstance(value, dict):
            flatten(value, prefix + str(key) + ".", out)
        else:
            out[prefix + str(key)] = value
    return out

def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and tensor_sha256(a) == tensor_sha256(b)

def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate keys"
    return dict(pairs)

# Parses a safetensors file with nothing but the format's definition; returns problems.
def check_by_hand(path, originals, metadata):
    data = open(path, "rb").read()
    problems = []
    n, = struct.unpack("<Q", data[:8])
    text = data[8:8 + n].decode("utf-8")
    stripped = text.rstrip(" ")
    if (8 + n) % 8 or len(text) - len(stripped) >= 8:
        problems.append("the header is not padded with spaces to a multiple of 8")
    header = json.loads(text, object_pairs_hook=no_duplicates)
    if json.dumps(header, separators=(",", ":"), ensure_ascii=False) != stripped:
        problems.append("the header is not compact JSON in the writer's order")
    if list(header)[0:1] != ["__metadata__"] or header.pop("__metadata__") != metadata:
        problems.append("__metadata__ is not first, or differs")
    if list(header) != list(file_order(originals)):
        problems.append("order: %s" % list(header))
    end = 0
    for name, info in header.items():
        if list(info) != ["dtype", "shape", "data_offsets"]:
            problems.append("%s: keys %s" % (name, list(info)))
        begin, stop = info["data_offsets"]
        if begin != end:
            problems.append("%s: starts at %d, not %d" % (name, begin, end))
        end = stop
        kind = np.dtype(NUMPY[info["dtype"]])
        if (8 + n + begin) % kind.itemsize:
            problems.append("%s: not aligned" % name)
        array = np.frombuffer(data[8 + n + begin:8 + n + stop], dtype=kind).reshape(info["shape"])
        tensor = torch.from_numpy(array.copy())
        if info["dtype"] == "BF16":
            tensor = tensor.view(torch.bfloat16)
        if info["dtype"] != NAMES[originals[name].dtype] or not same(tensor, originals[name]):
            problems.append("%s: differs" % name)
    if 8 + n + end != len(data):
        problems.append("the data does not end the file")
    return "\n".join(problems) or "OK"
)PY";

constexpr const char* kMakeSafetensorsCases = R"PY(
import torch.nn as nn
out = sys.argv[1]
torch.manual_seed(0)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 4)
        self.conv = nn.Conv2d(3, 5, 3)
        self.bn = nn.BatchNorm2d(5)
        self.fc2 = nn.Linear(4, 2, bias=False)
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("ids", torch.arange(5, dtype=torch.int32))
        self.register_buffer("f16", torch.randn(3).half())
        self.register_buffer("brain", torch.randn(2, 2).bfloat16())
        self.register_buffer("u8", torch.tensor([0, 7, 255], dtype=torch.uint8))
        self.register_buffer("i8", torch.tensor([-128, 127], dtype=torch.int8))
        self.register_buffer("i16", torch.tensor([-32768, 5], dtype=torch.int16))
        self.register_buffer("f64", torch.tensor([1.5, float("nan"), float("-inf")],
                                                 dtype=torch.float64))
        self.register_buffer("c64", torch.tensor([1 + 2j, -0.5j], dtype=torch.complex64))
        self.register_buffer("scalar", torch.tensor(2.5))
        self.register_buffer("empty", torch.zeros(0, 3))
        self.register_buffer("column", torch.arange(12.0).reshape(3, 4)[:, 1])  # a strided view

net = Net()
net.bn(torch.randn(2, 5, 4, 4))
sd = net.state_dict()
torch.save(sd, os.path.join(out, "sd.pt"))
write_text(os.path.join(out, "sd.json"), canonical_json(sd))
write_text(os.path.join(out, "sd.order.json"), canonical_json(file_order(sd)))

nested = {"model_state_dict": sd, "ema": {"fc1": {"weight": sd["fc1.weight"] * 0.5}}}
torch.save(nested, os.path.join(out, "nested.pt"))
write_text(os.path.join(out, "nested.json"), canonical_json(nested))
write_text(os.path.join(out, "nested.order.json"), canonical_json(file_order(flatten(nested))))

# A file written by hand the way other writers may: spaces in the JSON, the metadata
# last, tensors in insertion order, and a header length that leaves the data unaligned.
own = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3),
       "a": torch.tensor([7, -8], dtype=torch.int64),
       "z": torch.tensor([1.0, -2.0], dtype=torch.float16)}
header, blob = {}, b""
for name, tensor in own.items():
    raw = tensor.numpy().tobytes()
    header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape),
                    "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
header["__metadata__"] = {"source": "python"}
text = json.dumps(header).encode()
text += b" " * ((1 - 8 - len(text)) % 4)  # 8 + N is 1 more than a multiple of 4
with open(os.path.join(out, "python.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + blob)
write_text(os.path.join(out, "python.json"), canonical_json(own))
)PY";

// Checks what mnemo wrote: its .safetensors by hand, its .pt through torch.load.
constexpr const char* kCheck = R"PY(
out = sys.argv[1]
originals = {"sd": torch.load(os.path.join(out, "sd.pt")),
             "nested": flatten(torch.load(os.path.join(out, "nested.pt")))}
for name, tensors in originals.items():
    write_text(os.path.join(out, name + ".byhand"),
               check_by_hand(os.path.join(out, name + ".safetensors"), tensors, {"format": "pt"}))
    back = torch.load(os.path.join(out, name + ".back.pt"))
    write_text(os.path.join(out, name + ".back.json"), canonical_json(back))
    equal = type(back) is dict and back.keys() == tensors.keys() and all(
        same(back[k], tensors[k]) for k in tensors)
    write_text(os.path.join(out, name + ".back.facts"), "equal to the original: %s" % equal)
)PY";

class SafetensorsLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    python_output(std::string(kCanonicalJsonPython) + kSafetensorsPython + kMakeSafetensorsCases,
                  dir_->path().string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path file(const std::string& name) { return dir_->path() / name; }
  static std::string json(const Value& value) { return to_json(value, {.hash = true}); }

  static TempDir* dir_;
};

TempDir* SafetensorsLive::dir_ = nullptr;

TEST_F(SafetensorsLive, PtToSafetensorsToPtEqualAtEveryStep) {
  for (const std::string name : {"sd", "nested"}) {
    SCOPED_TRACE(name);
    // 1. torch.save's .pt loads in mnemo, equal.
    const Value original = load(file(name + ".pt"));
    EXPECT_EQ(json(original), read_text(file(name + ".json")));
    // 2. mnemo writes .safetensors (nested dicts flattened) and reads it back equal, in
    //    the reference writer's order; with mmap too.
    save(original, file(name + ".safetensors"), {.fsync = false, .metadata = {{"format", "pt"}}});
    const Value tensors = load(file(name + ".safetensors"));
    EXPECT_EQ(json(tensors), read_text(file(name + ".order.json")));
    EXPECT_EQ(json(load(file(name + ".safetensors"), {.mmap = true})),
              read_text(file(name + ".order.json")));
    // 3. mnemo writes .pt from it, for torch.load below.
    save(tensors, file(name + ".back.pt"), {.fsync = false});
  }
  python_output(std::string(kCanonicalJsonPython) + kSafetensorsPython + kCheck,
                dir_->path().string());
  for (const std::string name : {"sd", "nested"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(read_text(file(name + ".byhand")), "OK");
    EXPECT_EQ(read_text(file(name + ".back.json")), read_text(file(name + ".order.json")));
    EXPECT_EQ(read_text(file(name + ".back.facts")), "equal to the original: True");
  }
}

TEST_F(SafetensorsLive, ReadsAFileAnotherWriterLaidOut) {
  for (bool mmap : {false, true}) {
    const Value value = load(file("python.safetensors"), {.mmap = mmap});
    EXPECT_EQ(json(value), read_text(file("python.json"))) << "mmap " << mmap;
  }
  const SafetensorsInfo info = inspect_safetensors(file("python.safetensors"));
  EXPECT_EQ(info.metadata, (std::map<std::string, std::string>{{"source", "python"}}));
  EXPECT_EQ(info.data_offset % 4, 1u);
  // Unaligned: with mmap, the tensors are copies, aligned.
  const Value mapped = load(file("python.safetensors"), {.mmap = true});
  EXPECT_EQ(mapped["b"].as_tensor().storage().kind(), StorageKind::kOwned);
}

}  // namespace
}  // namespace mnemo::testing
