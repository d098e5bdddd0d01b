#include "step_log.h"

#include <charconv>
#include <cmath>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/core/value.h"

namespace fashion_mnist {
namespace {

constexpr std::string_view kStepPrefix = "{\"step\": ";

// The step of a log line, or -1 when the line is not one of ours.
std::int64_t step_of(const std::string& line) {
  if (!line.starts_with(kStepPrefix)) return -1;
  std::int64_t step = -1;
  const char* begin = line.data() + kStepPrefix.size();
  std::from_chars(begin, line.data() + line.size(), step);
  return step;
}

// A JSON number, or a string for what JSON cannot hold (a diverged loss).
std::string json_number(double value) {
  const std::string text = mnemo::repr_double(value);
  return std::isfinite(value) ? text : "\"" + text + "\"";
}

}  // namespace

StepLog::StepLog(const std::string& path, std::int64_t keep_through_step) {
  if (path.empty()) return;
  std::vector<std::string> kept;
  if (std::ifstream previous(path); previous) {
    for (std::string line; std::getline(previous, line);) {
      const std::int64_t step = step_of(line);
      if (step >= 1 && step <= keep_through_step) kept.push_back(line);
    }
  }
  out_.open(path, std::ios::trunc);
  if (!out_) mnemo::fail(mnemo::ErrorCode::kIo, "cannot write the step log '", path, "'");
  for (const std::string& line : kept) out_ << line << '\n';
  out_.flush();
}

void StepLog::write(std::int64_t step, std::int64_t epoch, double loss, double lr) {
  if (!out_.is_open()) return;
  out_ << kStepPrefix << step << ", \"epoch\": " << epoch << ", \"loss\": "
       << json_number(loss) << ", \"lr\": " << json_number(lr) << "}\n";
  out_.flush();  // a killed run keeps every step it logged
}

}  // namespace fashion_mnist
