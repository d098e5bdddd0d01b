// A durable AtomicFileWriter writes large pieces in slices (so that the disk starts
// early): the file still holds exactly the pieces, in order.
#include <gtest/gtest.h>

#include <vector>

#include "mnemo/io/byte_sink.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::io {
namespace {

using testing::pattern;
using testing::TempDir;

TEST(AtomicFileWriterDurableTest, LargeAndSmallPiecesArriveWhole) {
  TempDir dir;
  // One piece of several 8 MiB slices and a ragged end, then many small ones, then one
  // just under a slice.
  std::vector<std::vector<std::byte>> parts;
  parts.push_back(pattern((std::size_t{40} << 20) + 3, 1));
  for (unsigned i = 0; i < 2000; ++i) parts.push_back(pattern(1000 + i, i + 2));
  parts.push_back(pattern((std::size_t{8} << 20) - 5, 9999));
  std::vector<ConstBytes> pieces(parts.begin(), parts.end());
  std::vector<std::byte> expected;
  for (const auto& p : parts) expected.insert(expected.end(), p.begin(), p.end());

  for (const bool durable : {true, false}) {
    const auto path = dir / (durable ? "durable.bin" : "cached.bin");
    AtomicFileWriter writer(path, {.fsync = durable});
    writer.write(pieces);
    EXPECT_EQ(writer.position(), expected.size());
    writer.commit();
    const std::vector<std::byte> got = testing::read_file(path);
    ASSERT_EQ(got.size(), expected.size()) << durable;
    EXPECT_TRUE(got == expected) << durable;
  }
}

}  // namespace
}  // namespace mnemo::io
