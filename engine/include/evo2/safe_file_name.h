// Record names as file names. FASTA headers are free text ("chr1/part:2", "../x"), so every
// writer that names a file after a record goes through this one mapping: `evo2 predict`'s npy
// output and `evo2 results --out` produce the same names, and none can leave its directory.
#pragma once

#include <string>
#include <string_view>

namespace evo2 {

// Keeps [A-Za-z0-9._+-] and maps every other byte to '_' (so no '/' and no NUL); prefixes '_'
// to an empty or leading-dot result, so the name is never hidden, ".", or "..".
std::string SafeFileStem(std::string_view name);

}  // namespace evo2
