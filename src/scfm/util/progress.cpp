#include "scfm/util/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace scfm::util {
namespace {

std::atomic<bool> g_enabled{true};

std::string grouped(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string clock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

void set_progress_enabled(bool enabled) { g_enabled = enabled; }
bool progress_enabled() { return g_enabled; }

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      shown_(enabled && g_enabled && isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()), last_draw_(start_ - std::chrono::seconds(1)) {
  if (shown_) draw(true);
}

Progress::~Progress() { finish(); }

void Progress::advance(int64_t n) {
  done_ += n;
  if (shown_) draw(false);
}

void Progress::set(int64_t done) {
  done_ = done;
  if (shown_) draw(false);
}

void Progress::note(const std::string& text) {
  if (!shown_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    note_ = text;
  }
  draw(false);
}

void Progress::finish() {
  if (!shown_ || finished_) return;
  draw(true);
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  std::fputs("\n", stderr);
  std::fflush(stderr);
}

std::string Progress::format(const std::string& label, int64_t done, int64_t total, const std::string& unit,
                             double seconds, const std::string& note, int width) {
  std::string line = label;
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  char buf[64];
  if (total > 0) {
    const double f = std::min(1.0, std::max(0.0, static_cast<double>(done) / static_cast<double>(total)));
    const int fill = static_cast<int>(f * width);
    line += " [" + std::string(static_cast<size_t>(fill), '#') + std::string(static_cast<size_t>(width - fill), '.') + "]";
    std::snprintf(buf, sizeof buf, " %3d%%", static_cast<int>(f * 100));
    line += buf;
    line += "  " + grouped(done) + "/" + grouped(total) + " " + unit;
  } else {
    line += "  " + grouped(done) + " " + unit;
  }
  if (seconds > 0) {
    std::snprintf(buf, sizeof buf, rate >= 100 ? "%.0f" : "%.1f", rate);
    line += std::string("  ") + buf + " " + unit + "/s";
  }
  if (total > 0) {
    if (done >= total) line += "  " + clock(seconds);
    else if (done > 0 && seconds > 0) line += "  ETA " + clock(static_cast<double>(total - done) / rate);
  }
  if (!note.empty()) line += "  " + note;
  return line;
}

void Progress::draw(bool force) {
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  if (force) lock.lock();
  else if (!lock.try_lock()) return;  // another thread is drawing
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const std::string line = format(label_, done_.load(), total_, unit_, secs, note_);
  // \r, the line, then clear to the end of the terminal line (ANSI EL)
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

}  // namespace scfm::util
