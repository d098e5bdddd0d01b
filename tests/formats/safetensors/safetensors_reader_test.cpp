// The safetensors reader on files built by hand from the format's definition, format
// detection, zero-copy loading, and round trips of every dtype and odd shape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/safetensors/safetensors_reader.h"
#include "formats/safetensors/safetensors_test_util.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> keys_of(const Value& value) {
  std::vector<std::string> out;
  for (const auto& [key, item] : value.as_dict()) out.push_back(std::get<std::string>(key));
  return out;
}

TEST(SafetensorsReader, ReadsAFileBuiltFromTheSpec) {
  // Two tensors listed out of data order, and an I8 tensor; the data is little-endian and
  // row-major.
  const FileBytes data = [] {
    FileBytes d = le_bytes<float>({1.5f, -2.0f, 0.25f, 8.0f});
    const FileBytes i = le_bytes<std::int8_t>({-1, 7});
    d.insert(d.end(), i.begin(), i.end());
    return d;
  }();
  const FileBytes file = st_file(R"({"small":{"dtype":"I8","shape":[2],"data_offsets":[16,18]},)"
                                 R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                                 R"("__metadata__":{"format":"pt"}})",
                                 data);
  const Value value = load(file);
  EXPECT_FALSE(value.as_dict().is_ordered_dict());
  EXPECT_THAT(keys_of(value), ElementsAre("w", "small"));  // in data order
  const Tensor& w = value["w"].as_tensor();
  EXPECT_EQ(w.dtype(), DType::kFloat32);
  EXPECT_EQ(w.sizes(), (Shape{2, 2}));
  EXPECT_EQ(w.strides(), (Shape{2, 1}));
  EXPECT_EQ(w.at<float>({1, 0}), 0.25f);
  EXPECT_EQ(value["small"].as_tensor().at<std::int8_t>({0}), -1);

  const SafetensorsInfo info = inspect_safetensors(file);
  EXPECT_EQ(info.header_bytes, file.size() - 8 - 18);
  EXPECT_EQ(info.data_offset, 8 + info.header_bytes);
  EXPECT_EQ(info.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  ASSERT_EQ(info.tensors.size(), 2u);
  EXPECT_EQ(info.tensors[1].name, "small");
  EXPECT_EQ(info.tensors[1].dtype, DType::kInt8);
  EXPECT_EQ(info.tensors[1].data_begin, 16u);
  EXPECT_EQ(info.tensors[1].data_end, 18u);
}

TEST(SafetensorsReader, EveryDTypeNameOfTheFormat) {
  const std::pair<const char*, DType> names[] = {
      {"BOOL", DType::kBool},
      {"U8", DType::kUInt8},
      {"I8", DType::kInt8},
      {"F8_E5M2", DType::kFloat8E5M2},
      {"F8_E4M3", DType::kFloat8E4M3FN},
      {"I16", DType::kInt16},
      {"U16", DType::kUInt16},
      {"F16", DType::kFloat16},
      {"BF16", DType::kBFloat16},
      {"I32", DType::kInt32},
      {"U32", DType::kUInt32},
      {"F32", DType::kFloat32},
      {"C64", DType::kComplex64},
      {"F64", DType::kFloat64},
      {"I64", DType::kInt64},
      {"U64", DType::kUInt64},
  };
  for (const auto& [name, dtype] : names) {
    const std::size_t size = element_size(dtype);
    const std::string header = std::string(R"({"t":{"dtype":")") + name +
                               R"(","shape":[3],"data_offsets":[0,)" + std::to_string(3 * size) +
                               "]}}";
    const Value value = load(st_file(header, FileBytes(3 * size, std::byte{1})));
    EXPECT_EQ(value["t"].as_tensor().dtype(), dtype) << name;
  }
}

TEST(SafetensorsReader, ZeroDimAndEmptyTensors) {
  const FileBytes file =
      st_file(R"({"scalar":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
              R"("empty":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
              R"("empty_rows":{"dtype":"I64","shape":[0,3],"data_offsets":[8,8]},)"
              R"("last":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}})",
              [] {
                FileBytes d = le_bytes<double>({2.5});
                d.push_back(std::byte{9});
                return d;
              }());
  for (bool mmap : {false, true}) {
    TempDir dir;
    write_file(dir / "t.safetensors", file);
    const Value value = load(dir / "t.safetensors", {.mmap = mmap});
    EXPECT_THAT(keys_of(value), ElementsAre("scalar", "empty", "empty_rows", "last"));
    EXPECT_EQ(value["scalar"].as_tensor().dim(), 0);
    EXPECT_EQ(value["scalar"].as_tensor().item<double>(), 2.5);
    EXPECT_EQ(value["empty"].as_tensor().sizes(), (Shape{0}));
    EXPECT_EQ(value["empty_rows"].as_tensor().sizes(), (Shape{0, 3}));
    EXPECT_EQ(value["last"].as_tensor().item<std::int64_t>(), 9);
  }
  // A file with no tensors at all.
  EXPECT_TRUE(load(st_file("{}")).as_dict().empty());
  EXPECT_FALSE(inspect_safetensors(st_file("{}")).metadata.has_value());
}

TEST(SafetensorsReader, AcceptsWhatTheReferenceReaderAccepts) {
  const FileBytes data = le_bytes<float>({3.0f});
  // Leading whitespace (test_whitespace_leading_padded_header), trailing padding, keys in
  // another order, extra keys in a tensor's object, a null __metadata__.
  const FileBytes file = st_file(
      " \n\t {\"x\":{\"shape\":[1],\"data_offsets\":[0,4],\"extra\":[{\"a\":null},true,1.5e3],"
      "\"dtype\":\"F32\"},\"__metadata__\":null}   \n",
      data);
  const Value value = load(file);
  EXPECT_EQ(value["x"].as_tensor().item<float>(), 3.0f);
  EXPECT_FALSE(inspect_safetensors(file).metadata.has_value());
  // Escapes in names are decoded.
  EXPECT_THAT(
      keys_of(load(st_file(R"({"a\"b\u00e9":{"dtype":"U8","shape":[],"data_offsets":[0,1]}})",
                           FileBytes(1)))),
      ElementsAre("a\"b\u00e9"));
}

