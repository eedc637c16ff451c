// Jinja2-compatible templates: the subset infrastructure charts use, rendered
// exactly as Python's Jinja2 renders it with its defaults (trim_blocks and
// lstrip_blocks off, keep_trailing_newline off) and StrictUndefined.
//
//   auto t = Template::Parse("{% for s in values.subnets %}{{ s|upper }}\n{% endfor %}",
//                            "templates/vpc.yaml");
//   absl::StatusOr<std::string> out = t->Render(Value::FromJson(context));
//
// Errors are INVALID_ARGUMENT "<name>:<line>:<col>: <what>". A Template is
// immutable after Parse; Render is thread-safe.
#ifndef PLINTH_CHART_TEMPLATE_H_
#define PLINTH_CHART_TEMPLATE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "plinth/chart/value.h"

namespace plinth::chart {

struct Node;

struct RenderLimits {
  size_t max_output_bytes = 64 << 20;
  // Loop iterations and expression evaluations together; a guard against
  // runaway templates.
  size_t max_steps = 50'000'000;
};

class Template {
 public:
  static absl::StatusOr<Template> Parse(absl::string_view source, std::string name);

  // `context` must be a dict; its keys are the template's top-level names.
  absl::StatusOr<std::string> Render(const Value& context, const RenderLimits& limits = {}) const;

  const std::string& name() const { return name_; }

 private:
  Template() = default;
  std::string name_;
  std::shared_ptr<const std::vector<std::unique_ptr<Node>>> body_;
};

}  // namespace plinth::chart

#endif  // PLINTH_CHART_TEMPLATE_H_
