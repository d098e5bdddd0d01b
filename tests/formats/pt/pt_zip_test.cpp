// The .pt zip format in mnemo alone: round trips, PyTorch's record layout, and the
// reader's refusals for archives built by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "formats/pickle/pickler.h"
#include "formats/pickle/unpickler.h"
#include "formats/pt/pt_zip_writer.h"
#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_writer.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"
#include "support/python.h"

namespace mnemo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::span<const std::byte> bytes_of(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// A zip holding `records` (name, content) in order, as the reader would meet them.
std::vector<std::byte> archive(const std::vector<std::pair<std::string, std::vector<std::byte>>>& records) {
  io::MemorySink sink;
  zip::ZipWriter writer(sink);
  for (const auto& [name, content] : records) writer.add(name, content);
  writer.finish();
  return sink.release();
}

std::vector<std::byte> to_vector(std::span<const std::byte> bytes) {
  return {bytes.begin(), bytes.end()};
}

// data.pkl for `value`, naming its tensors' storages `keys` in order, or "0", "1", ...
std::vector<std::byte> pickle_of(const Value& value, const std::vector<std::string>& keys = {}) {
  std::size_t next = 0;
  std::string key;
  return pickle::pickle(value, [&](const Tensor& t) {
    key = next < keys.size() ? keys[next] : std::to_string(next);
    return pickle::StorageId{
        key, "cpu", static_cast<std::int64_t>(t.storage().nbytes() / t.element_size()), next++};
  });
}

std::vector<std::byte> raw(const Tensor& t) {
  return to_vector(std::span(t.storage().data(), t.storage().nbytes()));
}

Error load_error(const std::vector<std::byte>& bytes) {
  try {
    load(bytes);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "loaded";
  return Error(ErrorCode::kIo, "");
}

TEST(PtZip, RoundTripKeepsValuesTypesViewsAndSharing) {
  Tensor base = arange(0, 12, 1).view({3, 4});
  Value value = Dict{{"base", base},
                     {"t", base.t()},
                     {"row", base.select(0, 1)},
                     {"ints", tensor<std::int64_t>({1, -2})},
                     {"half", full({2}, 0.5, {.dtype = DType::kFloat16})},
                     {"scalar", scalar_tensor(true)},
                     {"nested", List{Tuple{1, "x", 2.5}, None{}}}};
  const std::vector<std::byte> bytes = save_to_bytes(value);
  const Value loaded = load(bytes);
  EXPECT_EQ(to_json(loaded, {.hash = true}), to_json(value, {.hash = true}));
  EXPECT_TRUE(loaded["t"].as_tensor().storage().is_same(loaded["base"].as_tensor().storage()));
  EXPECT_EQ(loaded["row"].as_tensor().storage_offset(), 4);
  EXPECT_TRUE(loaded["nested"][0].value().is_tuple());
}

TEST(PtZip, RecordsAreLaidOutAsTorchSaveLaysThemOut) {
  Dict dict;
  for (int i = 0; i < 12; ++i) dict.insert_or_assign("t" + std::to_string(i), full({1}, i));
  const std::vector<std::byte> bytes = save_to_bytes(dict);
  io::MemorySource source = io::MemorySource::view(bytes);
  zip::ZipReader zip(source);
  std::vector<std::string> names;
  for (const zip::Entry& e : zip.entries()) names.push_back(e.name);
  EXPECT_THAT(names, ElementsAre("archive/data.pkl", "archive/data/0", "archive/data/1",
                                 "archive/data/10", "archive/data/11", "archive/data/2",
                                 "archive/data/3", "archive/data/4", "archive/data/5",
                                 "archive/data/6", "archive/data/7", "archive/data/8",
                                 "archive/data/9", "archive/version"));
  std::string version(2, '\0');
  zip.read(*zip.find("archive/version"), std::as_writable_bytes(std::span(version)), true);
  EXPECT_EQ(version, "3\n");
}

TEST(PtZip, ASharedStorageIsWrittenOnce) {
  Tensor w = ones({4, 4});
  const std::vector<std::byte> bytes = save_to_bytes(Dict{{"a", w}, {"b", w.t()}, {"c", w.select(0, 2)}});
  io::MemorySource source = io::MemorySource::view(bytes);
  EXPECT_EQ(zip::ZipReader(source).entries().size(), 3u);  // data.pkl, data/0, version
}

TEST(PtZip, EachStorageIsSavedWithItsOwnLocation) {
  const auto on = [](Device device) {
    return Tensor(Storage::allocate_zeroed(8, device), DType::kFloat32, {2}, {1});
  };
  const Dict dict{{"a", on(Device::cpu())},
                  {"b", on(Device::cuda(0))},
                  {"c", on(Device::cuda(1))},
                  {"d", on(Device::cpu())},
                  {"e", on(Device::cuda(1))}};
  const std::vector<std::byte> bytes = save_to_bytes(dict);
  io::MemorySource source = io::MemorySource::view(bytes);
  const zip::ZipReader zip(source);
  const zip::Entry* entry = zip.find("archive/data.pkl");
  ASSERT_NE(entry, nullptr);
  std::vector<std::byte> pickled(entry->size);
  zip.read(*entry, pickled, /*verify_crc=*/true);
  std::vector<std::string> locations;
  pickle::unpickle(pickled, [&](const pickle::StorageRef& ref) {
    locations.push_back(ref.location);
    return Storage::allocate_zeroed(static_cast<std::size_t>(ref.numel) * element_size(ref.dtype));
  });
  EXPECT_THAT(locations, ElementsAre("cpu", "cuda:0", "cuda:1", "cpu", "cuda:1"));
}

TEST(PtZip, TensorsViewingOneStorageAsTwoDtypesAreRefused) {
  Storage storage = Storage::allocate_zeroed(16);
  Tensor as_float(storage, DType::kFloat32, {4}, {1});
  Tensor as_int(storage, DType::kInt32, {4}, {1});
  try {
    save_to_bytes(Dict{{"f", as_float}, {"i", as_int}});
    ADD_FAILURE() << "saved";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_THAT(e.what(), HasSubstr("view the same data as different types"));
  }
}

TEST(PtZip, DTypesPyTorch113CannotReadAreRefusedWithTheirPath) {
  for (DType dtype : {DType::kUInt16, DType::kUInt32, DType::kUInt64, DType::kFloat8E4M3FN,
                      DType::kFloat8E5M2}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Value value = Dict{{"model", Dict{{"w", zeros({2}, {.dtype = dtype})}}}};
    try {
      save_to_bytes(value);
      ADD_FAILURE() << "saved";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
      EXPECT_THAT(e.what(), HasSubstr("cannot save the " + std::string(dtype_name(dtype)) +
                                      " tensor at ['model']['w'] as .pt"));
      EXPECT_THAT(e.what(), HasSubstr("PyTorch 1.13"));
      EXPECT_THAT(e.what(), HasSubstr("DType::kFloat32"));
      EXPECT_THAT(e.what(), HasSubstr(".safetensors"));
    }
    // The same value saves as safetensors, and converted to float32 as .pt.
    EXPECT_EQ(load(save_to_bytes(value, FileFormat::kSafetensors))["model.w"].as_tensor().dtype(),
              dtype);
    EXPECT_NO_THROW(save_to_bytes(Dict{{"w", zeros({2}, {.dtype = dtype}).to(DType::kFloat32)}}));
  }
  testing::TempDir dir;
  EXPECT_THROW(save(Dict{{"w", zeros({1}, {.dtype = DType::kUInt16})}}, dir / "x.pt"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.pt"));
}

TEST(PtZip, ArchiveNameIsTheFileNameWithoutItsLastExtension) {
  EXPECT_EQ(pt::archive_name_for("dir/model.ckpt.pth"), "model.ckpt");
  EXPECT_EQ(pt::archive_name_for("noext"), "noext");
  EXPECT_THROW(pt::archive_name_for("dir/.pt"), Error);
}

TEST(PtZip, SaveIsAtomicAndRefusalsTouchNothing) {
  testing::TempDir dir;
  const auto path = dir / "model.pt";
  save(Dict{{"w", ones({2})}}, path, {.fsync = false});
  const auto before = std::filesystem::file_size(path);
  Storage storage = Storage::allocate_zeroed(16);
  EXPECT_THROW(save(Dict{{"f", Tensor(storage, DType::kFloat32, {4}, {1})},
                         {"i", Tensor(storage, DType::kInt32, {4}, {1})}},
                    path),
               Error);
  EXPECT_EQ(std::filesystem::file_size(path), before);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);  // no temporary file left behind
  EXPECT_TRUE(load(path)["w"].as_tensor().equal(ones({2})));
}

class PtZipReader : public ::testing::Test {
 protected:
  Tensor weight_ = arange(0, 4, 1);
  std::vector<std::byte> pickle_ = pickle_of(Dict{{"w", weight_}});

  std::vector<std::pair<std::string, std::vector<std::byte>>> records() const {
    return {{"a/data.pkl", pickle_},
            {"a/data/0", raw(weight_)},
            {"a/version", to_vector(bytes_of("3\n"))}};
  }
};

TEST_F(PtZipReader, AcceptsTheHandBuiltBaseline) {
  EXPECT_TRUE(load(archive(records()))["w"].as_tensor().equal(weight_));
}

TEST_F(PtZipReader, FindsEachStorageByItsExactKey) {
  // torch.save numbers its storages; a key that only reads as a number is another record.
  const std::vector<std::string> keys = {"7", "007", "x", "123456789", "0"};
  Dict dict;
  std::vector<std::pair<std::string, std::vector<std::byte>>> r;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Tensor t = full({2}, static_cast<double>(i + 1));
    dict.insert_or_assign("t" + std::to_string(i), t);
    r.push_back({"a/data/" + keys[i], raw(t)});
  }
  r.insert(r.begin(), {"a/data.pkl", pickle_of(dict, keys)});
  r.push_back({"a/version", to_vector(bytes_of("3\n"))});
  const Value loaded = load(archive(r));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_TRUE(
        loaded["t" + std::to_string(i)].as_tensor().equal(full({2}, static_cast<double>(i + 1))))
        << "storage key " << keys[i];
  }
}

TEST_F(PtZipReader, ChecksTheVersionRecord) {
  auto r = records();
  r[2].second = to_vector(bytes_of("11\n"));
  Error newer = load_error(archive(r));
  EXPECT_EQ(newer.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(newer.what(), HasSubstr("versions 1 to 10"));
  r.pop_back();
  EXPECT_EQ(load_error(archive(r)).code(), ErrorCode::kCorrupt);
}

TEST_F(PtZipReader, RefusesARecordOfTheWrongSize) {
  auto r = records();
  r[1].second.resize(12);
  Error error = load_error(archive(r));
  EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
  EXPECT_THAT(error.what(), HasSubstr("a/data/0 has 12 bytes, but its storage is 4 float32"));
}

TEST_F(PtZipReader, RefusesAMissingRecord) {
  auto r = records();
  r.erase(r.begin() + 1);
  EXPECT_THAT(load_error(archive(r)).what(), HasSubstr("data/0 is missing"));
}

TEST_F(PtZipReader, RefusesBytesAfterThePickle) {
  auto r = records();
  r[0].second.push_back(std::byte{'N'});
  EXPECT_THAT(load_error(archive(r)).what(), HasSubstr("after its STOP opcode"));
}

TEST_F(PtZipReader, RefusesRecordsOutsideAFolder) {
  auto r = records();
  r[0].first = "data.pkl";
  EXPECT_THAT(load_error(archive(r)).what(), HasSubstr("not in a subdirectory"));
}

TEST_F(PtZipReader, SwapsABigEndianFile) {
  auto r = records();
  for (std::size_t i = 0; i < r[1].second.size(); i += 4) {
    std::reverse(r[1].second.begin() + static_cast<std::ptrdiff_t>(i),
                 r[1].second.begin() + static_cast<std::ptrdiff_t>(i + 4));
  }
  r.insert(r.begin() + 1, {"a/byteorder", to_vector(bytes_of("big"))});
  EXPECT_TRUE(load(archive(r))["w"].as_tensor().equal(weight_));
  r[1].second = to_vector(bytes_of("middle"));
  EXPECT_THAT(load_error(archive(r)).what(), HasSubstr("expected \"little\" or \"big\""));
}

TEST_F(PtZipReader, RefusesAnUnknownFormatListingWhatItTried) {
  const std::string junk = "definitely not a checkpoint";
  Error error = load_error(to_vector(bytes_of(junk)));
  EXPECT_EQ(error.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(error.what(), HasSubstr("PyTorch zip format"));
  EXPECT_THAT(error.what(), HasSubstr("legacy PyTorch format"));
}

}  // namespace
}  // namespace mnemo
