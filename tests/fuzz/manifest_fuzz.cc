// libFuzzer target for the manifest parser: YAML/JSON text in, validated
// manifests or an INVALID_ARGUMENT out; never a crash, hang or leak.
//
//   cmake -B build-fuzz -G Ninja -DPLINTH_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++
//   ninja -C build-fuzz manifest_fuzz
//   build-fuzz/bin/manifest_fuzz -max_len=65536 tests/fuzz/corpus
#include <cstddef>
#include <cstdint>
#include <string>

#include "plinth/manifest/manifest.h"
#include "plinth/manifest/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const plinth::manifest::KindCatalog* catalog =
      plinth::manifest::KindCatalog::CreateWithBuiltins()->release();
  std::string text(reinterpret_cast<const char*>(data), size);
  plinth::manifest::ManifestOptions options;
  options.org = "fuzz";
  options.env = "dev";
  auto manifests = plinth::manifest::ParseManifests({{"fuzz.yaml", text}}, options, *catalog);
  if (manifests.ok()) {
    for (const auto& m : *manifests) {
      // What was accepted must render and parse back.
      auto again = plinth::manifest::ParseYamlDocuments(plinth::manifest::JsonToYaml(m.body), "again");
      if (!again.ok()) __builtin_trap();
    }
  } else if (manifests.status().code() != absl::StatusCode::kInvalidArgument) {
    __builtin_trap();  // bad input must be INVALID_ARGUMENT, nothing else
  }
  return 0;
}
