// A small fixed pool of worker threads for the CPU models' channel- and row-parallel loops.
// Owned by each model (no global pool); GEMMs use OpenBLAS's own threads instead.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace evo2::ops {

class ThreadPool {
 public:
  // `threads` <= 0 means std::thread::hardware_concurrency(). The calling thread takes part,
  // so a pool of n threads starts n - 1 workers.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Splits [0, n) into at most size() contiguous ranges of at least `min_chunk` items and runs
  // fn(begin, end) on them in parallel; returns when all are done. Not reentrant.
  void ParallelFor(int64_t n, int64_t min_chunk,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop(int index);

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // per participant
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace evo2::ops
