#include "mnemo/io/byte_sink.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "mnemo/core/error.h"
#include "support/bytes.h"
#include "support/errors.h"
#include "support/python.h"

namespace mnemo::io {
namespace {

using mnemo::testing::read_text;
using mnemo::testing::thrown_error;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::set<std::string> listing(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

// Runs `body` in a forked child and returns what it reported. The child's exit status
// says whether it ended normally: a child killed by a signal gives "killed by signal N".
std::string run_in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    try {
      report = body();
    } catch (const std::exception& e) {
      report = std::string("unexpected exception: ") + e.what();
    }
    const char* p = report.data();
    std::size_t left = report.size();
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) break;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0)
    report.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return report;
}

TEST(MemorySinkTest, CollectsPiecesInOrder) {
  MemorySink sink;
  const auto a = bytes_of("abc"), b = bytes_of(""), c = bytes_of("defg");
  const ConstBytes pieces[] = {a, b, c};
  sink.write(pieces);
  sink.write(ConstBytes(a));
  EXPECT_EQ(sink.position(), 10u);
  EXPECT_EQ(sink.bytes(), bytes_of("abcdefgabc"));
  EXPECT_EQ(sink.release(), bytes_of("abcdefgabc"));
}

TEST(MemorySinkTest, ReserveGrowsTheBufferOnce) {
  MemorySink sink;
  sink.write(ConstBytes(bytes_of("ab")));
  sink.reserve(1000);
  const std::byte* data = sink.bytes().data();
  const std::vector<std::byte> piece(1000, std::byte{7});
  sink.write(ConstBytes(piece));
  EXPECT_EQ(sink.bytes().data(), data) << "the writes fit the room reserved";
  EXPECT_EQ(sink.position(), 1002u);
  EXPECT_EQ(sink.bytes()[1], std::byte{'b'});
  EXPECT_EQ(sink.bytes()[1001], std::byte{7});
  sink.reserve(std::numeric_limits<std::uint64_t>::max());  // more than can be: ignored
  EXPECT_EQ(sink.position(), 1002u);
}

// Bytes the filesystem has allocated to a file (st_blocks counts 512-byte units).
std::uint64_t allocated_bytes(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// Whether the filesystem of `dir` allocates room ahead of the writes (ext4, xfs, tmpfs
// do; some network filesystems do not).
bool can_allocate_ahead(const std::filesystem::path& dir) {
  const std::string probe = (dir / "probe").string();
  const int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY, 0600);
  if (fd < 0) return false;
  const bool ok = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
  ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

TEST(AtomicFileWriterTest, ReserveAllocatesTheRoomAndLeavesTheSizeToTheWrites) {
  TempDir dir;
  const auto path = dir / "big.bin";
  constexpr std::size_t kRoom = std::size_t{8} << 20;
  const bool allocates = can_allocate_ahead(dir.path());
  AtomicFileWriter writer(path, {.fsync = false});
  const auto head = bytes_of("head");
  writer.write(ConstBytes(head));
  writer.reserve(kRoom);
  EXPECT_EQ(std::filesystem::file_size(writer.temp_path()), head.size())
      << "the size grows with the writes only";
  // Elsewhere the hint is ignored, and the rest of the test still holds.
  if (allocates) {
    EXPECT_GE(allocated_bytes(writer.temp_path()), kRoom);
  }
  const std::vector<std::byte> body(kRoom, std::byte{0x5a});
  writer.write(ConstBytes(body));
  writer.commit();
  EXPECT_EQ(std::filesystem::file_size(path), head.size() + kRoom);
  const std::string text = read_text(path);
  EXPECT_EQ(text.substr(0, 4), "head");
  EXPECT_EQ(text.find_first_not_of('\x5a', 4), std::string::npos);
  writer.reserve(kRoom);  // after commit: nothing to reserve in, and no error
  EXPECT_EQ(std::filesystem::file_size(path), head.size() + kRoom);
}

TEST(AtomicFileWriterTest, WritesPiecesAndCommits) {
  TempDir dir;
  const auto path = dir / "model.pt";
  const mode_t old_mask = ::umask(022);
  {
    AtomicFileWriter writer(path);
    EXPECT_EQ(writer.path(), path);
    const auto a = bytes_of("hello "), b = bytes_of(""), c = bytes_of("world");
    const ConstBytes pieces[] = {a, b, c};
    writer.write(pieces);
    writer.write(ConstBytes(a));
    EXPECT_EQ(writer.position(), 17u);
    writer.commit();
  }
  ::umask(old_mask);
  EXPECT_EQ(read_text(path), "hello worldhello ");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u) << "a new file gets 0666 less the umask";
  EXPECT_EQ(listing(dir.path()), std::set<std::string>{"model.pt"});
}

