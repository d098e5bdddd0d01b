// Live: the pickle layer against PyTorch 1.13. data.pkl files that torch.save writes
// read exactly (every tensor's dtype, shape, stride, offset, requires_grad and storage
// sharing, every _metadata version), and pickling what was read gives PyTorch's bytes
// back; plain values cross both ways; protocols 4 and 5 read; a whole pickled module is
// refused by name and salvaged into its state_dict.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "formats/pickle/module_salvage.h"
#include "formats/pickle/pickle_test_util.h"
#include "formats/pickle/pickler.h"
#include "formats/pickle/unpickler.h"
#include "mnemo/core/state_dict.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::pickle::testing {
namespace {

using mnemo::testing::python_output;
using mnemo::testing::read_file;
using mnemo::testing::read_text;
using mnemo::testing::TempDir;

// Python's side of describe() below, and the helpers the scripts share.
constexpr const char* kPythonCommon = R"PY(
import collections, io, pickle, sys, zipfile
import torch
import torch.nn as nn
torch.manual_seed(0)
out = sys.argv[1]

def data_pkl(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=True)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    return archive.read([n for n in archive.namelist() if n.endswith('/data.pkl')][0])

def shape(values):
    return '[' + ', '.join(str(v) for v in values) + ']'

def describe(obj):
    lines, storages = [], {}
    def walk(o, path):
        if isinstance(o, torch.Tensor):
            sid = storages.setdefault(o.storage().data_ptr(), len(storages))
            lines.append(f"{path} {str(o.dtype)[6:]} {shape(o.shape)} {shape(o.stride())} "
                         f"{o.storage_offset()} {o.requires_grad} s{sid}")
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}[{k!r}]")
            metadata = getattr(o, '_metadata', None)
            if metadata is not None:
                for k, v in metadata.items():
                    lines.append(f"{path} meta {k!r} {v['version']}")
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")
    walk(obj, '')
    return ''.join(line + '\n' for line in lines)

def write(name, obj):
    open(f'{out}/{name}.pkl', 'wb').write(data_pkl(obj))
    open(f'{out}/{name}.txt', 'w').write(describe(obj))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        self.emb = nn.Embedding(10, 16)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 4)
        self.dec = nn.Linear(16, 10, bias=False)
        self.dec.weight = self.emb.weight  # tied: two entries, one storage
        self.register_buffer('steps', torch.zeros(3, dtype=torch.int32), persistent=False)
        self.register_buffer('scale', torch.ones(2, 3).t())  # a non-contiguous buffer
    def forward(self, x, tokens):
        return self.fc(self.norm(self.emb(tokens))).sum() + self.features(x).sum()
)PY";

// The same text as Python's describe(), from a Value read back.
std::string describe(const Value& root) {
  std::ostringstream out;
  std::vector<Storage> storages;
  auto shape = [](const Shape& s) {
    std::string text = "[";
    for (std::size_t i = 0; i < s.size(); ++i) text += (i ? ", " : "") + std::to_string(s[i]);
    return text + "]";
  };
  std::function<void(const Value&, const std::string&)> walk = [&](const Value& v,
                                                                   const std::string& path) {
    if (v.is_tensor()) {
      const Tensor& t = v.as_tensor();
      std::size_t id = 0;
      while (id < storages.size() && !storages[id].is_same(t.storage())) ++id;
      if (id == storages.size()) storages.push_back(t.storage());
      out << path << " " << dtype_name(t.dtype()) << " " << shape(t.sizes()) << " "
          << shape(t.strides()) << " " << t.storage_offset() << " "
          << (t.requires_grad() ? "True" : "False") << " s" << id << "\n";
    } else if (v.is_dict()) {
      for (const auto& [key, value] : v.as_dict()) walk(value, path + "[" + key_repr(key) + "]");
      if (const Dict* attributes = v.as_dict().attributes()) {
        if (const Value* metadata = attributes->find(std::string("_metadata"))) {
          for (const auto& [prefix, entry] : metadata->as_dict()) {
            out << path << " meta " << key_repr(prefix) << " " << entry["version"].as_int() << "\n";
          }
        }
      }
    } else if (v.is_list() || v.is_tuple()) {
      const std::vector<Value>& items =
          v.is_list() ? static_cast<const std::vector<Value>&>(v.as_list()) : v.as_tuple();
      for (std::size_t i = 0; i < items.size(); ++i) walk(items[i], path + "[" + std::to_string(i) + "]");
    }
  };
  walk(root, "");
  return out.str();
}

