#include "cancel_on_signal.h"

#include <csignal>

namespace evo2::cli {
namespace {

std::atomic<bool> g_cancelled{false};

// First signal: cancel cleanly at the next record boundary. Second: die the default way.
extern "C" void OnSignal(int sig) {
  if (g_cancelled.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

}  // namespace

CancelOnSignal::CancelOnSignal() {
  g_cancelled.store(false);
  old_int_ = std::signal(SIGINT, OnSignal);
  old_term_ = std::signal(SIGTERM, OnSignal);
}

CancelOnSignal::~CancelOnSignal() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

const std::atomic<bool>& CancelOnSignal::flag() const { return g_cancelled; }

}  // namespace evo2::cli
