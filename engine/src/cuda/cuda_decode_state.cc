#include "cuda/cuda_decode_state.h"

#include "kernels/hyena_long.cuh"

namespace evo2::cuda {

CudaDecodeState::CudaDecodeState(const ModelConfig& config, const DeviceWeights& weights) {
  const size_t act = weights.act_dtype == DType::kFloat32 ? 4 : 2;
  const int64_t H = config.hidden_size;
  for (const DeviceBlockWeights& b : weights.blocks) {
    BlockBuffers bb;
    if (b.kind == BlockKind::kAttn) {
      const size_t row = static_cast<size_t>(config.head_dim) * act;
      bb.k = slots_.AddKv(config.num_heads, row);
      bb.v = slots_.AddKv(config.num_heads, row);
    } else {
      bb.proj_tail = slots_.AddFixed(static_cast<size_t>(2 * 3 * H) * act);
      if (b.kind == BlockKind::kHcl) {
        bb.modal =
            slots_.AddFixed(static_cast<size_t>(kernels::kHyenaLongModes * H) * sizeof(float));
      } else {
        bb.fir_tail = slots_.AddFixed(static_cast<size_t>((b.fir_length - 1) * H) * act);
      }
    }
    blocks_.push_back(bb);
  }
}

CudaBlockState CudaDecodeState::block(int i) const {
  const BlockBuffers& b = blocks_[static_cast<size_t>(i)];
  auto view = [&](int index) { return SlotView{index >= 0 ? slots_.get(index) : nullptr}; };
  return {view(b.proj_tail), view(b.fir_tail), view(b.modal), view(b.k), view(b.v)};
}

}  // namespace evo2::cuda