TEST(SafetensorsReader, DetectedByItsBytesWhateverTheName) {
  TempDir dir;
  const FileBytes file = save_to_bytes(Dict{{"w", ones({2})}}, FileFormat::kSafetensors);
  write_file(dir / "weights.bin", file);
  EXPECT_EQ(detect_format(dir / "weights.bin"), FileFormat::kSafetensors);
  EXPECT_EQ(file_format_name(FileFormat::kSafetensors), "safetensors");
  EXPECT_TRUE(load(dir / "weights.bin")["w"].as_tensor().equal(ones({2})));
  // A .pt file is not mistaken for one, and inspect_safetensors says what it is.
  save(Dict{{"w", ones({2})}}, dir / "model.pt");
  EXPECT_EQ(detect_format(dir / "model.pt"), FileFormat::kPtZip);
  const Error not_st = thrown_error([&] { inspect_safetensors(dir / "model.pt"); });
  EXPECT_EQ(not_st.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(not_st.what(), HasSubstr("is a pt-zip file, not safetensors"));
}

TEST(SafetensorsReader, UnknownFilesAreRefusedListingTheFormatsTried) {
  for (const std::string& text : {std::string(R"({"a": {"dtype": "F32"}})"),  // JSON alone
                                  std::string("12345678{} but the length is huge"),
                                  std::string("\x02\0\0\0\0\0\0\0[]", 10),   // not an object
                                  std::string("\x01\0\0\0\0\0\0\0{", 9)}) {  // length 1
    const Error e = thrown_error([&] { load(std::as_bytes(std::span(text))); });
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << text;
    EXPECT_THAT(e.what(), HasSubstr("not a checkpoint mnemo can read"));
    EXPECT_THAT(e.what(), HasSubstr("PyTorch zip format"));
    EXPECT_THAT(e.what(), HasSubstr("legacy PyTorch format"));
    EXPECT_THAT(e.what(), HasSubstr("safetensors"));
  }
}

TEST(SafetensorsReader, MmapTensorsViewTheMapping) {
  TempDir dir;
  const auto path = dir / "m.safetensors";
  save(Dict{{"a", full({4}, 1.0)},
            {"b", full({2}, 2.0, {.dtype = DType::kFloat64})},
            {"empty", zeros({0})}},
       path);
  const SafetensorsInfo info = inspect_safetensors(path);
  const Value mapped = load(path, {.mmap = true, .mmap_mode = MapMode::kReadOnly});
  const Tensor& a = mapped["a"].as_tensor();
  const Tensor& b = mapped["b"].as_tensor();
  EXPECT_EQ(a.storage().kind(), StorageKind::kMapped);
  EXPECT_EQ(b.storage().kind(), StorageKind::kMapped);
  // Both view one mapping, at the distance their offsets say.
  const auto offset_of = [&](const std::string& name) {
    for (const SafetensorsTensor& t : info.tensors) {
      if (t.name == name) return static_cast<std::ptrdiff_t>(t.data_begin);
    }
    return std::ptrdiff_t{-1};
  };
  EXPECT_EQ(
      static_cast<const std::byte*>(a.data_ptr()) - static_cast<const std::byte*>(b.data_ptr()),
      offset_of("a") - offset_of("b"));
  EXPECT_FALSE(a.storage().is_writable());
  EXPECT_EQ(thrown_error([&] { a.fill_(0); }).code(), ErrorCode::kInvalidArgument);
  // Copy-on-write mappings take writes privately; the file keeps its bytes.
  const Value private_map = load(path, {.mmap = true});
  private_map["a"].as_tensor().fill_(5);
  EXPECT_TRUE(load(path)["a"].as_tensor().equal(full({4}, 1.0)));
  // A copy load owns its memory, 64-byte aligned.
  const Value copied = load(path);
  EXPECT_EQ(copied["a"].as_tensor().storage().kind(), StorageKind::kOwned);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(copied["b"].as_tensor().data_ptr()) % 64, 0u);
}

