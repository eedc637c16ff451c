// Jinja2-compatible templates: the subset infrastructure charts use, rendered
// exactly as Python's Jinja2 renders it with its defaults (trim_blocks and
// lstrip_blocks off, keep_trailing_newline off) and StrictUndefined.
//
//   auto t = Template::Parse("{% for s in values.subnets %}{{ s|upper }}\n{% endfor %}",
//                            "templates/vpc.yaml");
//   absl::StatusOr<std::string> out = t->Render(Value::FromJson(context));
//
// Errors are INVALID_ARGUMENT "<name>:<line>:<col>: <what>"; RESOURCE_EXHAUSTED
// when the render needs more memory than its limit, CANCELLED when stopped. A Template is
// immutable after Parse; Render is thread-safe.
#ifndef PLINTH_CHART_TEMPLATE_H_
#define PLINTH_CHART_TEMPLATE_H_

#include <functional>
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
  // Heap the render may hold at once (values, output, scopes): past it the
  // render fails with RESOURCE_EXHAUSTED naming the template line.
  size_t max_memory_bytes = 64 << 20;
  // Polled as the render goes: a status that is not OK (CANCELLED for a
  // caller that gave up, DEADLINE_EXCEEDED) stops the render with it.
  std::function<absl::Status()> interrupt;
};

class Template {
 public:
  // Parsing may hold at most `max_memory_bytes` (RESOURCE_EXHAUSTED past it).
  static absl::StatusOr<Template> Parse(absl::string_view source, std::string name,
                                        size_t max_memory_bytes = 64 << 20);

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
