// Progress bars for long work: "label [#####.....]  45%  2,250/5,000 cells  560 cells/s  ETA 0:05"
// redrawn in place on stderr at most ten times a second, and only when stderr is a terminal and
// progress is enabled (--quiet turns it off for the process). Not a terminal: nothing is drawn;
// the verbs' own log lines and summaries still go out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace scfm::util {

// The process-wide switch (`scfm --quiet` sets it off before any verb runs).
void set_progress_enabled(bool enabled);
bool progress_enabled();

class Progress {
 public:
  // total <= 0: a counter without a bar or ETA. `unit` names what is counted ("cells", "steps").
  Progress(std::string label, int64_t total, std::string unit = "cells", bool enabled = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds n to the count; safe from several threads at once.
  void advance(int64_t n = 1);
  void set(int64_t done);
  // Text after the bar (a running loss, say); safe from several threads.
  void note(const std::string& text);
  // Draws the final state and ends the line (also done by the destructor).
  void finish();
  bool shown() const { return shown_; }

  // The line as drawn (for tests): the state after `done` of `total` in `seconds`.
  static std::string format(const std::string& label, int64_t done, int64_t total, const std::string& unit,
                            double seconds, const std::string& note, int width = 30);

 private:
  void draw(bool force);

  std::string label_, unit_;
  int64_t total_;
  bool shown_;
  bool finished_ = false;
  std::atomic<int64_t> done_{0};
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
  std::string note_;
};

}  // namespace scfm::util
