#include "progress.h"

#include "absl/strings/str_format.h"

namespace evo2::cli {
namespace {

std::string Count(int64_t n) {
  if (n >= 10'000'000) return absl::StrFormat("%.1fM", n / 1e6);
  if (n >= 10'000) return absl::StrFormat("%.1fk", n / 1e3);
  return absl::StrFormat("%d", n);
}

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace

ProgressReporter::ProgressReporter(std::ostream& out, int64_t total_records, int64_t total_tokens,
                                   bool enabled, std::string command, std::string items)
    : out_(out),
      total_records_(total_records),
      total_tokens_(total_tokens),
      enabled_(enabled),
      command_(std::move(command)),
      items_(std::move(items)),
      start_(Clock::now()),
      last_print_(start_) {}

void ProgressReporter::Update(int64_t records_done, int64_t tokens_done) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (now - last_print_ < std::chrono::seconds(1)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? tokens_done / elapsed : 0;
  const double item_rate = elapsed > 0 ? records_done / elapsed : 0;
  std::string eta = "?";
  if (total_tokens_ > 0 && rate > 0) {
    eta = Duration((total_tokens_ - tokens_done) / rate);
  } else if (total_tokens_ <= 0 && item_rate > 0) {
    eta = Duration((total_records_ - records_done) / item_rate);
  }
  const std::string tokens =
      total_tokens_ > 0 ? absl::StrFormat("%s/%s", Count(tokens_done), Count(total_tokens_))
                        : Count(tokens_done);
  out_ << absl::StrFormat("%s: %d/%d %s, %s tokens, %.1f %s/s, %.0f tokens/s, ETA %s\n", command_,
                          records_done, total_records_, items_, tokens, item_rate, items_, rate,
                          eta)
       << std::flush;
}

void ProgressReporter::Done(int64_t records_done, int64_t tokens_done) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  out_ << absl::StrFormat("%s: done: %d %s, %s tokens in %.1f s (%.1f %s/s, %.0f tokens/s)\n",
                          command_, records_done, items_, Count(tokens_done), elapsed,
                          elapsed > 0 ? records_done / elapsed : 0.0, items_,
                          elapsed > 0 ? tokens_done / elapsed : 0.0)
       << std::flush;
}

}  // namespace evo2::cli