// Reads <name>.pkl, checks it against <name>.txt, pickles it again and compares bytes.
void check_exact_and_byte_identical(const TempDir& dir, const std::string& name) {
  SCOPED_TRACE(name);
  const auto original = read_file(dir / (name + ".pkl"));
  ZeroStorages storages;
  const Value value = unpickle(original, storages.loader(), {.origin = name}).value;
  EXPECT_EQ(describe(value), read_text(dir / (name + ".txt")));
  KeysByStorage keys;
  const std::vector<std::byte> again = pickle(value, keys.namer());
  EXPECT_EQ(to_hex(again), to_hex(original));
}

TEST(PickleLive, StateDictOptimizerAndCheckpointReadExactlyAndPickleByteIdentical) {
  TempDir dir;
  python_output(std::string(kPythonCommon) + R"PY(
model = Net()
write('state_dict', model.state_dict())
optimizer = torch.optim.Adam([{'params': [*model.features.parameters(), *model.emb.parameters()]},
                              {'params': [*model.norm.parameters(), *model.fc.parameters()], 'lr': 0.01}],
                             lr=1e-3)
model(torch.randn(2, 3, 5, 5), torch.tensor([1, 2, 3])).backward()
optimizer.step()
write('optimizer', optimizer.state_dict())
write('checkpoint', {
    'epoch': 5, 'model_state_dict': model.state_dict(),
    'optimizer_state_dict': optimizer.state_dict(), 'loss': 0.125,
    'history': [1, 2.5, 'x', None], 'shape': (3, 4),
    'nested': {'a': {'b': [None, True, False]}, 7: 'seven', 'lr': 0.5},
    'big': 2**80, 'negative_big': -2**70, 'name': 'h\u00e9llo \u2713', 'blob': b'\x00\x01abc',
    'blob2': b'zz', 'one_byte': b'q', 'empty': b'', 'storage': 'cpu'})
)PY",
                dir.path().string());
  check_exact_and_byte_identical(dir, "state_dict");
  check_exact_and_byte_identical(dir, "optimizer");
  check_exact_and_byte_identical(dir, "checkpoint");
  const std::string described = read_text(dir / "state_dict.txt");
  EXPECT_NE(described.find(" meta 'features.1' 2"), std::string::npos);  // BatchNorm2d
  EXPECT_NE(described.find("['scale'] float32 [3, 2] [1, 3] 0 False"), std::string::npos);
}

TEST(PickleLive, RequiresGradOfParametersAndTensors) {
  TempDir dir;
  python_output(std::string(kPythonCommon) + R"PY(
write('grads', {'param': nn.Parameter(torch.ones(2, 2)), 'frozen': nn.Parameter(torch.ones(1), requires_grad=False),
                'leaf': torch.zeros(3, requires_grad=True), 'plain': torch.arange(4)})
)PY",
                dir.path().string());
  const auto data = read_file(dir / "grads.pkl");
  ZeroStorages storages;
  const Value value = unpickle(data, storages.loader()).value;
  EXPECT_EQ(describe(value), read_text(dir / "grads.txt"));
  EXPECT_TRUE(value["param"].as_tensor().requires_grad());
  EXPECT_FALSE(value["frozen"].as_tensor().requires_grad());
  EXPECT_TRUE(value["leaf"].as_tensor().requires_grad());
}

constexpr const char* kValues = R"PY(
values = {
    'ints': [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**63 - 1,
             2**63, -2**63, -2**63 - 1, 2**64, -(2**80), 2**200, -(2**2100)],
    'floats': [0.0, -0.0, 1.5, 1e-08, 1e300, -2.5e-310, float('inf'), float('-inf'), float('nan'), 0.1],
    'strs': ['', 'a', 'h\u00e9llo', '\u2713 unicode \u2603', 'tab\t', "quote'", 'x' * 300],
    'none': None, 't': True, 'f': False,
    'nested': [(1, (2, [3, {'x': ()}])), [], {}, (1, 2, 3, 4, 5)],
    'int_keys': {0: 'a', 7: 'b', -3: 'c', 2**40: 'd'},
    'bytes': [b'', b'\x00\x01\xff', b'abc', bytes(range(256))],
}
)PY";

