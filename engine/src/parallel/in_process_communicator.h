// The in-process Communicator (evo2/communicator.h): the ranks are host threads of one process
// and exchange through shared memory. The CPU backend's engine groups run on it (its device
// counterpart, for ranks sharing a GPU, is cuda/in_process_device_communicator.h).
//
// Every collective is two rendezvous of all ranks (parallel/host_rendezvous.h): (1) each rank posts
// pointers to its buffers; (2) after everyone has posted, each rank reads the others' buffers into
// its own outputs, then waits until every rank has finished reading, so no posted buffer is
// released early. Only the first rendezvous can be abandoned (Abort or timeout): once it has
// completed, every rank is past its last wait and reaches the second without blocking on anything
// else.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "evo2/communicator.h"

namespace evo2::parallel {

// `size` communicators sharing one rendezvous, element r for rank r. A rank waiting longer than
// `timeout` for the others fails the whole group with DEADLINE_EXCEEDED (a backstop: a rank
// that fails is expected to call Abort, which releases the others at once).
std::vector<std::unique_ptr<Communicator>> MakeInProcessCommunicators(
    int size, std::chrono::milliseconds timeout = std::chrono::minutes(30));

}  // namespace evo2::parallel
