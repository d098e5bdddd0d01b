#include "mnemo/core/device.h"

#include <gtest/gtest.h>

#include <sstream>

#include "mnemo/core/error.h"

namespace mnemo {
namespace {

TEST(DeviceTest, Cpu) {
  constexpr Device cpu = Device::cpu();
  static_assert(cpu.is_cpu() && !cpu.is_cuda() && !cpu.has_index());
  EXPECT_EQ(cpu.type(), DeviceType::kCpu);
  EXPECT_EQ(cpu.str(), "cpu");
  EXPECT_EQ(Device::parse("cpu"), cpu);
}

TEST(DeviceTest, Cuda) {
  const Device current = Device::cuda();
  EXPECT_TRUE(current.is_cuda());
  EXPECT_FALSE(current.has_index());
  EXPECT_EQ(current.index(), -1);
  EXPECT_EQ(current.str(), "cuda");
  const Device second = Device::cuda(1);
  EXPECT_TRUE(second.has_index());
  EXPECT_EQ(second.index(), 1);
  EXPECT_EQ(second.str(), "cuda:1");
  EXPECT_NE(second, current);
  EXPECT_NE(second, Device::cuda(0));
  EXPECT_NE(Device::cuda(0), Device::cpu());
}

TEST(DeviceTest, ParsesLocationTags) {
  EXPECT_EQ(Device::parse("cuda"), Device::cuda());
  EXPECT_EQ(Device::parse("cuda:0"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:12"), Device::cuda(12));
  for (const char* tag : {"cpu", "cuda", "cuda:0", "cuda:7", "cuda:10"}) {
    EXPECT_EQ(Device::parse(tag).str(), tag);
  }
}

TEST(DeviceTest, RefusesOtherTags) {
  for (const char* tag : {"", "CPU", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1x", "cuda:01",
                          "cuda: 1", "cuda:32768", "cuda:99999999999", "mps", " cpu"}) {
    try {
      Device::parse(tag);
      ADD_FAILURE() << "accepted '" << tag << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::string("'") + tag + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(DeviceTest, NegativeCudaIndexIsRefused) { EXPECT_THROW(Device::cuda(-2), Error); }

TEST(DeviceTest, IndicesUpToTheMaximumAreKept) {
  EXPECT_EQ(Device::cuda(Device::kMaxIndex).index(), Device::kMaxIndex);
  EXPECT_EQ(Device::parse("cuda:32767").index(), 32767);
  try {
    Device::cuda(Device::kMaxIndex + 1);
    ADD_FAILURE() << "accepted index 32768";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("at most 32767, got 32768"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(sizeof(Device), 4u);  // every storage holds one
}

TEST(DeviceTest, Streams) {
  std::ostringstream out;
  out << Device::cuda(3) << " " << Device::cpu();
  EXPECT_EQ(out.str(), "cuda:3 cpu");
}

}  // namespace
}  // namespace mnemo
