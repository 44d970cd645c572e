// What every CUDA decoder (Evo 2, Llama, NemotronH) reports beyond evo2/decoder.h, for the
// benchmark, the tests and the log: how many steps replayed a captured graph
// (cuda/cuda_decoder_graphs.h), why graphs are off if a capture failed, and the device bytes of
// its state and step buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "evo2/decoder.h"

namespace evo2::cuda {

class CudaStepDecoder : public Decoder {
 public:
  virtual int64_t graph_steps() const = 0;
  virtual const std::string& graph_error() const = 0;
  virtual size_t device_bytes() const = 0;
};

}  // namespace evo2::cuda
