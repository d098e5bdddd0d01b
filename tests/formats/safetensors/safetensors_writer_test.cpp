// The safetensors writer: the reference writer's bytes (its own test vectors, from
// safetensors/src/tensor.rs), its order and padding, flattening, and its refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/safetensors/safetensors_test_util.h"
#include "mnemo/serialize.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using ::testing::HasSubstr;

FileBytes save_st(const Value& value, std::map<std::string, std::string> metadata = {}) {
  return save_to_bytes(value, FileFormat::kSafetensors, {.metadata = std::move(metadata)});
}

// The JSON header of a file (without its length and padding).
std::string header_of(const FileBytes& file) {
  std::uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  std::string text = text_of(std::span(file).subspan(8, n));
  return text.substr(0, text.find_last_not_of(' ') + 1);
}

Tensor f32(std::initializer_list<float> values, const Shape& shape) {
  return tensor<float>(values).view(shape);
}

TEST(SafetensorsWriter, MatchesTheReferenceWritersTestVectors) {
  // test_serialization: one F32 tensor whose header is exactly 64 bytes (no padding).
  const FileBytes data = le_bytes<float>({0, 1, 2, 3, 4, 5});
  EXPECT_EQ(save_st(Dict{{"attn.0", f32({0, 1, 2, 3, 4, 5}, {1, 2, 3})}}),
            st_file(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})", data));
  // test_serialization_forced_alignement: 65 bytes of JSON, padded with 7 spaces to 72.
  EXPECT_EQ(
      save_st(Dict{{"attn0", f32({0, 1, 2, 3, 4, 5}, {1, 1, 2, 3})}}),
      st_file(R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       )", data));
  // test_empty: "{}" and six spaces; with metadata, it comes first, padded to 40.
  EXPECT_EQ(save_st(Dict{}), st_file("{}      "));
  EXPECT_EQ(save_st(Dict{}, {{"framework", "pt"}}),
            st_file(R"({"__metadata__":{"framework":"pt"}}     )"));
}

TEST(SafetensorsWriter, OrdersByDTypeDescendingThenName) {
  // The reference's Dtype enum: BOOL < U8 < I8 < F8_E5M2 < F8_E4M3 < I16 < U16 < F16 <
  // BF16 < I32 < U32 < F32 < C64 < F64 < I64 < U64; bigger first, then names bytewise.
  Dict value;
  const std::pair<const char*, DType> tensors[] = {
      {"b", DType::kFloat32},       {"a", DType::kFloat32},         {"B", DType::kFloat32},
      {"bool", DType::kBool},       {"u8", DType::kUInt8},          {"i8", DType::kInt8},
      {"e5m2", DType::kFloat8E5M2}, {"e4m3", DType::kFloat8E4M3FN}, {"i16", DType::kInt16},
      {"u16", DType::kUInt16},      {"f16", DType::kFloat16},       {"bf16", DType::kBFloat16},
      {"i32", DType::kInt32},       {"u32", DType::kUInt32},        {"c64", DType::kComplex64},
      {"f64", DType::kFloat64},     {"i64", DType::kInt64},         {"u64", DType::kUInt64},
  };
  for (const auto& [name, dtype] : tensors)
    value.insert_or_assign(name, zeros({1}, {.dtype = dtype}));
  EXPECT_EQ(header_of(save_st(value)),
            R"({"u64":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},)"
            R"("i64":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},)"
            R"("f64":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},)"
            R"("c64":{"dtype":"C64","shape":[1],"data_offsets":[24,32]},)"
            R"("B":{"dtype":"F32","shape":[1],"data_offsets":[32,36]},)"
            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[36,40]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[40,44]},)"
            R"("u32":{"dtype":"U32","shape":[1],"data_offsets":[44,48]},)"
            R"("i32":{"dtype":"I32","shape":[1],"data_offsets":[48,52]},)"
            R"("bf16":{"dtype":"BF16","shape":[1],"data_offsets":[52,54]},)"
            R"("f16":{"dtype":"F16","shape":[1],"data_offsets":[54,56]},)"
            R"("u16":{"dtype":"U16","shape":[1],"data_offsets":[56,58]},)"
            R"("i16":{"dtype":"I16","shape":[1],"data_offsets":[58,60]},)"
            R"("e4m3":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[60,61]},)"
            R"("e5m2":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[61,62]},)"
            R"("i8":{"dtype":"I8","shape":[1],"data_offsets":[62,63]},)"
            R"("u8":{"dtype":"U8","shape":[1],"data_offsets":[63,64]},)"
            R"("bool":{"dtype":"BOOL","shape":[1],"data_offsets":[64,65]}})");
}

