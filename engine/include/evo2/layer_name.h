// The grammar of capturable layer names, without a model: what `--embedding-layers` and the
// service's embedding requests may spell. Whether the named block exists, has that mixer, or may
// be split into sub-layers depends on the model and is checked by ParseLayerName (evo2/config.h).
//
//   embedding_layer | embedding | embedding.word_embeddings      → kEmbedding
//   norm | decoder.final_norm                                     → kFinalNorm
//   blocks.B                                                      → kBlockOutput
//   blocks.B.pre_norm | .post_norm                                → kPreNorm | kPostNorm
//   blocks.B.mlp | blocks.B.mlp.l3                                → kMlp
//   blocks.B.inner_mha_cls | blocks.B.out_filter_dense            → kMixer
//   decoder.layers.B                                              → kBlockOutput
// Each may carry a "module." prefix (NeMo module paths). B is a decimal block index.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace evo2 {

// A point in the network whose [S, H] activations can be returned.
enum class LayerPoint : uint8_t {
  kEmbedding,    // x0 = E[ids]                     vortex `embedding_layer`, NeMo `embedding`
  kPreNorm,      // RMSNorm_pre(u) of block b        `blocks.b.pre_norm`
  kMixer,        // Mixer(...) incl. its out bias   `blocks.b.out_filter_dense` / `.inner_mha_cls`
  kPostNorm,     // RMSNorm_post(x) of block b       `blocks.b.post_norm`
  kMlp,          // MLP output before the residual  `blocks.b.mlp`, `blocks.b.mlp.l3`
  kBlockOutput,  // residual stream after block b   `blocks.b`, NeMo `decoder.layers.b`
  kFinalNorm,    // RMSNorm_final(x_N)              `norm`, NeMo `decoder.final_norm`
};

// Which mixer module a kMixer name spelled: attention blocks call theirs `inner_mha_cls`, Hyena
// blocks `out_filter_dense`; only the model knows which block is which.
enum class MixerSpelling : uint8_t { kNone, kInnerMhaCls, kOutFilterDense };

struct LayerName {
  LayerPoint point = LayerPoint::kBlockOutput;
  int block = -1;  // -1 for kEmbedding / kFinalNorm
  MixerSpelling mixer = MixerSpelling::kNone;
  // Names the same activations as `other` (so `blocks.3` == `decoder.layers.3`).
  bool SameTap(const LayerName& other) const {
    return point == other.point && block == other.block;
  }
};

// Parses `name` by the grammar above. Errors are InvalidArgument, of the form
// "unknown layer 'NAME' (WHY); valid names look like blocks.B, blocks.B.mlp.l3, decoder.layers.B,
// embedding_layer, norm" so that a caller that knows the model can append the range of B.
absl::StatusOr<LayerName> ParseLayerNameSyntax(std::string_view name);

// The error above for `name` with reason `why`, for checks a caller adds to the grammar's.
absl::Status UnknownLayerError(std::string_view name, std::string_view why);

// "inner_mha_cls" or "out_filter_dense" ("" for kNone).
std::string_view MixerSpellingName(MixerSpelling mixer);

}  // namespace evo2
