#include "progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace mnemo::tools {
namespace {

constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

std::string format_duration(double seconds) {
  const auto total = static_cast<long long>(std::max(0.0, std::round(seconds)));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lld:%02lld", total / 60, total % 60);
  }
  return text;
}

ProgressBar::ProgressBar(std::string label, std::uint64_t total, std::FILE* out, bool quiet)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      enabled_(!quiet && ::isatty(::fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_) std::fputc('\n', out_);  // leave the cursor on a clean line
}

void ProgressBar::draw(std::uint64_t done, std::string_view status) {
  const double fraction = total_ == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / total_);
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kBarWidth - filled), '.');
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string eta = "--:--";
  if (done > 0 && done < total_) eta = format_duration(elapsed / done * (total_ - done));
  if (done >= total_) eta = format_duration(elapsed);
  std::fprintf(out_, "\r\033[K%s [%s] %3d%% %llu/%llu %.*s %s %s", label_.c_str(), bar.c_str(),
               static_cast<int>(fraction * 100), static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total_), static_cast<int>(status.size()),
               status.data(), done >= total_ ? "in" : "ETA", eta.c_str());
  std::fflush(out_);
}

void ProgressBar::update(std::uint64_t done, std::string_view status) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw(done, status);
}

void ProgressBar::finish(std::string_view status) {
  if (!enabled_ || finished_) return;
  draw(total_, status);
  std::fputc('\n', out_);
  finished_ = true;
}

}  // namespace mnemo::tools
