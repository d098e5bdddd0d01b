#include "mnemo/core/dtype.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <type_traits>

namespace mnemo {
namespace {

TEST(DTypeTest, NamesSizesAndKinds) {
  struct Row {
    DType dtype;
    const char* name;
    std::size_t size;
    bool floating, complex, integral;
  };
  const Row rows[] = {
      {DType::kFloat32, "float32", 4, true, false, false},
      {DType::kFloat64, "float64", 8, true, false, false},
      {DType::kFloat16, "float16", 2, true, false, false},
      {DType::kBFloat16, "bfloat16", 2, true, false, false},
      {DType::kInt8, "int8", 1, false, false, true},
      {DType::kUInt8, "uint8", 1, false, false, true},
      {DType::kInt16, "int16", 2, false, false, true},
      {DType::kInt32, "int32", 4, false, false, true},
      {DType::kInt64, "int64", 8, false, false, true},
      {DType::kBool, "bool", 1, false, false, false},
      {DType::kComplex64, "complex64", 8, false, true, false},
      {DType::kComplex128, "complex128", 16, false, true, false},
      {DType::kUInt16, "uint16", 2, false, false, true},
      {DType::kUInt32, "uint32", 4, false, false, true},
      {DType::kUInt64, "uint64", 8, false, false, true},
      {DType::kFloat8E4M3FN, "float8_e4m3fn", 1, true, false, false},
      {DType::kFloat8E5M2, "float8_e5m2", 1, true, false, false},
  };
  ASSERT_EQ(std::size(rows), std::size(kAllDTypes));
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    const Row& row = rows[i];
    SCOPED_TRACE(row.name);
    EXPECT_EQ(kAllDTypes[i], row.dtype);
    EXPECT_EQ(dtype_name(row.dtype), row.name);
    EXPECT_EQ(element_size(row.dtype), row.size);
    EXPECT_EQ(is_floating_point(row.dtype), row.floating);
    EXPECT_EQ(is_complex(row.dtype), row.complex);
    EXPECT_EQ(is_integral(row.dtype), row.integral);
    EXPECT_EQ(is_integral(row.dtype, /*include_bool=*/true),
              row.integral || row.dtype == DType::kBool);
    EXPECT_EQ(dtype_from_name(row.name), row.dtype);
    EXPECT_EQ(dtype_from_name(std::string("torch.") + row.name), row.dtype);
  }
}

TEST(DTypeTest, AllDTypesListsEachOnce) {
  std::set<DType> seen(std::begin(kAllDTypes), std::end(kAllDTypes));
  EXPECT_EQ(seen.size(), 17u);
}

TEST(DTypeTest, EnumeratorsKeepTheirValues) {
  // Appended dtypes must not renumber the earlier ones.
  EXPECT_EQ(static_cast<int>(DType::kFloat32), 0);
  EXPECT_EQ(static_cast<int>(DType::kComplex128), 11);
  EXPECT_EQ(static_cast<int>(DType::kUInt16), 12);
  EXPECT_EQ(static_cast<int>(DType::kFloat8E5M2), 16);
}

TEST(DTypeTest, PyTorchAliases) {
  EXPECT_EQ(dtype_from_name("float"), DType::kFloat32);
  EXPECT_EQ(dtype_from_name("torch.float"), DType::kFloat32);
  EXPECT_EQ(dtype_from_name("double"), DType::kFloat64);
  EXPECT_EQ(dtype_from_name("half"), DType::kFloat16);
  EXPECT_EQ(dtype_from_name("short"), DType::kInt16);
  EXPECT_EQ(dtype_from_name("int"), DType::kInt32);
  EXPECT_EQ(dtype_from_name("long"), DType::kInt64);
  EXPECT_EQ(dtype_from_name("cfloat"), DType::kComplex64);
  EXPECT_EQ(dtype_from_name("torch.cdouble"), DType::kComplex128);
}

TEST(DTypeTest, UnknownNamesAreRefused) {
  for (const char* name : {"", "torch.", "Float32", "float8", "torch.torch.float32", "uint4",
                           "complex32", "chalf", " float32", "float32 ", "float8_e4m3fnuz",
                           "float8_e4m3", "float8_e8m0fnu", "UInt16"}) {
    EXPECT_FALSE(dtype_from_name(name).has_value()) << name;
  }
}

TEST(DTypeTest, CppTypesMatchDTypes) {
  static_assert(dtype_of_v<float> == DType::kFloat32);
  static_assert(dtype_of_v<double> == DType::kFloat64);
  static_assert(dtype_of_v<Half> == DType::kFloat16);
  static_assert(dtype_of_v<BFloat16> == DType::kBFloat16);
  static_assert(dtype_of_v<std::int8_t> == DType::kInt8);
  static_assert(dtype_of_v<std::uint8_t> == DType::kUInt8);
  static_assert(dtype_of_v<std::int16_t> == DType::kInt16);
  static_assert(dtype_of_v<std::int32_t> == DType::kInt32);
  static_assert(dtype_of_v<std::int64_t> == DType::kInt64);
  static_assert(dtype_of_v<bool> == DType::kBool);
  static_assert(dtype_of_v<std::complex<float>> == DType::kComplex64);
  static_assert(dtype_of_v<std::complex<double>> == DType::kComplex128);
  static_assert(dtype_of_v<std::uint16_t> == DType::kUInt16);
  static_assert(dtype_of_v<std::uint32_t> == DType::kUInt32);
  static_assert(dtype_of_v<std::uint64_t> == DType::kUInt64);
  static_assert(dtype_of_v<Float8E4M3FN> == DType::kFloat8E4M3FN);
  static_assert(dtype_of_v<Float8E5M2> == DType::kFloat8E5M2);
  for (DType dtype : kAllDTypes) {
    // visit_dtype hands over the type whose dtype_of is `dtype`, of the right size.
    const auto [visited, size] = visit_dtype(dtype, [](auto tag) {
      using T = decltype(tag);
      return std::pair(dtype_of_v<T>, sizeof(T));
    });
    EXPECT_EQ(visited, dtype) << dtype_name(dtype);
    EXPECT_EQ(size, element_size(dtype)) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace mnemo
