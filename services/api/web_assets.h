// The web page's files (services/api/web/), compiled into evo2-api by embed_web_assets.cmake so
// the binary serves them the same from a build tree, an install or a container.
#pragma once

#include <string_view>

namespace evo2::svc {

struct WebAsset {
  std::string_view name;  // file name in services/api/web/, e.g. "app.js"
  std::string_view content_type;
  std::string_view data;
};

// nullptr when there is no such file.
const WebAsset* FindWebAsset(std::string_view name);

}  // namespace evo2::svc
