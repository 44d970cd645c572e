#include "parallel/in_process_communicator.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "evo2/status_macros.h"
#include "parallel/host_rendezvous.h"

namespace evo2::parallel {
namespace {

enum class OpKind {
  kAllReduceF32,
  kAllReduceF64,
  kAllGatherF32,
  kAllGatherF64,
  kExchange,
  kBarrier
};

const char* OpName(OpKind k) {
  switch (k) {
    case OpKind::kAllReduceF32:
    case OpKind::kAllReduceF64:
      return "AllReduce";
    case OpKind::kAllGatherF32:
    case OpKind::kAllGatherF64:
      return "AllGather";
    case OpKind::kExchange:
      return "Exchange";
    case OpKind::kBarrier:
      return "Barrier";
  }
  return "?";
}

// What one rank posted for the current collective.
struct Posting {
  OpKind kind = OpKind::kBarrier;
  ReduceOp reduce = ReduceOp::kSum;
  const void* data = nullptr;  // AllReduce / AllGather input
  size_t count = 0;            // elements
  std::span<const SendSpec> sends;
};

Posting MakePosting(OpKind kind, const void* data = nullptr, size_t count = 0,
                    ReduceOp reduce = ReduceOp::kSum, std::span<const SendSpec> sends = {}) {
  Posting p;
  p.kind = kind;
  p.data = data;
  p.count = count;
  p.reduce = reduce;
  p.sends = sends;
  return p;
}

// The rendezvous plus what each rank posted for the current collective (slot r written by rank
// r before it arrives, read by the others between the two arrivals).
class Rendezvous {
 public:
  Rendezvous(int size, std::chrono::milliseconds timeout)
      : barrier_(size, timeout), posts_(static_cast<size_t>(size)) {}

  // Arrival 1: posts `p` for `rank` and waits for all ranks; abandoned (error) when the group
  // fails or the timeout passes first.
  absl::Status PostAndWait(int rank, const Posting& p) {
    posts_[static_cast<size_t>(rank)] = p;
    return barrier_.Arrive(rank, OpName(p.kind));
  }

  // Arrival 2: waits until every rank has finished reading the posts.
  void DoneReading() { barrier_.ArriveUnabandonable(); }

  void Abort(const absl::Status& reason) { barrier_.Abort(reason); }

  // Valid between the two arrivals.
  const Posting& post(int rank) const { return posts_[static_cast<size_t>(rank)]; }
  int size() const { return barrier_.size(); }

 private:
  HostRendezvous barrier_;
  std::vector<Posting> posts_;
};

// Same collective with the same sizes on every rank, else an error naming the two ranks.
absl::Status CheckConsistent(const Rendezvous& rv, int me) {
  const Posting& mine = rv.post(me);
  for (int r = 0; r < rv.size(); ++r) {
    const Posting& p = rv.post(r);
    if (p.kind != mine.kind || p.count != mine.count || p.reduce != mine.reduce) {
      return absl::InternalError(
          absl::StrCat("collective mismatch: rank ", me, " called ", OpName(mine.kind), " of ",
                       mine.count, " elements, rank ", r, " ", OpName(p.kind), " of ", p.count));
    }
  }
  return absl::OkStatus();
}

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<Rendezvous> rv, int rank)
      : rv_(std::move(rv)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return rv_->size(); }

  absl::Status AllReduce(std::span<float> data, ReduceOp op) override {
    return Reduce(data, op, OpKind::kAllReduceF32);
  }
  absl::Status AllReduce(std::span<double> data, ReduceOp op) override {
    return Reduce(data, op, OpKind::kAllReduceF64);
  }
  absl::Status AllGather(std::span<const float> send, std::span<float> recv) override {
    return Gather(send, recv, OpKind::kAllGatherF32);
  }
  absl::Status AllGather(std::span<const double> send, std::span<double> recv) override {
    return Gather(send, recv, OpKind::kAllGatherF64);
  }

