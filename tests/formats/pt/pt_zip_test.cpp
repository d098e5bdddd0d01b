// The .pt zip format in mnemo alone: round trips, PyTorch's record layout, and the
// reader's refusals for archives built by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

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
    locations.emplace_back(ref.location);
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

// A save reserves room for its file up front (ByteSink::reserve), and never more than
// the file takes: a filesystem keeps room reserved past a file's end.
TEST(PtZip, SavedFilesHoldNoRoomPastTheirEnd) {
  testing::TempDir dir;
  Dict state;
  for (int i = 0; i < 40; ++i) state.insert_or_assign("w" + std::to_string(i), ones({100, 100}));
  for (const std::string name : {"model.pt", "model.safetensors"}) {
    SCOPED_TRACE(name);
    const auto path = dir / name;
    save(Value(state), path, {.fsync = false});
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const auto allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
    EXPECT_GT(size, 40u * 100 * 100 * 4);
    EXPECT_LT(allocated, size + (std::uint64_t{64} << 10));
    EXPECT_TRUE(load(path)["w39"].as_tensor().equal(ones({100, 100})));
  }
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

// An archive of enough small records to have them read while the pickle is parsed:
// 1,200 of a few bytes to 64 KiB, a large one, an empty one, two tensors viewing one
// storage, and a small record under data/ that the pickle does not name, first in the
// file: when it is damaged, the early read fails before it reads any other.
class PtZipEarlyRead : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 1200; ++i) {
      const std::int64_t n = i == 600 ? 16384 : 1 + (i * 37) % 300;
      dict_.insert_or_assign("t" + std::to_string(i),
                             arange(static_cast<double>(i), static_cast<double>(i + n), 1));
    }
    dict_.insert_or_assign("large", arange(0, 100000, 1));
    dict_.insert_or_assign("empty", zeros({0}));
    const Tensor base = arange(0, 10, 1);
    dict_.insert_or_assign("view_a", Tensor(base.storage(), DType::kFloat32, {4}, {1}, 0));
    dict_.insert_or_assign("view_b", Tensor(base.storage(), DType::kFloat32, {3}, {2}, 4));
    bytes_ = save_to_bytes(dict_);
    with_unnamed_ = with_record(bytes_, "archive/data/unnamed", std::vector<std::byte>(100));
  }

  // The records of an archive, in order.
  static std::vector<std::pair<std::string, std::vector<std::byte>>> records_of(
      const std::vector<std::byte>& bytes) {
    const io::MemorySource source = io::MemorySource::view(bytes);
    const zip::ZipReader zip(source);
    std::vector<std::pair<std::string, std::vector<std::byte>>> records;
    for (const zip::Entry& entry : zip.entries()) {
      std::vector<std::byte> data(entry.size);
      zip.read(entry, data, /*verify_crc=*/true);
      records.push_back({entry.name, std::move(data)});
    }
    return records;
  }
  // `bytes` with one more record, right after data.pkl.
  static std::vector<std::byte> with_record(const std::vector<std::byte>& bytes,
                                            const std::string& name,
                                            const std::vector<std::byte>& content) {
    auto records = records_of(bytes);
    records.insert(records.begin() + 1, {name, content});  // first of the data records
    return archive(records);
  }
  // `bytes` with one byte of `name`'s data, or of its local header, flipped.
  static std::vector<std::byte> damaged(std::vector<std::byte> bytes, const std::string& name,
                                        bool header = false) {
    const io::MemorySource source = io::MemorySource::view(bytes);
    const zip::ZipReader zip(source);
    const zip::Entry* entry = zip.find(name);
    EXPECT_NE(entry, nullptr) << name;
    const std::uint64_t at =
        header ? entry->local_header_offset : entry->data_offset + entry->size / 2;
    bytes[static_cast<std::size_t>(at)] ^= std::byte{0x5a};
    return bytes;
  }
  std::filesystem::path write(const std::vector<std::byte>& bytes) {
    const std::filesystem::path path = dir_.path() / "many.pt";
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  void expect_loaded(const Value& loaded) const {
    ASSERT_EQ(loaded.as_dict().size(), dict_.size());
    for (const auto& [key, value] : dict_) {
      const Tensor got = loaded[std::get<std::string>(key)].as_tensor();
      ASSERT_TRUE(got.equal(value.as_tensor())) << std::get<std::string>(key);
    }
    // The views still share their storage.
    EXPECT_EQ(loaded["view_a"].as_tensor().storage().data(),
              loaded["view_b"].as_tensor().storage().data());
  }

  Dict dict_;
  std::vector<std::byte> bytes_;
  std::vector<std::byte> with_unnamed_;
  testing::TempDir dir_;
};