TEST(AtomicFileWriterTest, OldContentStaysUntilCommit) {
  TempDir dir;
  const auto path = dir / "ckpt.pt";
  write_file(path, "old content");
  AtomicFileWriter writer(path);
  // The temporary file sits beside the target, hidden, named after it.
  EXPECT_EQ(writer.temp_path().parent_path(), dir.path());
  EXPECT_THAT(writer.temp_path().filename().string(), StartsWith(".ckpt.pt.tmp-"));
  EXPECT_EQ(writer.temp_path().filename().string().size(),
            std::string(".ckpt.pt.tmp-XXXXXX").size());
  EXPECT_TRUE(std::filesystem::exists(writer.temp_path()));
  writer.write(ConstBytes(bytes_of("new content, longer")));
  EXPECT_EQ(read_text(path), "old content");
  const auto temp = writer.temp_path();
  writer.commit();
  EXPECT_EQ(read_text(path), "new content, longer");
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_TRUE(writer.temp_path().empty());
  EXPECT_EQ(listing(dir.path()), std::set<std::string>{"ckpt.pt"});
}

TEST(AtomicFileWriterTest, DestroyedWithoutCommitLeavesTheDirectoryAsItWas) {
  TempDir dir;
  write_file(dir / "kept.pt", "old");
  const auto before = listing(dir.path());
  std::filesystem::path temp;
  {
    AtomicFileWriter writer(dir / "kept.pt");
    writer.write(ConstBytes(bytes_of("half-written")));
    temp = writer.temp_path();
    EXPECT_TRUE(std::filesystem::exists(temp));
  }
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_EQ(listing(dir.path()), before);
  EXPECT_EQ(read_text(dir / "kept.pt"), "old");
  {
    AtomicFileWriter writer(dir / "never.pt");
    writer.write(ConstBytes(bytes_of("x")));
  }
  EXPECT_EQ(listing(dir.path()), before);
}

TEST(AtomicFileWriterTest, ManyPiecesBeyondIovMax) {
  TempDir dir;
  // More pieces than one writev takes, of varied sizes (some empty, one large), so that
  // batching and the bookkeeping across batches are exercised.
  std::vector<std::vector<std::byte>> storage;
  std::string expected;
  for (int i = 0; i < 3 * IOV_MAX + 17; ++i) {
    std::string text(static_cast<std::size_t>(i % 7), static_cast<char>('a' + i % 26));
    if (i == 1500) text.assign(3 << 20, 'L');
    expected += text;
    storage.push_back(bytes_of(text));
  }
  std::vector<ConstBytes> pieces(storage.begin(), storage.end());
  AtomicFileWriter writer(dir / "many.bin", {.fsync = false});
  writer.write(pieces);
  EXPECT_EQ(writer.position(), expected.size());
  writer.commit();
  EXPECT_EQ(read_text(dir / "many.bin"), expected);
}

TEST(AtomicFileWriterTest, EmptyFile) {
  TempDir dir;
  AtomicFileWriter writer(dir / "empty.bin");
  writer.commit();
  EXPECT_TRUE(std::filesystem::exists(dir / "empty.bin"));
  EXPECT_EQ(std::filesystem::file_size(dir / "empty.bin"), 0u);
}