  absl::Status Exchange(std::span<const SendSpec> sends, std::span<const RecvSpec> recvs) override {
    for (const SendSpec& s : sends) {
      if (s.peer < 0 || s.peer >= size()) {
        return Fail(absl::InvalidArgumentError(
            absl::StrCat("rank ", rank_, ": Exchange send to rank ", s.peer, " of ", size())));
      }
    }
    RETURN_IF_ERROR(
        rv_->PostAndWait(rank_, MakePosting(OpKind::kExchange, nullptr, 0, ReduceOp::kSum, sends)));
    absl::Status status;
    for (const RecvSpec& r : recvs) {
      const SendSpec* match = nullptr;
      if (r.peer >= 0 && r.peer < size()) {
        for (const SendSpec& s : rv_->post(r.peer).sends) {
          if (s.peer == rank_ && s.tag == r.tag) match = &s;
        }
      }
      if (match == nullptr || match->data.size() != r.data.size()) {
        status =
            absl::InternalError(absl::StrCat("rank ", rank_, ": Exchange expected ", r.data.size(),
                                             " values with tag ", r.tag, " from rank ", r.peer,
                                             match ? absl::StrCat(" but got ", match->data.size())
                                                   : std::string(" but none was sent")));
        break;
      }
      std::copy(match->data.begin(), match->data.end(), r.data.begin());
    }
    rv_->DoneReading();
    return status.ok() ? status : Fail(status);
  }

  absl::Status Barrier() override {
    RETURN_IF_ERROR(rv_->PostAndWait(rank_, MakePosting(OpKind::kBarrier)));
    rv_->DoneReading();
    return absl::OkStatus();
  }

  void Abort(const absl::Status& reason) override { rv_->Abort(reason); }

 private:
  absl::Status Fail(const absl::Status& s) {
    rv_->Abort(s);
    return s;
  }

  template <typename T>
  absl::Status Reduce(std::span<T> data, ReduceOp op, OpKind kind) {
    RETURN_IF_ERROR(rv_->PostAndWait(rank_, MakePosting(kind, data.data(), data.size(), op)));
    absl::Status status = CheckConsistent(*rv_, rank_);
    std::vector<T> out;
    if (status.ok()) {
      // Rank order on every rank: bit-identical results everywhere.
      out.assign(static_cast<const T*>(rv_->post(0).data),
                 static_cast<const T*>(rv_->post(0).data) + data.size());
      for (int r = 1; r < size(); ++r) {
        const T* in = static_cast<const T*>(rv_->post(r).data);
        if (op == ReduceOp::kSum) {
          for (size_t i = 0; i < out.size(); ++i) out[i] += in[i];
        } else {
          for (size_t i = 0; i < out.size(); ++i) out[i] = std::max(out[i], in[i]);
        }
      }
    }
    rv_->DoneReading();  // nobody reads `data` any more: safe to overwrite
    if (!status.ok()) return Fail(status);
    std::copy(out.begin(), out.end(), data.begin());
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status Gather(std::span<const T> send, std::span<T> recv, OpKind kind) {
    if (recv.size() != send.size() * static_cast<size_t>(size())) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("rank ", rank_, ": AllGather of ", send.size(), " values into ", recv.size(),
                       " (need ", send.size() * static_cast<size_t>(size()), ")")));
    }
    RETURN_IF_ERROR(rv_->PostAndWait(rank_, MakePosting(kind, send.data(), send.size())));
    const absl::Status status = CheckConsistent(*rv_, rank_);
    if (status.ok()) {
      for (int r = 0; r < size(); ++r) {
        const T* in = static_cast<const T*>(rv_->post(r).data);
        std::copy(in, in + send.size(), recv.begin() + static_cast<ptrdiff_t>(r * send.size()));
      }
    }
    rv_->DoneReading();
    return status.ok() ? status : Fail(status);
  }

  std::shared_ptr<Rendezvous> rv_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> MakeInProcessCommunicators(
    int size, std::chrono::milliseconds timeout) {
  auto rv = std::make_shared<Rendezvous>(size, timeout);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < size; ++r) comms.push_back(std::make_unique<InProcessCommunicator>(rv, r));
  return comms;
}

}  // namespace evo2::parallel