TEST(SafetensorsReader, MisalignedTensorsAreCopiedEvenWithMmap) {
  // A header of 57 bytes puts the data at file byte 65: not 4-aligned.
  const std::string header = R"({"f":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   )";
  ASSERT_EQ((8 + header.size()) % 4, 1u);
  TempDir dir;
  write_file(dir / "odd.safetensors", st_file(header, le_bytes<float>({1.0f, 2.0f})));
  const Tensor f = load(dir / "odd.safetensors", {.mmap = true})["f"].as_tensor();
  EXPECT_EQ(f.storage().kind(), StorageKind::kOwned);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.data_ptr()) % 4, 0u);
  EXPECT_EQ(f.at<float>({1}), 2.0f);
}

TEST(SafetensorsReader, MappedAndCopiedTensorsMixedEachGetTheirOwnBytes) {
  // With the data at a 4-aligned file offset, "b" is misaligned (copied) between tensors
  // that are mapped: each read must start where its tensor's bytes are.
  std::string header = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]},)"
                       R"("c":{"dtype":"U8","shape":[3],"data_offsets":[9,12]},)"
                       R"("d":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})";
  while ((8 + header.size()) % 4 != 0) header += ' ';
  FileBytes data = le_bytes<std::uint8_t>({7});
  const FileBytes b = le_bytes<float>({1.5f, -2.0f});
  const FileBytes c = le_bytes<std::uint8_t>({4, 5, 6});
  const FileBytes d = le_bytes<float>({9.25f});
  for (const FileBytes* part : {&b, &c, &d}) data.insert(data.end(), part->begin(), part->end());
  TempDir dir;
  write_file(dir / "mixed.safetensors", st_file(header, data));
  for (const bool mmap : {false, true}) {
    SCOPED_TRACE(mmap);
    const Value value = load(dir / "mixed.safetensors", {.mmap = mmap});
    EXPECT_EQ(value["b"].as_tensor().storage().kind(), StorageKind::kOwned);
    EXPECT_EQ(value["d"].as_tensor().storage().kind(),
              mmap ? StorageKind::kMapped : StorageKind::kOwned);
    EXPECT_EQ(value["a"].as_tensor().at<std::uint8_t>({0}), 7);
    EXPECT_EQ(value["b"].as_tensor().at<float>({0}), 1.5f);
    EXPECT_EQ(value["b"].as_tensor().at<float>({1}), -2.0f);
    EXPECT_EQ(value["c"].as_tensor().at<std::uint8_t>({2}), 6);
    EXPECT_EQ(value["d"].as_tensor().at<float>({0}), 9.25f);
  }
}