TEST(PickleLive, PlainValuesCrossBothWays) {
  TempDir dir;
  const std::string python_repr = python_output(std::string(kPythonCommon) + kValues + R"PY(
open(f'{out}/values.pkl', 'wb').write(data_pkl(values))
print(repr(values))
)PY",
                                                dir.path().string());
  const auto original = read_file(dir / "values.pkl");
  const Value value = unpickle(original, {}).value;
  EXPECT_EQ(value.repr() + "\n", python_repr);
  // Back: PyTorch loads mnemo's pickle to the same values, and the bytes are its own.
  const std::vector<std::byte> again = pickle(value, {});
  EXPECT_EQ(to_hex(again), to_hex(original));
  std::ofstream(dir / "mnemo.pkl", std::ios::binary)
      .write(reinterpret_cast<const char*>(again.data()), static_cast<std::streamsize>(again.size()));
  const std::string loaded = python_output(std::string(kPythonCommon) + kValues + R"PY(
back = pickle.load(open(f'{out}/mnemo.pkl', 'rb'))
print(repr(back))
print(repr(back) == repr(values))
)PY",
                                           dir.path().string());
  EXPECT_EQ(loaded, python_repr + "True\n");
}

TEST(PickleLive, ProtocolsFourAndFiveRead) {
  TempDir dir;
  const std::string python_repr = python_output(std::string(kPythonCommon) + R"PY(
import pickletools
plain = {'a': [1, 2.5, 'x' * 100], 'b': (None, True), 'c': {'d': b'bytes', 5: -7},
         'big': list(range(30000)), 'od': collections.OrderedDict([('k', 1), ('j', [2])]),
         'e': '\u00e9' * 10, 'shared': None, 'ba': bytearray(b'xy')}
plain['shared'] = [plain['a'], plain['a']]
for protocol in (4, 5):
    data = pickle.dumps(plain, protocol=protocol)
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert {'FRAME', 'MEMOIZE', 'SHORT_BINUNICODE', 'STACK_GLOBAL'} <= ops, ops
    assert protocol == 4 or 'BYTEARRAY8' in ops, ops
    open(f'{out}/p{protocol}.pkl', 'wb').write(data)
plain['ba'] = bytes(plain['ba'])  # a Value has bytes only
print(repr(plain))
)PY",
                                                dir.path().string());
  for (const char* name : {"p4.pkl", "p5.pkl"}) {
    SCOPED_TRACE(name);
    const auto data = read_file(dir / name);
    const UnpickleResult result = unpickle(data, {});
    EXPECT_EQ(result.value.repr() + "\n", python_repr);
    EXPECT_EQ(result.bytes_read, data.size());
  }
}

TEST(PickleLive, WholePickledModuleIsRefusedThenSalvaged) {
  TempDir dir;
  python_output(std::string(kPythonCommon) + R"PY(
sequential = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
net = Net()
for name, module in (('sequential', sequential), ('net', net)):
    open(f'{out}/{name}.pkl', 'wb').write(data_pkl(module))
    open(f'{out}/{name}.txt', 'w').write(describe(module.state_dict()))
)PY",
                dir.path().string());
  const std::pair<const char*, const char*> models[] = {
      {"sequential", "torch.nn.modules.container.Sequential"}, {"net", "__main__.Net"}};
  for (const auto& [name, class_name] : models) {
    SCOPED_TRACE(name);
    const auto data = read_file(dir / (std::string(name) + ".pkl"));
    ZeroStorages storages;
    EXPECT_TRUE(throws_error([&] { unpickle(data, storages.loader(), {.origin = "model.pt: data.pkl"}); },
                             ErrorCode::kUnsupported,
                             {"model.pt: data.pkl: a pickled object of class '", class_name,
                              "model.state_dict()", "salvage = true"}));
    const Value object = unpickle(data, storages.loader(), {.salvage = true}).value;
    EXPECT_EQ(object["__class__"].as_string(), class_name);
    const StateDict sd = pickle::salvage_state_dict(object);
    EXPECT_EQ(describe(Value(sd)), read_text(dir / (std::string(name) + ".txt")));
  }
}

}  // namespace
}  // namespace mnemo::pickle::testing
