// Writes the seeds of the fuzz corpora that mnemo itself can make: files written by
// mnemo::save (every format it writes, small), the PyTorch 1.13 fixtures of tests/ (an
// archive and two data.pkl), and the data.pkl of each .pt seed for the unpickler.
//
//   mnemo_fuzz_seeds <corpus-dir>     (writes <corpus-dir>/<target>/<name>)
//
// Seeds that only PyTorch can make (the legacy format, protocol 4 and 5 pickles, a
// pickled module, deflated records) come from fuzz/make_torch_seeds.py.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "formats/pickle/torch_golden_pickles.h"
#include "formats/zip/torch_golden_archive.h"
#include "formats/zip/zip_reader.h"
#include "mnemo/io/byte_source.h"
#include "mnemo/serialize.h"

namespace {

namespace fs = std::filesystem;
using mnemo::Dict;
using mnemo::DType;
using mnemo::List;
using mnemo::Tensor;
using mnemo::Tuple;
using mnemo::Value;
using Bytes = std::vector<std::byte>;

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

void write(const fs::path& dir, std::string_view target, std::string_view name, const Bytes& bytes) {
  fs::create_directories(dir / target);
  const fs::path path = dir / target / name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
  std::printf("%s: %zu bytes\n", path.string().c_str(), bytes.size());
}

Bytes data_pkl(const Bytes& archive) {
  const mnemo::io::MemorySource source = mnemo::io::MemorySource::view(archive);
  const mnemo::zip::ZipReader reader(source);
  for (const mnemo::zip::Entry& entry : reader.entries()) {
    if (entry.name.ends_with("/data.pkl")) {
      Bytes out(entry.size);
      reader.read(entry, out, /*verify_crc=*/true);
      return out;
    }
  }
  throw std::runtime_error("no data.pkl");
}

Tensor small(DType dtype, mnemo::Shape sizes) {
  std::int64_t numel = 1;
  for (const std::int64_t size : sizes) numel *= size;
  return mnemo::arange(0.0, static_cast<double>(numel), 1.0).to(dtype).reshape(sizes);
}

// A state_dict as a module writes it: weights, a buffer, module versions.
Value state_dict() {
  mnemo::StateDict sd;
  sd.insert("fc.weight", small(DType::kFloat32, {2, 3}));
  sd.insert("fc.bias", mnemo::tensor<float>({0.5f, -1.0f}));
  sd.insert("bn.num_batches_tracked", mnemo::scalar_tensor<std::int64_t>(7));
  sd.set_metadata(Dict{{"", Dict{{"version", 1}}},
                       {"fc", Dict{{"version", 1}}},
                       {"bn", Dict{{"version", 2}}}});
  return Value(sd);
}

// A training checkpoint: every kind of Value, a view sharing a storage, an empty tensor.
Value checkpoint() {
  const Tensor weight = small(DType::kFloat32, {3, 2});
  return Dict{{"epoch", 5},
              {"model", state_dict()},
              {"w", weight},
              {"w_row", weight.select(0, 1)},
              {"w_t", weight.t()},
              {"empty", mnemo::zeros({0, 4})},
              {"loss", 0.125},
              {"done", false},
              {"nothing", mnemo::none},
              {"names", List{"a", "bb"}},
              {"shape", Tuple{2, 3}},
              {"big", Value(mnemo::BigInt::from_le_bytes(std::vector<std::uint8_t>(10, 0x7f)))},
              {"blob", mnemo::Bytes{0x00, 0xff}},
              {"steps", Dict{{1, 0.5}, {2, 0.25}}}};
}

// One small tensor of each dtype PyTorch 1.13 reads.
Value every_dtype(bool safetensors) {
  Dict out;
  for (const DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                            DType::kInt64, DType::kInt32, DType::kInt16, DType::kInt8,
                            DType::kUInt8, DType::kBool}) {
    out.insert_or_assign(std::string(mnemo::dtype_name(dtype)), small(dtype, {3, 2}));
  }
  if (!safetensors) out.insert_or_assign("complex", small(DType::kFloat32, {2}).to(DType::kComplex64));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  const fs::path dir = argv[1];
  try {
    const Bytes torch_archive = from_hex(mnemo::zip::testing::kTorch113ArchiveHex);
    const Bytes sd = mnemo::save_to_bytes(state_dict());
    const Bytes ckpt = mnemo::save_to_bytes(checkpoint());
    const Bytes dtypes = mnemo::save_to_bytes(every_dtype(false));
    const Bytes st = mnemo::save_to_bytes(every_dtype(true), mnemo::FileFormat::kSafetensors,
                                          {.metadata = {{"format", "pt"}}});
    const Bytes st_small = mnemo::save_to_bytes(
        Dict{{"a", mnemo::tensor<float>({1.0f, 2.0f})}, {"b", mnemo::zeros({0})}},
        mnemo::FileFormat::kSafetensors);

    for (const std::string_view target : {"zip_reader", "pt_load"}) {
      write(dir, target, "torch113_archive.pt", torch_archive);
      write(dir, target, "mnemo_state_dict.pt", sd);
      write(dir, target, "mnemo_checkpoint.pt", ckpt);
      write(dir, target, "mnemo_dtypes.pt", dtypes);
    }
    write(dir, "pt_load", "mnemo_small.safetensors", st_small);
    write(dir, "safetensors", "mnemo_dtypes.safetensors", st);
    write(dir, "safetensors", "mnemo_small.safetensors", st_small);

    write(dir, "unpickler", "torch113_state_dict.pkl", from_hex(mnemo::pickle::testing::kStateDictPickle));
    write(dir, "unpickler", "torch113_checkpoint.pkl", from_hex(mnemo::pickle::testing::kCheckpointPickle));
    write(dir, "unpickler", "mnemo_state_dict.pkl", data_pkl(sd));
    write(dir, "unpickler", "mnemo_checkpoint.pkl", data_pkl(ckpt));
    write(dir, "unpickler", "mnemo_dtypes.pkl", data_pkl(dtypes));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