TEST(SafetensorsReader, ThousandsOfTensorsListedOutOfDataOrder) {
  // More tensors than one bulk read lists, every tenth one empty, listed last to first.
  constexpr int kCount = 9000;
  std::vector<std::string> entries;
  FileBytes data;
  std::uint64_t at = 0;
  for (int i = 0; i < kCount; ++i) {
    const bool empty = i % 10 == 0;
    entries.push_back(R"("t)" + std::to_string(i) + R"(":{"dtype":"F32","shape":[)" +
                      (empty ? "0" : "1") + R"(],"data_offsets":[)" + std::to_string(at) + "," +
                      std::to_string(at + (empty ? 0 : 4)) + "]}");
    if (!empty) {
      const FileBytes bytes = le_bytes<float>({static_cast<float>(i)});
      data.insert(data.end(), bytes.begin(), bytes.end());
      at += 4;
    }
  }
  std::string header = "{";
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    header += (it == entries.rbegin() ? "" : ",") + *it;
  }
  header += "}";
  const Value value = load(st_file(header, data));
  ASSERT_EQ(value.as_dict().size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const Tensor t = value["t" + std::to_string(i)].as_tensor();
    if (i % 10 == 0) {
      ASSERT_EQ(t.numel(), 0) << i;
    } else {
      ASSERT_EQ(t.at<float>({0}), static_cast<float>(i)) << i;
    }
  }
}

TEST(SafetensorsReader, LoadFromBytesCopies) {
  FileBytes file = save_to_bytes(Dict{{"w", full({2}, 3.0)}}, FileFormat::kSafetensors);
  const Value value = load(file);
  std::fill(file.begin(), file.end(), std::byte{0});
  EXPECT_TRUE(value["w"].as_tensor().equal(full({2}, 3.0)));
}

// A source that counts what is read from it.
class CountingSource : public io::ByteSource {
 public:
  explicit CountingSource(const FileBytes& bytes) : bytes_(bytes) {}
  std::uint64_t size() const override { return bytes_.size(); }
  std::string describe() const override { return "<counting>"; }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    ASSERT_TRUE(contains(offset, out.size()));
    std::memcpy(out.data(), bytes_.data() + offset, out.size());
    ++reads;
    bytes_read += out.size();
  }
  mutable std::size_t reads = 0;
  mutable std::uint64_t bytes_read = 0;

 private:
  const FileBytes& bytes_;
};

TEST(SafetensorsReader, ACopyLoadReadsEachByteOnceStraightIntoTheTensors) {
  const FileBytes file = save_to_bytes(
      Dict{{"a", ones({100})}, {"b", zeros({3, 3}, {.dtype = DType::kInt64})}, {"e", zeros({0})}},
      FileFormat::kSafetensors);
  CountingSource source(file);
  const Value value = safetensors::read(source, {});
  EXPECT_EQ(source.bytes_read, file.size());
  EXPECT_EQ(source.reads, 4u);  // the length, the header, then one read per non-empty tensor
  EXPECT_EQ(value["a"].as_tensor().storage().nbytes(), 400u);  // each tensor owns its bytes
}

