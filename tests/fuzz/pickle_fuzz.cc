// The strict unpickler (`data.pkl` of a .pt, a DCP `.metadata`): any bytes give a document or
// an error, and the document can be described without unbounded recursion.
#include <span>

#include "io/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto doc = evo2::io::Unpickle(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz.pkl");
  if (doc.ok()) (void)evo2::io::DescribePickleValue(doc->root);
  return 0;
}