TEST(SafetensorsWriter, EveryTensorIsAlignedToItsElementSize) {
  Dict value;
  value.insert_or_assign("x", zeros({3}, {.dtype = DType::kUInt8}));
  value.insert_or_assign("a_longer_name_to_shift_the_header",
                         zeros({5}, {.dtype = DType::kFloat64}));
  value.insert_or_assign("h", zeros({3}, {.dtype = DType::kFloat16}));
  value.insert_or_assign("i", zeros({1}, {.dtype = DType::kInt32}));
  const FileBytes file = save_st(value);
  const SafetensorsInfo info = inspect_safetensors(file);
  EXPECT_EQ(info.data_offset % 8, 0u);
  for (const SafetensorsTensor& t : info.tensors) {
    EXPECT_EQ((info.data_offset + t.data_begin) % element_size(t.dtype), 0u) << t.name;
  }
}

TEST(SafetensorsWriter, MetadataComesFirstWithSortedEscapedKeys) {
  const FileBytes file = save_st(Dict{{"w", zeros({0})}},
                                 {{"z", "last"}, {"format", "pt"}, {"quote\"\n", "\u00e9\t\x01"}});
  EXPECT_EQ(header_of(file),
            "{\"__metadata__\":{\"format\":\"pt\",\"quote\\\"\\n\":\"\u00e9\\t\\u0001\","
            "\"z\":\"last\"},\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
  EXPECT_EQ(inspect_safetensors(file).metadata,
            (std::map<std::string, std::string>{
                {"z", "last"}, {"format", "pt"}, {"quote\"\n", "\u00e9\t\x01"}}));
}

TEST(SafetensorsWriter, FlattensNestedDictsWithDots) {
  const Tensor w = f32({1, 2}, {2});
  Value value = Dict{
      {"model_state_dict", StateDict{{"fc1.weight", w}, {"fc1.bias", w}}},
      {"optimizer", Dict{{"state", Dict{{std::int64_t{0}, Dict{{"exp_avg", w}}}}}}},
      {"top", w},
  };
  const SafetensorsInfo info = inspect_safetensors(save_st(value));
  std::vector<std::string> names;
  for (const SafetensorsTensor& t : info.tensors) names.push_back(t.name);
  EXPECT_THAT(names,
              ::testing::ElementsAre("model_state_dict.fc1.bias", "model_state_dict.fc1.weight",
                                     "optimizer.state.0.exp_avg", "top"));
}

TEST(SafetensorsWriter, ANonTensorLeafIsRefusedWithItsPathAndASubTree) {
  Value checkpoint = Dict{
      {"epoch", 5},
      {"model_state_dict", StateDict{{"fc.weight", ones({2})}}},
      {"optimizer_state_dict", Dict{{"state", Dict{{std::int64_t{0}, Dict{{"step", ones({})}}}}},
                                    {"param_groups", List{Dict{{"lr", 0.1}}}}}}};
  const Error e = thrown_error([&] { save_st(checkpoint); });
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(e.what(), HasSubstr("cannot save ['epoch'] (an int) as safetensors"));
  EXPECT_THAT(e.what(), HasSubstr("such as ['model_state_dict'] or "
                                  "['optimizer_state_dict']['state']"));
  const Error list = thrown_error([&] {
    save_st(Dict{{"w", ones({1})}, {"groups", Dict{{"g", List{}}}}});
  });
  EXPECT_THAT(list.what(), HasSubstr("['groups']['g'] (a list)"));
  EXPECT_THAT(list.what(), HasSubstr("leave such values out"));
  EXPECT_THAT(thrown_error([&] { save_st(ones({2})); }).what(),
              HasSubstr("cannot save a Tensor as safetensors, which holds named tensors"));
}

TEST(SafetensorsWriter, OtherRefusals) {
  const Error collision = thrown_error([&] {
    save_st(Dict{{"a.b", ones({1})}, {"a", Dict{{"b", ones({1})}}}});
  });
  EXPECT_EQ(collision.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(collision.what(),
              HasSubstr("['a.b'] and ['a']['b'] both become the tensor name 'a.b'"));
  const Error complex = thrown_error([&] {
    save_st(Dict{{"z", zeros({1}, {.dtype = DType::kComplex128})}});
  });
  EXPECT_EQ(complex.code(), ErrorCode::kUnsupported);
  EXPECT_THAT(complex.what(), HasSubstr("complex128 tensor at ['z']"));
  EXPECT_THAT(thrown_error([&] {
                save_st(Dict{{"__metadata__", ones({1})}});
              }).what(),
              HasSubstr("reserves for the metadata"));
  EXPECT_THAT(thrown_error([&] {
                save_st(Dict{{"bad\xff", ones({1})}});
              }).what(),
              HasSubstr("not valid UTF-8"));
  EXPECT_THAT(thrown_error([&] {
                save_st(Dict{{"u", Tensor()}});
              }).what(),
              HasSubstr("undefined tensor at ['u']"));
  const Error metadata = thrown_error([&] { save_st(Dict{}, {{"k", "\xc3"}}); });
  EXPECT_EQ(metadata.code(), ErrorCode::kInvalidArgument);
  // Metadata has no place in a .pt file, and mnemo writes no legacy files.
  EXPECT_EQ(thrown_error([&] {
              save_to_bytes(Dict{}, FileFormat::kPtZip, {.metadata = {{"k", "v"}}});
            }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_error([&] { save_to_bytes(Dict{}, FileFormat::kPtLegacy); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST(SafetensorsWriter, ViewsAreWrittenAsTheirContiguousValues) {
  const Tensor base = arange(0, 12, 1).view({3, 4});
  Value value = Dict{{"t", base.t()},
                     {"col", base.select(1, 2)},
                     {"every_other", base.slice(1, 0, 4, 2)},
                     {"expanded", tensor<float>({7}).expand({2, 3})},
                     {"base", base}};
  const Value loaded = load(save_st(value));
  for (const char* name : {"t", "col", "every_other", "expanded", "base"}) {
    const Tensor& got = loaded[name].as_tensor();
    EXPECT_TRUE(got.is_contiguous()) << name;
    EXPECT_TRUE(got.equal(value[name].as_tensor())) << name;
  }
}

TEST(SafetensorsWriter, SharingIsNotKept) {
  const Tensor tied = f32({1, 2, 3, 4}, {2, 2});
  const FileBytes file = save_st(Dict{{"encoder", tied}, {"decoder", tied}});
  const SafetensorsInfo info = inspect_safetensors(file);
  ASSERT_EQ(info.tensors.size(), 2u);
  EXPECT_EQ(info.tensors[1].data_begin, 16u);  // each written whole
  const Value loaded = load(file);
  EXPECT_FALSE(
      loaded["encoder"].as_tensor().storage().is_same(loaded["decoder"].as_tensor().storage()));
  EXPECT_TRUE(loaded["encoder"].as_tensor().equal(tied));
}

TEST(SafetensorsWriter, BoolBytesAreWrittenAsZeroOrOne) {
  Storage bytes = Storage::allocate(3);
  std::memcpy(bytes.mutable_data(), "\x00\x02\xff", 3);
  const FileBytes file = save_st(Dict{{"mask", Tensor(bytes, DType::kBool, {3}, {1})}});
  EXPECT_EQ(text_of(std::span(file).last(3)), std::string("\x00\x01\x01", 3));
}

TEST(SafetensorsWriter, SaveIsAtomicAndPicksTheFormatByExtension) {
  TempDir dir;
  EXPECT_EQ(format_for_path("a/b.safetensors"), FileFormat::kSafetensors);
  EXPECT_EQ(format_for_path("B.SafeTensors"), FileFormat::kSafetensors);
  EXPECT_EQ(format_for_path("b.pt"), FileFormat::kPtZip);
  EXPECT_EQ(format_for_path("safetensors"), FileFormat::kPtZip);

  const auto path = dir / "model.safetensors";
  save(Dict{{"w", ones({2})}}, path, {.fsync = false, .metadata = {{"format", "pt"}}});
  EXPECT_EQ(detect_format(path), FileFormat::kSafetensors);
  const auto before = std::filesystem::file_size(path);
  // A refused save touches nothing and leaves no temporary file.
  EXPECT_EQ(thrown_error([&] { save(Dict{{"epoch", 1}}, path); }).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(std::filesystem::file_size(path), before);
  save(Dict{{"w", ones({3})}, {"b", zeros({1})}}, path);
  EXPECT_EQ(load(path)["w"].as_tensor().numel(), 3);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

}  // namespace
}  // namespace mnemo::testing