TEST_F(PtZipEarlyRead, ManySmallRecordsLoadAsSaved) {
  expect_loaded(load(write(with_unnamed_)));
  expect_loaded(load(with_unnamed_));  // from memory
  // Storages restored on another device are read the ordinary way.
  Dict on_gpu = dict_;
  Storage tagged = Storage::allocate(raw(dict_.at("t5").as_tensor()).size(), Device::cuda(0));
  std::memcpy(tagged.mutable_data(), dict_.at("t5").as_tensor().storage().data(), tagged.nbytes());
  on_gpu.insert_or_assign(
      "t5", Tensor(tagged, DType::kFloat32, {static_cast<std::int64_t>(tagged.nbytes() / 4)}, {1}));
  const Value mapped =
      load(write(save_to_bytes(on_gpu)), {.map_location = MapLocation::keep_saved()});
  EXPECT_TRUE(mapped["t5"].as_tensor().device() == Device::cuda(0));
  EXPECT_EQ(raw(mapped["t5"].as_tensor()), raw(dict_.at("t5").as_tensor()));
  EXPECT_TRUE(mapped["t6"].as_tensor().device() == Device::cpu());
  EXPECT_TRUE(mapped["t6"].as_tensor().equal(dict_.at("t6").as_tensor()));
}

TEST_F(PtZipEarlyRead, ADamagedRecordThePickleDoesNotNameIsIgnored) {
  // As without the early read: only the records a load needs have their CRC checked.
  const std::vector<std::byte> bytes = damaged(with_unnamed_, "archive/data/unnamed");
  expect_loaded(load(write(bytes)));
  expect_loaded(load(bytes));
}

TEST_F(PtZipEarlyRead, ADamagedNamedRecordGivesTheOrdinaryError) {
  for (const std::vector<std::byte>& bytes :
       {damaged(with_unnamed_, "archive/data/500"), damaged(bytes_, "archive/data/500")}) {
    const Error error = load_error(bytes);
    EXPECT_EQ(error.code(), ErrorCode::kCorrupt);
    EXPECT_THAT(error.what(),
                HasSubstr("zip entry 'archive/data/500' in <memory> (data at offset"));
    EXPECT_THAT(error.what(), HasSubstr("(the data is damaged)"));
    const std::filesystem::path path = write(bytes);
    try {
      load(path);
      ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_THAT(e.what(), HasSubstr("zip entry 'archive/data/500' in " + path.string()));
      EXPECT_THAT(e.what(), HasSubstr("(the data is damaged)"));
    }
  }
}

TEST_F(PtZipEarlyRead, ADamagedLocalHeaderIsFoundNamedOrNot) {
  for (const char* name : {"archive/data/unnamed", "archive/data/700"}) {
    try {
      load(write(damaged(with_unnamed_, name, /*header=*/true)));
      ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_THAT(e.what(), HasSubstr(std::string("'") + name + "'"));
    }
  }
}

TEST_F(PtZipEarlyRead, APickleErrorWhileRecordsAreReadIsClean) {
  // The pickle cut short: the parse fails while the records are still being read.
  auto records = records_of(bytes_);
  for (auto& [name, data] : records) {
    if (name == "archive/data.pkl") data.resize(data.size() / 2);
  }
  for (int i = 0; i < 3; ++i) {
    try {
      load(write(archive(records)));
      ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
      EXPECT_THAT(e.what(), HasSubstr("truncated pickle"));
    }
  }
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
