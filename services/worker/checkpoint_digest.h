// The checkpoint digest a worker records in every job's provenance (job.proto Provenance).
#pragma once

#include <filesystem>
#include <string>

namespace evo2::svc {

// A checkpoint file: "sha256:<hex>" of its bytes ("" above 4 GiB: minutes to hash at start;
// give --checkpoint-digest for those).
//
// A checkpoint directory (NeMo2, Hugging Face): "sha256-dir:<hex>", the SHA-256 of a listing of
// its regular files (recursively, symlinks followed, names starting with '.' skipped), sorted by
// relative path, one line per file: "<path>\t<size>\t<sha256 of the content>" where the content
// is the whole file up to 4 MiB (configs, tokenizers, metadata) and, for larger files (weights),
// its first, middle and last MiB. Reading ~3 MiB per weight file keeps startup fast while a copy
// of the same checkpoint gets the same digest and a retrained one a different one; it is a
// fingerprint, not a full content hash. "" when the path cannot be read.
std::string CheckpointDigest(const std::filesystem::path& path);

}  // namespace evo2::svc
