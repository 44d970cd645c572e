#include "device_communicator_checks.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"

namespace evo2::cuda::testing {
namespace {

using kernels::DeviceBuffer;

#define CUDA_OK(expr)                                                                  \
  do {                                                                                 \
    const cudaError_t err_ = (expr);                                                   \
    if (err_ != cudaSuccess)                                                           \
      return absl::InternalError(absl::StrCat(#expr, ": ", cudaGetErrorString(err_))); \
  } while (0)

// The ranks' streams are non-blocking, so they do not wait for work on the legacy default
// stream (cudaMemset, cudaMemcpy to or within the device may still be running when those
// return): setup done there is waited for before a rank's stream may touch its buffers.
absl::Status FinishSetup() {
  CUDA_OK(cudaStreamSynchronize(cudaStreamLegacy));
  return absl::OkStatus();
}

absl::StatusOr<DeviceBuffer> Poisoned(int64_t bytes) {
  auto buf = DeviceBuffer::Allocate(static_cast<size_t>(std::max<int64_t>(bytes, 1)));
  if (!buf.ok()) return buf.status();
  if (cudaMemset(buf->get(), 0xFF, buf->bytes()) != cudaSuccess) {
    return absl::InternalError("cudaMemset");
  }
  RETURN_IF_ERROR(FinishSetup());
  return buf;
}

void SleepCallback(void* ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(*static_cast<const int*>(ms)));
}

// Byte i of the message `tag` from `src` (a hash: any misplaced byte differs).
uint8_t MessageByte(int src, int64_t tag, int64_t i) {
  uint64_t z = static_cast<uint64_t>(src) * 0x9e3779b97f4a7c15ull ^
               static_cast<uint64_t>(tag) * 0xbf58476d1ce4e5b9ull ^ static_cast<uint64_t>(i);
  z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
  return static_cast<uint8_t>(z >> 56);
}

std::vector<uint8_t> RandomBytes(int64_t n, std::mt19937& rng) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

}  // namespace

bool HaveGpus(int n) {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count >= n;
}

absl::Status StallStream(cudaStream_t stream, int ms) {
  static const int kStalls[] = {0, 5, 10, 15, 20, 25, 30, 40, 50};
  const int* arg = std::find(std::begin(kStalls), std::end(kStalls), ms);
  if (arg == std::end(kStalls)) return absl::InvalidArgumentError("unsupported stall");
  CUDA_OK(cudaLaunchHostFunc(stream, SleepCallback, const_cast<int*>(arg)));
  return absl::OkStatus();
}

std::vector<absl::Status> RunRanks(DeviceCommunicators& comms, const RankFn& fn) {
  std::vector<absl::Status> status(comms.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < comms.size(); ++r) {
    threads.emplace_back([&, r] {
      DeviceCommunicator& comm = *comms[r];
      cudaStream_t stream = nullptr;
      if (cudaSetDevice(comm.device()) != cudaSuccess ||
          cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
        status[r] = absl::InternalError("cannot create the rank's stream");
        return;
      }
      status[r] = fn(static_cast<int>(r), comm, stream);
      // Drain the stream, but never wait forever: a collective left spinning (a bug in the
      // failure handling) fails the test with a message instead of hanging it.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      cudaError_t sync = cudaStreamQuery(stream);
      while (sync == cudaErrorNotReady && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        sync = cudaStreamQuery(stream);
      }
      if (sync == cudaErrorNotReady) {
        status[r] = absl::DeadlineExceededError(
            absl::StrCat("rank ", r, ": its stream still runs 60 s after the rank returned (",
                         status[r].ToString(), ")"));
        return;  // the stream is left alone: destroying it would not stop it either
      }
      if (status[r].ok() && sync != cudaSuccess) {
        status[r] = absl::InternalError(absl::StrCat("stream: ", cudaGetErrorString(sync)));
      }
      cudaStreamDestroy(stream);
    });
  }
  for (auto& t : threads) t.join();
  return status;
}

void CheckAllReduceSum(DeviceCommunicators& comms, int64_t count, int rounds,
                       double rel_l2_tolerance) {
  const int n = static_cast<int>(comms.size());
  std::mt19937 rng(static_cast<uint32_t>(count * 31 + n));
  std::normal_distribution<float> dist(0.f, 1.f);
  // inputs[round][rank] [count]; results[round][rank] [count]
  std::vector<std::vector<std::vector<float>>> inputs(static_cast<size_t>(rounds)),
      results(static_cast<size_t>(rounds));
  for (auto& round : inputs) {
    for (int r = 0; r < n; ++r) {
      round.emplace_back(static_cast<size_t>(count));
      for (float& x : round.back()) x = dist(rng);
    }
  }
  for (auto& round : results) round.assign(static_cast<size_t>(n), {});
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    const int64_t bytes = count * static_cast<int64_t>(sizeof(float));
    std::vector<DeviceBuffer> staged, outs;
    for (int k = 0; k < rounds; ++k) {
      auto s = Poisoned(bytes);
      auto o = Poisoned(bytes);
      if (!s.ok() || !o.ok()) return absl::InternalError("allocation");
      CUDA_OK(cudaMemcpy(s->get(), inputs[k][r].data(), static_cast<size_t>(bytes),
                         cudaMemcpyHostToDevice));
      staged.push_back(std::move(*s));
      outs.push_back(std::move(*o));
    }
    RETURN_IF_ERROR(FinishSetup());
    auto data = Poisoned(bytes);  // [count] fp32, reused by every round
    if (!data.ok()) return data.status();
    for (int k = 0; k < rounds; ++k) {
      if (r == k % n) RETURN_IF_ERROR(StallStream(stream, 20));  // this rank's input comes late
      CUDA_OK(cudaMemcpyAsync(data->get(), staged[k].get(), static_cast<size_t>(bytes),
                              cudaMemcpyDeviceToDevice, stream));
      RETURN_IF_ERROR(comm.AllReduceSum(data->as<float>(), count, stream));
      CUDA_OK(cudaMemcpyAsync(outs[k].get(), data->get(), static_cast<size_t>(bytes),
                              cudaMemcpyDeviceToDevice, stream));
    }
    CUDA_OK(cudaStreamSynchronize(stream));
    RETURN_IF_ERROR(comm.Check());
    for (int k = 0; k < rounds; ++k) {
      results[k][r].resize(static_cast<size_t>(count));
      CUDA_OK(cudaMemcpy(results[k][r].data(), outs[k].get(), static_cast<size_t>(bytes),
                         cudaMemcpyDeviceToHost));
    }
    return absl::OkStatus();
  });
  for (int r = 0; r < n; ++r) ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
  for (int k = 0; k < rounds; ++k) {
    std::vector<float> want = inputs[k][0];  // rank order, fp32: what the host would compute
    for (int r = 1; r < n; ++r) {
      for (int64_t i = 0; i < count; ++i) want[i] += inputs[k][r][i];
    }
    double max_abs = 0, num = 0, den = 0;
    bool finite = true;
    for (int64_t i = 0; i < count; ++i) {
      const double got = results[k][0][i];
      finite = finite && std::isfinite(got);
      max_abs = std::max(max_abs, std::abs(got - want[i]));
      num += (got - want[i]) * (got - want[i]);
      den += double(want[i]) * want[i];
    }
    const double rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    int identical = 1;
    for (int r = 1; r < n; ++r) {
      identical += std::memcmp(results[k][r].data(), results[k][0].data(),
                               static_cast<size_t>(count) * sizeof(float)) == 0;
    }
    std::printf(
        "AllReduceSum ranks=%d count=%lld round=%d max_abs=%.3g rel_l2=%.3g "
        "ranks_identical=%d/%d\n",
        n, static_cast<long long>(count), k, max_abs, rel_l2, identical, n);
    EXPECT_TRUE(finite) << "round " << k;  // NaN never passes (poisoned elements are NaN)
    EXPECT_EQ(identical, n) << "round " << k << ": ranks hold different bits";
    if (rel_l2_tolerance == 0) {
      EXPECT_EQ(std::memcmp(results[k][0].data(), want.data(),
                            static_cast<size_t>(count) * sizeof(float)),
                0)
          << "round " << k << ": not the host's rank-order sum, max_abs " << max_abs;
    } else {
      EXPECT_LE(rel_l2, rel_l2_tolerance) << "round " << k;
    }
  }
}

