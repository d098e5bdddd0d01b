// Live: the zip container against real PyTorch 1.13 and Python's zipfile. ZipWriter
// rewrites a torch.save file byte for byte; zipfile reads and CRC-checks what ZipWriter
// writes (also with more than 65535 entries); ZipReader reads a torch file that Python
// re-zipped with deflate and reversed entry order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "formats/zip/zip_reader.h"
#include "formats/zip/zip_writer.h"
#include "mnemo/io/byte_sink.h"
#include "mnemo/io/byte_source.h"
#include "support/bytes.h"
#include "support/python.h"

namespace mnemo::testing {
namespace {

using Bytes = std::vector<std::byte>;

Bytes bytes_of(std::string_view text) {
  Bytes out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

std::string hex_of(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out += kDigits[std::to_integer<unsigned>(b) >> 4];
    out += kDigits[std::to_integer<unsigned>(b) & 15];
  }
  return out;
}

Bytes read_entry(const zip::ZipReader& reader, const zip::Entry& entry) {
  Bytes out(static_cast<std::size_t>(entry.size));
  reader.read(entry, out, /*verify_crc=*/true);
  return out;
}

// torch.save of a small state_dict with several dtypes and a 0-element tensor.
constexpr const char* kSaveStateDict = R"PY(
import sys, torch
torch.manual_seed(0)
sd = {
    'fc1.weight': torch.randn(16, 8),
    'fc1.bias': torch.randn(16),
    'bn.running_mean': torch.zeros(16),
    'bn.num_batches_tracked': torch.tensor(7),
    'empty': torch.zeros(0),
    'half': torch.randn(5).half(),
    'ints': torch.arange(10, dtype=torch.int64),
}
torch.save(sd, sys.argv[1])
)PY";

TEST(ZipContainerTest, TorchSaveIsRewrittenByteForByte) {
  TempDir dir;
  const auto path = dir / "sd.pt";
  python_output(kSaveStateDict, path.string());
  const Bytes original = read_file(path);
  const io::FileSource source(path);
  const zip::ZipReader reader(source);
  ASSERT_GE(reader.entries().size(), 9u);
  EXPECT_EQ(reader.entries().front().name, "sd/data.pkl");
  EXPECT_EQ(reader.entries().back().name, "sd/version");
  bool saw_empty = false;
  io::MemorySink sink;
  zip::ZipWriter writer(sink);
  for (const zip::Entry& entry : reader.entries()) {
    EXPECT_EQ(entry.data_offset % 64, 0u) << entry.name;
    saw_empty |= entry.size == 0;
    const Bytes data = read_entry(reader, entry);
    writer.add(entry.name, io::ConstBytes(data));
  }
  writer.finish();
  EXPECT_TRUE(saw_empty) << "the 0-element tensor has a 0-byte record";
  EXPECT_EQ(sink.bytes().size(), original.size());
  EXPECT_TRUE(sink.bytes() == original) << "ZipWriter's bytes differ from torch.save's";
}

void write_archive_file(const std::filesystem::path& path,
                        const std::vector<std::pair<std::string, Bytes>>& entries) {
  io::AtomicFileWriter file(path);
  zip::ZipWriter writer(file);
  for (const auto& [name, data] : entries) writer.add(name, io::ConstBytes(data));
  writer.finish();
  file.commit();
}

// Prints each entry as "name size hex" after zipfile's own CRC check of every entry.
constexpr const char* kListWithZipfile = R"PY(
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    print("testzip", z.testzip())
    for info in z.infolist():
        data = z.read(info)
        print(info.filename, info.file_size, info.compress_type, data.hex())
)PY";

