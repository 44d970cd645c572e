// Transformer Engine's FP8 state of one module (`<module>._extra_state`), read with the strict
// unpickler (docs/spec/checkpoints.md §14, docs/spec/fp8.md "Stored scales"). Only the forward
// scales of the module's first GEMM are kept: TE's forward meta holds three entries per GEMM,
// scale_fwd[3g] for its input, [3g+1] its weight, [3g+2] its output, and each linear the engine
// runs in FP8 is one TE module with one GEMM.
//
// The forms, by Transformer Engine version:
//   TE >= 2.0   a uint8 tensor holding `pickle.dumps(state)` (empty when the module kept no
//               FP8 state); each tensor in it is `_rebuild_tensor_v2(_load_from_bytes(<legacy
//               torch.save of its storage>), ...)` (io/torch_legacy_storage.h);
//   TE 0.10-1.x an `io.BytesIO` holding `torch.save(state)` (a zip, io/pt_reader.h);
//   None        no state.
// `state` is None or a dict: scale_fwd [3·gemms] fp32, amax_history_fwd [history, 3·gemms] fp32,
// scale_bwd, amax_history_bwd, extra_fp8_variables (plain values), and by version scale_inv_fwd /
// scale_inv_bwd (TE 1.x) or recipe (TE 2.x releases: a DelayedScaling dataclass, kept opaque).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "evo2/checkpoint.h"
#include "io/pickle_value.h"
#include "io/pt_reader.h"

namespace evo2::io {

// An `_extra_state` value of a torch.save'd state dict: `value` is a node of `archive`'s pickle
// (an entry of a `.pt` checkpoint's dict). `key` names the entry in every error. nullopt when
// the module stored no FP8 state.
absl::StatusOr<std::optional<StoredFp8Scales>> ReadTeExtraState(const TorchArchive& archive,
                                                                const PickleValue* value,
                                                                const std::string& key);

// A torch.distributed.checkpoint byte item holding a module's extra state: a torch.save zip whose
// root is the value above or a one-element list of it (Megatron's sharded-object form).
absl::StatusOr<std::optional<StoredFp8Scales>> ReadTeExtraStateItem(std::span<const std::byte> item,
                                                                    const std::string& key);

// The TE >= 2.0 payload itself: the bytes of `pickle.dumps(state)`.
absl::StatusOr<std::optional<StoredFp8Scales>> ReadTeExtraStatePickle(
    std::span<const std::byte> pickled, const std::string& key);

}  // namespace evo2::io