void CheckAllGather(DeviceCommunicators& comms, int64_t bytes_per_rank, bool in_place) {
  const int n = static_cast<int>(comms.size());
  constexpr int kRounds = 2;
  std::mt19937 rng(static_cast<uint32_t>(bytes_per_rank * 7 + n));
  std::vector<std::vector<std::vector<uint8_t>>> inputs(kRounds), results(kRounds);
  for (auto& round : inputs) {
    for (int r = 0; r < n; ++r) round.push_back(RandomBytes(bytes_per_rank, rng));
  }
  for (auto& round : results) round.assign(static_cast<size_t>(n), {});
  const int64_t total = bytes_per_rank * n;
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    auto staged = Poisoned(bytes_per_rank * kRounds);
    auto send = Poisoned(bytes_per_rank);
    auto recv = Poisoned(total);
    if (!staged.ok() || !send.ok() || !recv.ok()) return absl::InternalError("allocation");
    for (int k = 0; k < kRounds; ++k) {
      CUDA_OK(cudaMemcpy(staged->as<uint8_t>() + k * bytes_per_rank, inputs[k][r].data(),
                         static_cast<size_t>(bytes_per_rank), cudaMemcpyHostToDevice));
    }
    RETURN_IF_ERROR(FinishSetup());
    uint8_t* send_ptr = in_place ? recv->as<uint8_t>() + r * bytes_per_rank : send->as<uint8_t>();
    for (int k = 0; k < kRounds; ++k) {
      CUDA_OK(cudaMemsetAsync(recv->get(), 0xFF, static_cast<size_t>(total), stream));
      if (r == k % n) RETURN_IF_ERROR(StallStream(stream, 20));
      CUDA_OK(cudaMemcpyAsync(send_ptr, staged->as<uint8_t>() + k * bytes_per_rank,
                              static_cast<size_t>(bytes_per_rank), cudaMemcpyDeviceToDevice,
                              stream));
      RETURN_IF_ERROR(comm.AllGather(send_ptr, recv->get(), bytes_per_rank, stream));
      results[k][r].resize(static_cast<size_t>(total));
      CUDA_OK(cudaMemcpyAsync(results[k][r].data(), recv->get(), static_cast<size_t>(total),
                              cudaMemcpyDeviceToHost, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      // Peers must be done reading this rank's send buffer now: poison it.
      if (!in_place) {
        CUDA_OK(cudaMemsetAsync(send->get(), 0xFF, static_cast<size_t>(bytes_per_rank), stream));
      }
    }
    return comm.Check();
  });
  for (int r = 0; r < n; ++r) ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
  for (int k = 0; k < kRounds; ++k) {
    int wrong_ranks = 0;
    for (int r = 0; r < n; ++r) {
      bool ok = true;
      for (int p = 0; p < n; ++p) {
        ok = ok && std::equal(inputs[k][p].begin(), inputs[k][p].end(),
                              results[k][r].begin() + p * bytes_per_rank);
      }
      wrong_ranks += !ok;
      EXPECT_TRUE(ok) << "round " << k << " rank " << r;
    }
    std::printf("AllGather ranks=%d bytes_per_rank=%lld in_place=%d round=%d wrong_ranks=%d\n", n,
                static_cast<long long>(bytes_per_rank), in_place, k, wrong_ranks);
  }
}