TEST(ZipContainerTest, PythonZipfileReadsAndVerifiesWhatZipWriterWrites) {
  TempDir dir;
  std::vector<std::pair<std::string, Bytes>> entries;
  entries.push_back({"archive/data.pkl", bytes_of("\x80\x02}q\x01.")});
  entries.push_back({"archive/data/0", Bytes(1000, std::byte{0xAB})});
  entries.push_back({"archive/data/1", Bytes()});
  entries.push_back(
      {"archive/donn\xc3\xa9"
       "es",
       bytes_of("utf-8 name")});
  entries.push_back({"archive/version", bytes_of("3\n")});
  write_archive_file(dir / "ours.zip", entries);
  std::istringstream out(python_output(kListWithZipfile, (dir / "ours.zip").string()));
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "testzip None");
  for (const auto& [name, data] : entries) {
    ASSERT_TRUE(std::getline(out, line));
    EXPECT_EQ(line, name + " " + std::to_string(data.size()) + " 0 " + hex_of(data));
  }
  EXPECT_FALSE(std::getline(out, line)) << line;

  write_archive_file(dir / "empty.zip", {});
  EXPECT_EQ(python_output(kListWithZipfile, (dir / "empty.zip").string()), "testzip None\n");
}

TEST(ZipContainerTest, SeventyThousandEntriesNeedZip64CountsAndReadBack) {
  TempDir dir;
  constexpr int kCount = 70000;
  std::vector<std::pair<std::string, Bytes>> entries;
  for (int i = 0; i < kCount; ++i) {
    entries.push_back(
        {"big/data/" + std::to_string(i), bytes_of(i % 1000 == 0 ? "" : std::to_string(i))});
  }
  const auto path = dir / "big.zip";
  write_archive_file(path, entries);

  const io::FileSource source(path);
  const zip::ZipReader reader(source);
  ASSERT_EQ(reader.entries().size(), static_cast<std::size_t>(kCount));
  for (int i : {0, 1, 65534, 65535, 65536, 69999}) {
    const zip::Entry* entry = reader.find("big/data/" + std::to_string(i));
    ASSERT_NE(entry, nullptr) << i;
    EXPECT_EQ(read_entry(reader, *entry), entries[static_cast<std::size_t>(i)].second);
  }
  // The classic end record cannot hold the count: it says 0xFFFF.
  const Bytes file = read_file(path);
  const std::size_t end = file.size() - 22;
  EXPECT_EQ(std::to_integer<int>(file[end + 10]), 0xFF);
  EXPECT_EQ(std::to_integer<int>(file[end + 11]), 0xFF);

  const std::string report = python_output(R"PY(
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    infos = z.infolist()
    print(len(infos), z.testzip(), z.read('big/data/69999').decode(), infos[65536].filename)
)PY",
                                           path.string());
  EXPECT_EQ(report, "70000 None 69999 big/data/65536\n");
}

TEST(ZipContainerTest, TorchFileRezippedWithDeflateInReverseOrderReadsTheSame) {
  TempDir dir;
  const auto path = dir / "sd.pt";
  const auto rezipped = dir / "deflated.pt";
  python_output(kSaveStateDict, path.string());
  python_output(R"PY(
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, \
     zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as out:
    for info in reversed(src.infolist()):
        out.writestr(info.filename, src.read(info))
)PY",
                path.string() + " " + rezipped.string());

  const io::FileSource original_source(path);
  const zip::ZipReader original(original_source);
  const io::FileSource deflated_source(rezipped);
  const zip::ZipReader deflated(deflated_source);
  ASSERT_EQ(deflated.entries().size(), original.entries().size());
  const std::size_t n = original.entries().size();
  int compressed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const zip::Entry& entry = original.entries()[i];
    EXPECT_EQ(deflated.entries()[n - 1 - i].name, entry.name) << "entries are in reverse order";
    const zip::Entry* other = deflated.find(entry.name);
    ASSERT_NE(other, nullptr) << entry.name;
    EXPECT_EQ(other->method, zip::kMethodDeflated) << entry.name;
    compressed += other->compressed_size < other->size;
    EXPECT_EQ(read_entry(deflated, *other), read_entry(original, entry)) << entry.name;
  }
  EXPECT_GT(compressed, 0) << "some entries really are compressed";

  // Written back in the original order, the entries give torch.save's bytes again.
  io::MemorySink sink;
  zip::ZipWriter writer(sink);
  for (const zip::Entry& entry : original.entries()) {
    const Bytes data = read_entry(deflated, *deflated.find(entry.name));
    writer.add(entry.name, io::ConstBytes(data));
  }
  writer.finish();
  EXPECT_TRUE(sink.bytes() == read_file(path));
}

}  // namespace
}  // namespace mnemo::testing