TEST(AtomicFileWriterTest, MisuseAfterCommitThrows) {
  TempDir dir;
  AtomicFileWriter writer(dir / "a.bin");
  writer.write(ConstBytes(bytes_of("a")));
  writer.commit();
  EXPECT_EQ(thrown_error([&] { writer.commit(); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_error([&] { writer.write(ConstBytes(bytes_of("b"))); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_text(dir / "a.bin"), "a");
}

TEST(AtomicFileWriterTest, MissingDirectoryIsIoNamingIt) {
  TempDir dir;
  const Error e = thrown_error([&] { AtomicFileWriter writer(dir / "no" / "such" / "x.pt"); });
  EXPECT_EQ(e.code(), ErrorCode::kIo);
  EXPECT_THAT(e.what(), HasSubstr((dir / "no" / "such").string()));
  EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  EXPECT_THAT(e.what(), HasSubstr("x.pt"));
}

TEST(AtomicFileWriterTest, PathThatNamesADirectoryIsRefused) {
  TempDir dir;
  EXPECT_EQ(thrown_error([&] { AtomicFileWriter writer(dir.path() / ""); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(thrown_error([&] { AtomicFileWriter writer(dir / ".."); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST(AtomicFileWriterTest, LongNameStillGetsATemporaryFile) {
  TempDir dir;
  const std::string name(250, 'n');
  AtomicFileWriter writer(dir / name);
  EXPECT_LE(writer.temp_path().filename().string().size(), 255u);
  writer.write(ConstBytes(bytes_of("long")));
  writer.commit();
  EXPECT_EQ(read_text(dir / name), "long");
  EXPECT_EQ(listing(dir.path()), std::set<std::string>{name});
}

std::string read_only_directory_report(const std::filesystem::path& dir) {
  try {
    AtomicFileWriter writer(dir / "x.pt");
    return "no error";
  } catch (const Error& e) {
    return std::string(error_code_name(e.code())) + ": " + e.what();
  }
}

TEST(AtomicFileWriterTest, ReadOnlyDirectoryIsRefusedWithAClearMessage) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "running as root, which ignores directory permissions; "
                    "ReadOnlyDirectoryRefusedForAnUnprivilegedChild covers this case";
  }
  TempDir dir;
  const auto ro = dir / "ro";
  std::filesystem::create_directory(ro);
  ASSERT_EQ(::chmod(ro.c_str(), 0555), 0);
  const std::string report = read_only_directory_report(ro);
  ::chmod(ro.c_str(), 0755);
  EXPECT_THAT(report, StartsWith("kIo: "));
  EXPECT_THAT(report, HasSubstr("directory is not writable"));
  EXPECT_THAT(report, HasSubstr(ro.string()));
  EXPECT_TRUE(listing(ro).empty());
}

TEST(AtomicFileWriterTest, ReadOnlyDirectoryRefusedForAnUnprivilegedChild) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged user";
  TempDir dir;
  const auto ro = dir / "ro";
  std::filesystem::create_directory(ro);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(ro.c_str(), 0555), 0);
  const std::string report = run_in_child([&]() -> std::string {
    constexpr uid_t kNobody = 65534;
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) return "skip: cannot drop privileges";
    return read_only_directory_report(ro);
  });
  if (report.rfind("skip:", 0) == 0) GTEST_SKIP() << report;
  EXPECT_THAT(report, StartsWith("kIo: "));
  EXPECT_THAT(report, HasSubstr("directory is not writable"));
  EXPECT_THAT(report, HasSubstr(ro.string()));
  EXPECT_TRUE(listing(ro).empty());
}

// A child process with a 4 KiB file size limit writes 64 KiB. Without SIGXFSZ blocked it
// would be killed; with it, the write fails with a message, the writer refuses further
// writes, and nothing is left behind.
std::string write_past_file_size_limit(const std::filesystem::path& path) {
  ::signal(SIGXFSZ, SIG_DFL);
  const rlimit limit{4096, 4096};
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return "setrlimit failed";
  std::string report;
  std::vector<std::byte> data(64 * 1024, std::byte{0x5A});
  {
    AtomicFileWriter writer(path, {.fsync = false});
    try {
      writer.write(ConstBytes(data));
      writer.commit();
      return "no error";
    } catch (const Error& e) {
      report = std::string(error_code_name(e.code())) + ": " + e.what();
    }
    try {
      writer.write(ConstBytes(data));
      report += "\nsecond write: no error";
    } catch (const Error& e) {
      report += "\nsecond write: " + std::string(error_code_name(e.code()));
    }
  }
  sigset_t pending;
  sigpending(&pending);
  report += sigismember(&pending, SIGXFSZ) ? "\nSIGXFSZ pending" : "\nno signal pending";
  return report;
}

TEST(AtomicFileWriterTest, FileSizeLimitIsAnErrorNotADeadProcess) {
  TempDir dir;
  const auto existing = dir / "existing.pt";
  write_file(existing, "old content");
  const std::string report = run_in_child([&] { return write_past_file_size_limit(existing); });
  EXPECT_THAT(report, StartsWith("kIo: "));
  EXPECT_THAT(report, HasSubstr("file size limit exceeded"));
  EXPECT_THAT(report, HasSubstr(existing.string()));
  EXPECT_THAT(report, HasSubstr("4096 bytes written so far"));
  EXPECT_THAT(report, HasSubstr("second write: kInvalidArgument"));
  EXPECT_THAT(report, HasSubstr("no signal pending"));
  EXPECT_EQ(read_text(existing), "old content");
  EXPECT_EQ(listing(dir.path()), std::set<std::string>{"existing.pt"});

  const auto fresh = dir / "fresh.pt";
  const std::string second = run_in_child([&] { return write_past_file_size_limit(fresh); });
  EXPECT_THAT(second, HasSubstr("file size limit exceeded"));
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_EQ(listing(dir.path()), std::set<std::string>{"existing.pt"});
}

}  // namespace
}  // namespace mnemo::io