void CheckExchange(DeviceCommunicators& comms) {
  const int n = static_cast<int>(comms.size());
  struct Message {
    int src, dst;
    int64_t tag, bytes;
  };
  // Round 0: next/previous rank, to itself and a second message to the next, odd sizes.
  // Round 1: nothing at all. Round 2: rank 0 idle, the others in a ring.
  std::vector<std::vector<Message>> rounds(3);
  for (int r = 0; r < n; ++r) {
    rounds[0].push_back({r, (r + 1) % n, 1, 1001 + r});
    rounds[0].push_back({r, r, 2, 7});
    rounds[0].push_back({r, (r + n - 1) % n, 3, 13 + 2 * r});
    rounds[0].push_back({r, (r + 1) % n, 4, 1});
  }
  for (int r = 1; r < n && n >= 3; ++r) {
    rounds[2].push_back({r, r % (n - 1) + 1, 5, 333});
  }
  std::vector<std::vector<std::vector<uint8_t>>> received(rounds.size(),
                                                          std::vector<std::vector<uint8_t>>(n));
  const auto status = RunRanks(comms, [&](int r, DeviceCommunicator& comm, cudaStream_t stream) {
    for (size_t k = 0; k < rounds.size(); ++k) {
      std::vector<DeviceSend> sends;
      std::vector<DeviceRecv> recvs;
      std::vector<DeviceBuffer> buffers;                 // keeps sends and receives alive
      std::vector<std::pair<int64_t, int64_t>> recv_at;  // (offset in received, bytes)
      int64_t recv_total = 0;
      // Both sides list a peer's messages in tag order (the order of `rounds[k]` per pair).
      for (const Message& m : rounds[k]) {
        if (m.src == r) {
          std::vector<uint8_t> payload(static_cast<size_t>(m.bytes));
          for (int64_t i = 0; i < m.bytes; ++i) payload[i] = MessageByte(m.src, m.tag, i);
          auto buf = Poisoned(m.bytes);
          if (!buf.ok()) return buf.status();
          CUDA_OK(cudaMemcpy(buf->get(), payload.data(), payload.size(), cudaMemcpyHostToDevice));
          sends.push_back({m.dst, m.tag, buf->get(), m.bytes});
          buffers.push_back(std::move(*buf));
        }
        if (m.dst == r) {
          auto buf = Poisoned(m.bytes);
          if (!buf.ok()) return buf.status();
          recvs.push_back({m.src, m.tag, buf->get(), m.bytes});
          recv_at.emplace_back(recv_total, m.bytes);
          recv_total += m.bytes;
          buffers.push_back(std::move(*buf));
        }
      }
      // Send buffers are staged through a late write: poison now, restore after a stall.
      std::vector<DeviceBuffer> originals;
      for (const DeviceSend& s : sends) {
        auto copy = Poisoned(s.bytes);
        if (!copy.ok()) return copy.status();
        CUDA_OK(cudaMemcpy(copy->get(), s.data, static_cast<size_t>(s.bytes),
                           cudaMemcpyDeviceToDevice));
        CUDA_OK(cudaMemset(const_cast<void*>(s.data), 0xFF, static_cast<size_t>(s.bytes)));
        originals.push_back(std::move(*copy));
      }
      RETURN_IF_ERROR(FinishSetup());
      if (r == 0) RETURN_IF_ERROR(StallStream(stream, 20));
      for (size_t i = 0; i < sends.size(); ++i) {
        CUDA_OK(cudaMemcpyAsync(const_cast<void*>(sends[i].data), originals[i].get(),
                                static_cast<size_t>(sends[i].bytes), cudaMemcpyDeviceToDevice,
                                stream));
      }
      RETURN_IF_ERROR(comm.Exchange(sends, recvs, stream));
      // Receivers are done with the send buffers once Exchange's work on this stream is.
      for (const DeviceSend& s : sends) {
        CUDA_OK(
            cudaMemsetAsync(const_cast<void*>(s.data), 0xFF, static_cast<size_t>(s.bytes), stream));
      }
      received[k][r].assign(static_cast<size_t>(recv_total), 0);
      for (size_t i = 0; i < recvs.size(); ++i) {
        CUDA_OK(cudaMemcpyAsync(received[k][r].data() + recv_at[i].first, recvs[i].data,
                                static_cast<size_t>(recv_at[i].second), cudaMemcpyDeviceToHost,
                                stream));
      }
      CUDA_OK(cudaStreamSynchronize(stream));
    }
    return comm.Check();
  });
  for (int r = 0; r < n; ++r) ASSERT_TRUE(status[r].ok()) << "rank " << r << ": " << status[r];
  for (size_t k = 0; k < rounds.size(); ++k) {
    int wrong = 0, messages = 0;
    std::vector<int64_t> offset(static_cast<size_t>(n), 0);
    for (const Message& m : rounds[k]) {
      ++messages;
      const auto& got = received[k][static_cast<size_t>(m.dst)];
      bool ok = true;
      for (int64_t i = 0; i < m.bytes; ++i) {
        ok = ok && got[static_cast<size_t>(offset[m.dst] + i)] == MessageByte(m.src, m.tag, i);
      }
      offset[m.dst] += m.bytes;
      wrong += !ok;
      EXPECT_TRUE(ok) << "round " << k << ": message tag " << m.tag << " from rank " << m.src
                      << " to rank " << m.dst;
    }
    std::printf("Exchange ranks=%d round=%zu messages=%d wrong=%d\n", n, k, messages, wrong);
  }
}

}  // namespace evo2::cuda::testing
