#include "mnemo/core/value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "core/tensor_test_util.h"
#include "mnemo/core/state_dict.h"

namespace mnemo {
namespace {

using testing::kInvalid;
using testing::throws_error;

BigInt big(std::initializer_list<std::uint8_t> le) {
  const std::vector<std::uint8_t> bytes(le);
  return BigInt::from_le_bytes(bytes);
}

// --- construction --------------------------------------------------------------------------------

TEST(ValueTest, ConstructsFromEveryType) {
  EXPECT_EQ(Value().type(), ValueType::kNone);
  EXPECT_TRUE(Value(none).is_none());
  EXPECT_TRUE(Value(true).is_bool());
  EXPECT_TRUE(Value(5).is_int());
  EXPECT_TRUE(Value(std::int8_t{-5}).is_int());
  EXPECT_TRUE(Value(std::uint8_t{200}).is_int());
  EXPECT_TRUE(Value(std::int64_t{1} << 62).is_int());
  EXPECT_TRUE(Value(std::uint64_t{5}).is_int());
  EXPECT_TRUE(Value(2.5).is_double());
  EXPECT_TRUE(Value(2.5f).is_double());
  EXPECT_TRUE(Value("text").is_string());
  EXPECT_TRUE(Value(std::string("text")).is_string());
  EXPECT_TRUE(Value(std::string_view("text")).is_string());
  EXPECT_TRUE(Value(Bytes{1, 2}).is_bytes());
  EXPECT_TRUE(Value(List{1, 2}).is_list());
  EXPECT_TRUE(Value(Tuple{1, 2}).is_tuple());
  EXPECT_TRUE(Value(Dict{{"a", 1}}).is_dict());
  EXPECT_TRUE(Value(zeros({2})).is_tensor());
  EXPECT_TRUE(Value(StateDict{{"w", zeros({1})}}).is_dict());
  EXPECT_EQ(Value(std::uint8_t{200}).as_int(), 200);
  EXPECT_EQ(Value(std::int8_t{-5}).as_int(), -5);
  EXPECT_EQ(Value(2.5f).as_double(), 2.5);
  EXPECT_EQ(Value(std::string_view("sv")).as_string(), "sv");
  EXPECT_EQ(Value(Bytes{1, 2}).as_bytes(), (Bytes{1, 2}));
  EXPECT_TRUE(Value(true).as_bool());
}

TEST(ValueTest, Uint64PastInt64MaxBecomesBigInt) {
  const Value max_signed(static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  EXPECT_TRUE(max_signed.is_int());
  const Value v(std::numeric_limits<std::uint64_t>::max());
  EXPECT_TRUE(v.is_big_int());
  EXPECT_EQ(v.as_big_int().to_string(), "18446744073709551615");
  EXPECT_FALSE(v.as_big_int().is_negative());
  const Value just_past(std::uint64_t{1} << 63);
  EXPECT_TRUE(just_past.is_big_int());
  EXPECT_EQ(just_past.repr(), "9223372036854775808");
}

TEST(ValueTest, BigIntThatFitsIsAnInt) {
  EXPECT_TRUE(Value(BigInt(-7)).is_int());
  EXPECT_EQ(Value(big({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00})).as_int(),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_TRUE(Value(big({0, 0, 0, 0, 0, 0, 0, 0, 1})).is_big_int());
}

TEST(ValueTest, InitializerListsNest) {
  const Value v =
      Dict{{"epoch", 5},           {"loss", 0.25}, {"tags", List{"a", 1, List{true, none}}},
           {"shape", Tuple{2, 3}}, {7, "seven"},   {"inner", Dict{{"x", 1.5}}}};
  EXPECT_EQ(v["epoch"].as_int(), 5);
  EXPECT_EQ(v["loss"].as_double(), 0.25);
  EXPECT_EQ(v["tags"][2][0].as_bool(), true);
  EXPECT_TRUE(v["tags"][2][1].value().is_none());
  EXPECT_EQ(v["shape"][1].as_int(), 3);
  EXPECT_EQ(v[7].as_string(), "seven");
  EXPECT_EQ(v["inner"]["x"].to_double(), 1.5);
  const auto keys = v.as_dict().keys();
  ASSERT_EQ(keys.size(), 6u);
  EXPECT_EQ(std::get<std::string>(keys[0]), "epoch");
  EXPECT_EQ(std::get<std::int64_t>(keys[4]), 7);
}

TEST(ValueTest, DuplicateKeysInAnInitializerListReplaceInPlace) {
  const Dict d{{"a", 1}, {"b", 2}, {"a", 3}};
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(std::get<std::string>(d.keys()[0]), "a");
  EXPECT_EQ(d.at("a").as_int(), 3);
}

TEST(ValueTest, CopiesAreDeepButTensorsAreShared) {
  const Tensor t = zeros({2});
  Value a = Dict{{"l", List{1}}, {"t", t}};
  Value b = a;
  b.as_dict().at("l").as_list().push_back(2);
  EXPECT_EQ(a["l"].as_list().size(), 1u);
  EXPECT_EQ(b["l"].as_list().size(), 2u);
  EXPECT_TRUE(b["t"].as_tensor().is_same(t));
}

TEST(ValueTest, AssigningADictValueCopiesItDeeply) {
  Value a = Dict{{"l", List{1}}};
  Value b = Dict{{"other", 2}};
  b = a;
  b.as_dict().at("l").as_list().push_back(2);
  EXPECT_EQ(a["l"].as_list().size(), 1u);
  EXPECT_EQ(b["l"].as_list().size(), 2u);
  EXPECT_FALSE(b.as_dict().contains("other"));
}

TEST(ValueTest, AMovedFromDictValueIsAnEmptyDict) {
  Value a = Dict{{"k", 1}};
  const Value b = std::move(a);
  EXPECT_EQ(b["k"].as_int(), 1);
  // NOLINTBEGIN(bugprone-use-after-move): what a moved-from value reads as is the point
  ASSERT_TRUE(a.is_dict());
  EXPECT_TRUE(a.as_dict().empty());
  EXPECT_EQ(a, Value(Dict{}));
  a.as_dict().insert_or_assign("again", 2);  // and it can be filled again
  EXPECT_EQ(a["again"].as_int(), 2);
  // NOLINTEND(bugprone-use-after-move)
}

TEST(ValueTest, AMovedFromStringValueIsAnEmptyString) {
  Value a = std::string(40, 'x');  // longer than a string keeps inline
  Value copy = a;
  const Value b = std::move(a);
  EXPECT_EQ(b.as_string(), std::string(40, 'x'));
  EXPECT_EQ(copy, b);
  // NOLINTBEGIN(bugprone-use-after-move): what a moved-from value reads as is the point
  ASSERT_TRUE(a.is_string());
  EXPECT_EQ(a.as_string(), "");
  // NOLINTEND(bugprone-use-after-move)
  copy = Value("y");
  EXPECT_EQ(copy.as_string(), "y");
  EXPECT_EQ(b.as_string(), std::string(40, 'x'));
}

TEST(ValueTest, AValueIsSmallWhateverItHolds) {
  // Every item of every dict is a Value: a Dict or a std::string held in place would make
  // each one larger.
  EXPECT_LE(sizeof(Value), 32u);
}

// --- accessors and their messages
// -------------------------------------------------------------------

TEST(ValueTest, WrongAccessorNamesTheActualType) {
  EXPECT_TRUE(
      throws_error([] { (void)Value(5).as_string(); }, kInvalid, "expected a str, got an int"));
  EXPECT_TRUE(throws_error([] { (void)Value().as_int(); }, kInvalid, "expected an int, got None"));
  EXPECT_TRUE(
      throws_error([] { (void)Value(1.5).as_int(); }, kInvalid, "expected an int, got a float"));
  EXPECT_TRUE(
      throws_error([] { (void)Value(3).as_double(); }, kInvalid, "expected a float, got an int"));
  EXPECT_TRUE(throws_error([] { (void)Value(true).as_int(); }, kInvalid, "got a bool"));
  EXPECT_TRUE(throws_error([] { (void)Value(List{}).as_tuple(); }, kInvalid,
                           "expected a tuple, got a list"));
  EXPECT_TRUE(throws_error([] { (void)Value(Tuple{}).as_list(); }, kInvalid,
                           "expected a list, got a tuple"));
  EXPECT_TRUE(
      throws_error([] { (void)Value("s").as_bytes(); }, kInvalid, "expected a bytes, got a str"));
  EXPECT_TRUE(throws_error([] { (void)Value(Bytes{}).as_dict(); }, kInvalid,
                           "expected a dict, got a bytes"));
  EXPECT_TRUE(throws_error([] { (void)Value(zeros({1})).as_bool(); }, kInvalid,
                           "expected a bool, got a Tensor"));
  EXPECT_TRUE(
      throws_error([] { (void)Value(1).as_tensor(); }, kInvalid, "expected a Tensor, got an int"));
  EXPECT_TRUE(throws_error([] { (void)Value("x").to_double(); }, kInvalid,
                           "expected a float or an int, got a str"));
}

TEST(ValueTest, MessagesCarryThePath) {
  const Value ckpt = Dict{{"a", Dict{{"b", Dict{{"c", 1}}}}}, {"l", List{1, 2, "three"}}};
  EXPECT_TRUE(throws_error([&] { (void)ckpt["a"]["b"].as_tensor(); }, kInvalid,
                           "expected a Tensor at ['a']['b'], got a dict"));
  EXPECT_TRUE(throws_error([&] { (void)ckpt["l"][2].as_int(); }, kInvalid,
                           "expected an int at ['l'][2], got a str"));
  EXPECT_TRUE(throws_error([&] { (void)ckpt["l"][-1].as_int(); }, kInvalid, "at ['l'][2]"));
  EXPECT_TRUE(throws_error([&] { (void)ckpt["l"]["x"]; }, kInvalid,
                           "expected a dict at ['l'], got a list"));
  EXPECT_TRUE(throws_error([&] { (void)ckpt["a"]["b"]["c"][0]; }, kInvalid,
                           "expected a list, tuple or dict at ['a']['b']['c'], got an int"));
  EXPECT_EQ(ckpt["a"]["b"].path(), "['a']['b']");
  EXPECT_EQ(ckpt["l"][-2].path(), "['l'][1]");
  EXPECT_EQ(ValueRef(ckpt, "").path(), "");
}

TEST(ValueTest, MissingKeyListsTheKeys) {
  const Value ckpt = Dict{{"a", Dict{{"b", 1}, {"c", 2}}}, {"empty", Dict{}}};
  EXPECT_TRUE(throws_error([&] { (void)ckpt["a"]["zz"]; }, kInvalid,
                           "no key 'zz' in the dict at ['a'] (keys: 'b', 'c')"));
  EXPECT_TRUE(throws_error([&] { (void)ckpt["nope"]; }, kInvalid,
                           "no key 'nope' in the dict (keys: 'a', 'empty')"));
  EXPECT_TRUE(throws_error([&] { (void)ckpt["empty"]["x"]; }, kInvalid, "(it is empty)"));
  Dict many;
  for (int i = 0; i < 12; ++i) many.insert_or_assign("k" + std::to_string(i), i);
  const Value v = many;
  EXPECT_TRUE(throws_error([&] { (void)v["x"]; }, kInvalid,
                           "(keys: 'k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', ...)"));
}

TEST(ValueTest, ListAndTupleIndices) {
  const Value l = List{10, 20, 30};
  EXPECT_EQ(l[0].as_int(), 10);
  EXPECT_EQ(l[-1].as_int(), 30);
  EXPECT_EQ(l[-3].as_int(), 10);
  EXPECT_TRUE(
      throws_error([&] { (void)l[3]; }, kInvalid, "index 3 is out of range for a list of 3 items"));
  EXPECT_TRUE(throws_error([&] { (void)l[-4]; }, kInvalid, "index -4 is out of range"));
  // Any integer type subscripts; a literal 0 is not taken for a null string.
  EXPECT_EQ(l[std::size_t{1}].as_int(), 20);
  EXPECT_EQ(l[std::int32_t{-1}].as_int(), 30);
  EXPECT_EQ(ValueRef(l, "")[0u].as_int(), 10);
  EXPECT_TRUE(throws_error([&] { (void)l[std::numeric_limits<std::uint64_t>::max()]; }, kInvalid,
                           "out of range"));
  const Value t = Dict{{"t", Tuple{1}}};
  EXPECT_EQ(t["t"][0].as_int(), 1);
  EXPECT_TRUE(throws_error([&] { (void)t["t"][1]; }, kInvalid,
                           "index 1 is out of range for a tuple of 1 items at ['t']"));
}

TEST(ValueTest, IntKeysOfDicts) {
  const Value v = Dict{{0, "zero"}, {-1, "minus"}, {"0", "string zero"}};
  EXPECT_EQ(v[0].as_string(), "zero");
  EXPECT_EQ(v[-1].as_string(), "minus");  // a key, not an index from the end
  EXPECT_EQ(v["0"].as_string(), "string zero");
  EXPECT_EQ(v[-1].path(), "[-1]");
  EXPECT_TRUE(throws_error([&] { (void)v[5]; }, kInvalid, "no key 5 in the dict"));
  const Value nested = Dict{{"state", Dict{{3, Dict{{"step", 1}}}}}};
  EXPECT_EQ(nested["state"][3]["step"].as_int(), 1);
  EXPECT_TRUE(throws_error([&] { (void)nested["state"][4]; }, kInvalid,
                           "no key 4 in the dict at ['state']"));
}

TEST(ValueTest, ValueRefContainsAndConversions) {
  const Value v = Dict{{"a", 1}, {"f", 2.5}, {"b", BigInt(big({0, 0, 0, 0, 0, 0, 0, 0, 1}))}};
  const ValueRef root(v, "");
  EXPECT_TRUE(root.contains("a"));
  EXPECT_FALSE(root.contains("z"));
  EXPECT_FALSE(root["a"].contains("a"));  // not a dict
  EXPECT_EQ(root["a"].type(), ValueType::kInt);
  const Value& a = root["a"];
  EXPECT_EQ(a.as_int(), 1);
  EXPECT_EQ(v["a"].to_double(), 1.0);
  EXPECT_EQ(v["f"].to_double(), 2.5);
  EXPECT_EQ(v["a"].as_big_int(), BigInt(1));
  EXPECT_EQ(v["b"].to_double(), 18446744073709551616.0);
  EXPECT_TRUE(throws_error([&] { (void)v["b"].as_int(); }, kInvalid,
                           "the int at ['b'] (18446744073709551616) does not fit in 64 bits"));
  EXPECT_EQ(v["b"].as_big_int().to_string(), "18446744073709551616");
}

TEST(ValueTest, MutableAccessors) {
  Value v = Dict{{"l", List{}}, {"t", Tuple{1}}};
  v.as_dict().at("l").as_list().push_back(5);
  v.as_dict().at("t").as_tuple().push_back(2);
  v.as_dict().insert_or_assign("new", "x");
  EXPECT_EQ(v["l"][0].as_int(), 5);
  EXPECT_EQ(v["t"][1].as_int(), 2);
  EXPECT_EQ(v["new"].as_string(), "x");
  EXPECT_TRUE(throws_error([&] { v.as_list(); }, kInvalid, "expected a list, got a dict"));
}

// --- BigInt
// ------------------------------------------------------------------------------------------

TEST(BigIntTest, NormalisesToMinimalBytes) {
  EXPECT_TRUE(BigInt().le_bytes().empty());
  EXPECT_TRUE(BigInt(0).le_bytes().empty());
  EXPECT_TRUE(big({0x00}).le_bytes().empty());
  EXPECT_TRUE(big({0x00, 0x00, 0x00}).le_bytes().empty());
  EXPECT_EQ(big({0x05, 0x00, 0x00}).le_bytes(), (std::vector<std::uint8_t>{0x05}));
  EXPECT_EQ(big({0xff, 0x00}).le_bytes(), (std::vector<std::uint8_t>{0xff, 0x00}));  // 255
  EXPECT_EQ(big({0xff, 0xff, 0xff}).le_bytes(), (std::vector<std::uint8_t>{0xff}));  // -1
  EXPECT_EQ(big({0x80, 0xff}).le_bytes(), (std::vector<std::uint8_t>{0x80}));        // -128
  EXPECT_EQ(big({0x7f, 0xff}).le_bytes(), (std::vector<std::uint8_t>{0x7f, 0xff}));  // -129
  EXPECT_EQ(big({0x00, 0xff}).le_bytes(), (std::vector<std::uint8_t>{0x00, 0xff}));  // -256
  EXPECT_EQ(BigInt(255).le_bytes(), (std::vector<std::uint8_t>{0xff, 0x00}));
  EXPECT_EQ(BigInt(-1).le_bytes(), (std::vector<std::uint8_t>{0xff}));
  EXPECT_EQ(BigInt(128).le_bytes(), (std::vector<std::uint8_t>{0x80, 0x00}));
  EXPECT_EQ(big({0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0}), BigInt(42));  // equal once normalised
  EXPECT_EQ(BigInt(std::numeric_limits<std::int64_t>::min()).le_bytes().size(), 8u);
}

TEST(BigIntTest, Int64RoundTrip) {
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{127}, std::int64_t{128},
        std::int64_t{-128}, std::int64_t{-129}, std::int64_t{1} << 40, -(std::int64_t{1} << 40),
        std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    const BigInt b(v);
    EXPECT_TRUE(b.fits_int64());
    EXPECT_EQ(b.to_int64(), v);
    EXPECT_EQ(b.is_negative(), v < 0);
    EXPECT_EQ(b.to_string(), std::to_string(v));
  }
  EXPECT_EQ(big({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff}).fits_int64(), false);
}

TEST(BigIntTest, ToStringOfWideValues) {
  EXPECT_EQ(big({0, 0, 0, 0, 0, 0, 0, 0, 1}).to_string(), "18446744073709551616");    // 2^64
  EXPECT_EQ(big({0, 0, 0, 0, 0, 0, 0, 0x80, 0}).to_string(), "9223372036854775808");  // 2^63
  EXPECT_EQ(big({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff}).to_string(),
            "-9223372036854775809");  // -2^63 - 1
  EXPECT_EQ(big({0, 0, 0, 0, 0, 0, 0, 0, 0xff}).to_string(), "-18446744073709551616");
  std::vector<std::uint8_t> two_100(13, 0);
  two_100[12] = 0x10;  // 2^100
  EXPECT_EQ(BigInt::from_le_bytes(two_100).to_string(), "1267650600228229401496703205376");
  EXPECT_TRUE(throws_error([&] { (void)BigInt::from_le_bytes(two_100).to_int64(); }, kInvalid,
                           "1267650600228229401496703205376 does not fit in 64 bits"));
}

TEST(BigIntTest, ToDoubleRoundsLikePython) {
  // float(2**64 + 1) == 2**64; float(2**53 + 1) rounds to even; huge ints refuse.
  EXPECT_EQ(Value(big({1, 0, 0, 0, 0, 0, 0, 0, 1})).to_double(), std::ldexp(1.0, 64));
  EXPECT_EQ(Value(big({0, 0, 0, 0, 0, 0, 0, 0, 0xff})).to_double(), -std::ldexp(1.0, 64));
  // 2^80 + 2^27 is a tie between 2^80 and 2^80 + 2^28: even is 2^80; one more bit goes up.
  std::vector<std::uint8_t> tie(11, 0);
  tie[10] = 0x01;
  tie[3] = 0x08;
  EXPECT_EQ(Value(BigInt::from_le_bytes(tie)).to_double(), std::ldexp(1.0, 80));
  tie[0] = 0x01;
  EXPECT_EQ(Value(BigInt::from_le_bytes(tie)).to_double(),
            std::ldexp(1.0, 80) + std::ldexp(1.0, 28));
  std::vector<std::uint8_t> huge(130, 0);
  huge[129] = 0x01;  // 2^1032
  EXPECT_TRUE(throws_error([&] { (void)Value(BigInt::from_le_bytes(huge)).to_double(); }, kInvalid,
                           "too large to convert to a float"));
}

// --- equality
// ---------------------------------------------------------------------------------------

TEST(ValueTest, DeepEquality) {
  EXPECT_EQ(Value(), Value(none));
  EXPECT_EQ(Value(1), Value(std::int64_t{1}));
  EXPECT_NE(Value(1), Value(1.0));  // types differ
  EXPECT_NE(Value(true), Value(1));
  EXPECT_NE(Value(List{1}), Value(Tuple{1}));
  EXPECT_EQ(Value(List{1, "a", List{2.5}}), Value(List{1, "a", List{2.5}}));
  EXPECT_NE(Value(List{1, "a", List{2.5}}), Value(List{1, "a", List{2.6}}));
  EXPECT_EQ(Value(std::numeric_limits<std::uint64_t>::max()),
            Value(big({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00})));
  EXPECT_NE(Value(NAN), Value(NAN));
  EXPECT_EQ(Value(Bytes{1}), Value(Bytes{1}));
  EXPECT_NE(Value(Bytes{1}), Value("\x01"));
}

TEST(ValueTest, TensorsCompareByValue) {
  const Tensor t = tensor<float>({1, 2});
  EXPECT_EQ(Value(t), Value(t.clone()));
  EXPECT_NE(Value(t), Value(tensor<float>({1, 3})));
  EXPECT_NE(Value(t), Value(t.to(DType::kFloat64)));
  const Tensor n = tensor<float>({NAN});
  EXPECT_NE(Value(n), Value(n));
  EXPECT_EQ(Value(Tensor()), Value(Tensor()));
  EXPECT_NE(Value(Tensor()), Value(t));
  EXPECT_EQ(Value(Dict{{"w", t}}), Value(Dict{{"w", t.clone()}}));
}

TEST(ValueTest, DictEqualityIsOrderedAndSeesKindAndAttributes) {
  const Dict ab{{"a", 1}, {"b", 2}};
  const Dict ba{{"b", 2}, {"a", 1}};
  EXPECT_FALSE(ab == ba);  // order is part of a checkpoint
  Dict ordered = ab;
  ordered.set_ordered_dict(true);
  EXPECT_FALSE(ordered == ab);
  Dict with_attrs = ordered;
  with_attrs.set_attributes(Dict{{"_metadata", Dict{}}});
  EXPECT_FALSE(with_attrs == ordered);
  Dict same_attrs = ordered;
  same_attrs.set_attributes(Dict{{"_metadata", Dict{}}});
  EXPECT_TRUE(with_attrs == same_attrs);
  same_attrs.clear_attributes();
  EXPECT_TRUE(same_attrs == ordered);
}

// --- Dict
// ---------------------------------------------------------------------------------------------

TEST(DictTest, Api) {
  Dict d;
  EXPECT_TRUE(d.empty());
  d.insert_or_assign("x", 1);
  d.insert_or_assign(2, "two");
  d.insert_or_assign("x", 3);  // in place
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(std::get<std::string>(d.keys()[0]), "x");
  EXPECT_EQ(d.at("x").as_int(), 3);
  EXPECT_TRUE(d.contains(2));
  EXPECT_FALSE(d.contains("2"));
  EXPECT_NE(d.find(2), nullptr);
  EXPECT_EQ(d.find("missing"), nullptr);
  EXPECT_TRUE(
      throws_error([&] { (void)d.at("missing"); }, kInvalid, "no key 'missing' in the dict"));
  EXPECT_TRUE(throws_error([&] { (void)d.at(9); }, kInvalid, "no key 9 in the dict"));
  d.at("x") = "changed";
  EXPECT_EQ(d.at("x").as_string(), "changed");
  EXPECT_TRUE(d.erase("x"));
  EXPECT_FALSE(d.erase("x"));
  EXPECT_EQ(d.size(), 1u);
  int visited = 0;
  for (const auto& [key, value] : d) {
    EXPECT_EQ(std::get<std::int64_t>(key), 2);
    EXPECT_EQ(value.as_string(), "two");
    ++visited;
  }
  EXPECT_EQ(visited, 1);
  EXPECT_FALSE(d.is_ordered_dict());
  EXPECT_EQ(d.attributes(), nullptr);
}

TEST(DictTest, KeyRepr) {
  EXPECT_EQ(key_repr(DictKey{"name"}), "'name'");
  EXPECT_EQ(key_repr(DictKey{std::int64_t{12}}), "12");
  EXPECT_EQ(key_repr(DictKey{"it's"}), "\"it's\"");
}

// --- repr
// ---------------------------------------------------------------------------------------------

TEST(ValueReprTest, ReprDoubleMatchesPython) {
  const std::pair<double, const char*> cases[] = {
      {0.1, "0.1"},
      {1.0, "1.0"},
      {1e-08, "1e-08"},
      {1e+16, "1e+16"},
      {123456789.0, "123456789.0"},
      {-0.0, "-0.0"},
      {INFINITY, "inf"},
      {-INFINITY, "-inf"},
      {NAN, "nan"},
      {9999999999999998.0, "9999999999999998.0"},
      {0.0001, "0.0001"},
      {0.00012, "0.00012"},
      {1.5e-05, "1.5e-05"},
      {5e-324, "5e-324"},
      {1.7976931348623157e+308, "1.7976931348623157e+308"},
      {2.5, "2.5"},
      {100.0, "100.0"},
      {1e22, "1e+22"},
      {1.2345678901234567e-300, "1.2345678901234568e-300"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1e15, "1000000000000000.0"},
      {123456789012345678.0, "1.2345678901234568e+17"},
      {-2.5e-7, "-2.5e-07"},
      {0.5, "0.5"},
      {0.0, "0.0"},
  };
  for (const auto& [value, text] : cases) EXPECT_EQ(repr_double(value), text) << text;
}

TEST(ValueReprTest, NestedReprMatchesPython) {
  Dict od{{"a", 1}, {"b", List{}}};
  od.set_ordered_dict(true);
  Dict empty_od;
  empty_od.set_ordered_dict(true);
  const Value v = Dict{
      {"epoch", 5},
      {"loss", 0.1},
      {"lr", 1e-08},
      {"big", 1e+16},
      {"x", 123456789.0},
      {"neg", -0.0},
      {"inf", INFINITY},
      {"nan", NAN},
      {"one", 1.0},
      {"names", List{"it's", "say \"hi\"", "both ' and \"", "tab\there\n", "back\\slash",
                     "\x01\x7f", "caf\xc3\xa9"}},
      {"raw", List{Bytes{0, 'a', 'b'}, Bytes{'i', 't', '\'', 's'},
                   Bytes{'s', 'a', 'y', ' ', '"', 'h', 'i', '"'},
                   Bytes{'b', 'o', 't', 'h', ' ', '\'', ' ', 'a', 'n', 'd', ' ', '"'},
                   Bytes{'\\', '\t', '\n', '\r', 0xff, '~'}}},
      {"pair", Tuple{1}},
      {"empty", Tuple{}},
      {"tup", Tuple{1, "a"}},
      {"none", none},
      {"flag", true},
      {3, List{false, big({0, 0, 0, 0, 0, 0, 0, 0, 0x40}),
               big({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff}), -5}},
      {"od", od},
      {"eod", empty_od},
      {"nested", Dict{{"l", List{List{}, Dict{}}}, {-1, Dict{}}}},
  };
  // Python 3.11's repr() of the same object.
  const std::string expected =
      R"({'epoch': 5, 'loss': 0.1, 'lr': 1e-08, 'big': 1e+16, 'x': 123456789.0, 'neg': -0.0, )"
      R"('inf': inf, 'nan': nan, 'one': 1.0, 'names': ["it's", 'say "hi"', 'both \' and "', )"
      R"('tab\there\n', 'back\\slash', '\x01\x7f', 'café'], 'raw': [b'\x00ab', b"it's", )"
      R"(b'say "hi"', b'both \' and "', b'\\\t\n\r\xff~'], 'pair': (1,), 'empty': (), )"
      R"('tup': (1, 'a'), 'none': None, 'flag': True, 3: [False, 1180591620717411303424, )"
      R"(-9223372036854775809, -5], 'od': OrderedDict([('a', 1), ('b', [])]), )"
      R"('eod': OrderedDict(), 'nested': {'l': [[], {}], -1: {}}})";
  EXPECT_EQ(v.repr(), expected);
  std::ostringstream out;
  out << v;
  EXPECT_EQ(out.str(), expected);
}

TEST(ValueReprTest, ABoundedReprIsTheBeginningOfTheWholeOne) {
  List inner(300, Value(std::int64_t{7}));
  List outer(300, Value(inner));
  const Value v = Dict{{"k", outer}};
  const std::string whole = v.repr();
  ASSERT_GT(whole.size(), 100000u);
  const std::string cut = v.repr(100);
  EXPECT_EQ(cut, whole.substr(0, 100) + "...");
  EXPECT_EQ(Value(Dict{{"a", 1}}).repr(1000), "{'a': 1}");  // short enough: all of it
  EXPECT_EQ(Value(Dict{{"a", 1}}).repr(8), "{'a': 1}");
  EXPECT_EQ(Value(Dict{{"a", 1}}).repr(7), "{'a': 1...");

  // A long str, as a value or a key, is read only as far as the limit.
  const std::string long_text(10'000'000, 'x');
  EXPECT_EQ(Value(long_text).repr(5), "'xxxx...");
  EXPECT_EQ(Value(Dict{{long_text, 1}}).repr(5), "{'xxx...");
  EXPECT_EQ(Value(Bytes(100, 'y')).repr(5), "b'yyy...");
  // Never cut inside a character's UTF-8 bytes.
  EXPECT_EQ(Value(std::string("\xc3\xa9\xc3\xa9")).repr(4), "'\xc3\xa9...");
}

TEST(ValueReprTest, TensorsPrintAsTorchDoes) {
  EXPECT_EQ(Value(Dict{{"w", tensor<float>({1, 2})}}).repr(), "{'w': tensor([1., 2.])}");
}

}  // namespace
}  // namespace mnemo
