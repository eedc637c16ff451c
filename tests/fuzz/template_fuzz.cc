// libFuzzer target for the template engine: any source text renders or
// fails with INVALID_ARGUMENT; never a crash, hang or leak.
//
//   ninja -C build-fuzz template_fuzz
//   build-fuzz/bin/template_fuzz -max_len=4096 tests/fuzz/template_corpus
#include <cstddef>
#include <cstdint>
#include <string>

#include "plinth/chart/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const plinth::chart::Value* context = new plinth::chart::Value(plinth::chart::Value::FromJson(
      nlohmann::json::parse(R"({"values": {"name": "app", "n": 3, "zones": ["a", "b"], "on": true,
                                 "tags": {"team": "x"}, "f": 1.5}, "env": "dev", "org": "acme"})")));
  std::string source(reinterpret_cast<const char*>(data), size);
  auto t = plinth::chart::Template::Parse(source, "fuzz.yaml");
  if (!t.ok()) {
    if (t.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  plinth::chart::RenderLimits limits;
  limits.max_steps = 200000;
  limits.max_output_bytes = 1 << 20;
  auto out = t->Render(*context, limits);
  if (!out.ok() && out.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
  return 0;
}
