// Renders a batch of template cases for the differential test against
// Python's Jinja2: reads [{"template": s, "context": {...}}, ...] as JSON on
// stdin, writes [{"ok": true, "output": s} | {"ok": false, "error": s}, ...].
#include <iostream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "plinth/chart/template.h"

int main() {
  std::stringstream in;
  in << std::cin.rdbuf();
  auto cases = nlohmann::ordered_json::parse(in.str());
  nlohmann::json results = nlohmann::json::array();
  for (const auto& c : cases) {
    auto t = plinth::chart::Template::Parse(c["template"].get<std::string>(), "case");
    absl::StatusOr<std::string> out = t.ok() ? t->Render(plinth::chart::Value::FromJson(c["context"]))
                                             : absl::StatusOr<std::string>(t.status());
    if (out.ok()) {
      results.push_back({{"ok", true}, {"output", *out}});
    } else {
      results.push_back({{"ok", false}, {"error", std::string(out.status().message())},
                         {"code", static_cast<int>(out.status().code())}});
    }
  }
  std::cout << results.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}