TEST(SafetensorsReader, MapLocationApplies) {
  const FileBytes file = save_to_bytes(Dict{{"w", ones({1})}}, FileFormat::kSafetensors);
  const Error e = thrown_error([&] { load(file, {.map_location = Device::cuda(0)}); });
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(e.what(), HasSubstr("CPU only"));
  EXPECT_TRUE(load(file, {.map_location = Device::cpu()})["w"].as_tensor().device().is_cpu());
}

// Every dtype the format holds, in odd shapes, through save and both kinds of load: the
// same dtype, shape and bytes come back.
TEST(SafetensorsRoundTrip, EveryDTypeAndOddShape) {
  TempDir dir;
  Dict value;
  for (DType dtype : kAllDTypes) {
    if (dtype == DType::kComplex128) continue;  // the format has no C128
    const std::string name(dtype_name(dtype));
    Tensor numbers = arange(-3, 27, 1.25, {.dtype = DType::kFloat64}).view({2, 3, 4});
    value.insert_or_assign(name, numbers.to(dtype));
    value.insert_or_assign(name + ".scalar", full({}, 7, {.dtype = dtype}));
    value.insert_or_assign(name + ".empty", zeros({0}, {.dtype = dtype}));
    value.insert_or_assign(name + ".empty3d", zeros({2, 0, 5}, {.dtype = dtype}));
    value.insert_or_assign(name + ".column", numbers.to(dtype).select(2, 1));
  }
  // Special values of the float types.
  value.insert_or_assign("specials", tensor<float>({INFINITY, -INFINITY, NAN, -0.0f, 1e-40f}));
  value.insert_or_assign("e4m3",
                         tensor<float>({448, -448, NAN, 0.001953125f}).to(DType::kFloat8E4M3FN));
  value.insert_or_assign("e5m2", tensor<float>({57344, INFINITY, NAN}).to(DType::kFloat8E5M2));
  value.insert_or_assign("u64", tensor<std::uint64_t>({0, 18446744073709551615u}));

  const auto path = dir / "all.safetensors";
  save(value, path);
  const std::string expected = to_json(value, {.hash = true});
  for (bool mmap : {false, true}) {
    const Value loaded = load(path, {.mmap = mmap});
    EXPECT_EQ(loaded.as_dict().size(), value.size());
    // Keys come back in file order, not insertion order: compare entry by entry.
    for (const auto& [key, item] : value) {
      const Value* got = loaded.as_dict().find(key);
      ASSERT_NE(got, nullptr) << std::get<std::string>(key);
      EXPECT_EQ(to_json(*got, {.hash = true}), to_json(item, {.hash = true}))
          << std::get<std::string>(key);
    }
  }
  // The same through memory.
  const Value from_bytes = load(save_to_bytes(value, FileFormat::kSafetensors));
  EXPECT_EQ(to_json(from_bytes["u64"], {.hash = true}),
            to_json(value.at(std::string("u64")), {.hash = true}));
  // Re-saving what was loaded gives the same bytes.
  EXPECT_EQ(save_to_bytes(load(path), FileFormat::kSafetensors),
            save_to_bytes(value, FileFormat::kSafetensors));
}

TEST(SafetensorsRoundTrip, VerifyChecksAFile) {
  TempDir dir;
  save(Dict{{"a", ones({3})}, {"b", zeros({2, 2}, {.dtype = DType::kInt64})}},
       dir / "v.safetensors");
  const VerifyReport report = verify(dir / "v.safetensors");
  EXPECT_EQ(report.format, FileFormat::kSafetensors);
  EXPECT_EQ(report.records, 0u);
  EXPECT_EQ(report.tensors, 2u);
  EXPECT_EQ(report.storage_bytes, 12u + 32u);
}

}  // namespace
}  // namespace mnemo::testing
