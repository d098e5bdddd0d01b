// Runs Python scripts under the interpreter that has PyTorch, for the live tests.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace mnemo::testing {

inline std::filesystem::path test_dir() { return MNEMO_TEST_DIR; }

// A fresh, empty directory under the system temp dir, removed by its destructor.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mnemo-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct PythonResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs `script` (Python source) with `args`; returns its exit code and output.
inline PythonResult run_python(const std::string& script, const std::string& args = "") {
  TempDir dir;
  const auto path = dir / "script.py";
  std::ofstream(path) << script;
  const std::string command =
      std::string(MNEMO_TEST_PYTHON) + " " + path.string() + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + command);
  std::string output;
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Runs `script` and returns its output; throws with the output when it fails.
inline std::string python_output(const std::string& script, const std::string& args = "") {
  PythonResult result = run_python(script, args);
  if (result.exit_code != 0) {
    throw std::runtime_error("python failed (exit " + std::to_string(result.exit_code) + "):\n" +
                             result.output);
  }
  return result.output;
}

}  // namespace mnemo::testing
