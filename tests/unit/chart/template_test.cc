// Template engine behaviour beyond the Jinja2 differential corpus: error
// positions, limits and StrictUndefined messages.
#include "plinth/chart/template.h"

#include "plinth/core/memory_budget.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::chart {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::string> Render(const std::string& src, const nlohmann::json& ctx = nlohmann::json::object(),
                                   RenderLimits limits = {}) {
  auto t = Template::Parse(src, "templates/t.yaml");
  if (!t.ok()) return t.status();
  return t->Render(Value::FromJson(ctx), limits);
}

void ExpectError(const std::string& src, const std::string& fragment,
                 const nlohmann::json& ctx = nlohmann::json::object()) {
  auto r = Render(src, ctx);
  ASSERT_FALSE(r.ok()) << src << " rendered " << *r;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << src;
  EXPECT_THAT(r.status().message(), HasSubstr(fragment)) << src;
}

TEST(TemplateTest, RendersValues) {
  auto r = Render("{% for z in values.zones %}{{ values.region }}{{ z }}{% if not loop.last %},{% endif %}{% endfor %}",
                  {{"values", {{"region", "us-east-1"}, {"zones", {"a", "b"}}}}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "us-east-1a,us-east-1b");
}

TEST(TemplateTest, ErrorsSayFileLineAndColumn) {
  ExpectError("line one\n  {{ missing }}", "templates/t.yaml:2:6: 'missing' is undefined");
  ExpectError("{{ values.nope }}", "templates/t.yaml:1:4: 'values' is undefined");
  ExpectError("{{ values.nope }}", "'dict object' has no attribute 'nope'", {{"values", nlohmann::json::object()}});
  ExpectError("a\nb\n{% if x %}\nunclosed", "templates/t.yaml:4:9: unexpected end of template: expected");
  ExpectError("{% for x in y %}{% endif %}", "templates/t.yaml:1:20: unexpected \"endif\"");
  ExpectError("{{ 1 + }}", "templates/t.yaml:1:8: expected an expression");
  ExpectError("{{ x | nosuch }}", "no filter named 'nosuch'", {{"x", 1}});
  ExpectError("{{ 'abc' | truncate(1) }}", "filter truncate: expected length >= 3");
  ExpectError("{{ 10 / 0 }}", "templates/t.yaml:1:7: division by zero");
  ExpectError("{{ 'unterminated }}", "unterminated string literal");
  ExpectError("{# never closed", "unclosed comment");
  ExpectError("{% macro m() %}{% endmacro %}", "unknown tag \"macro\"");
}

TEST(TemplateTest, UndefinedIsAllowedOnlyWhereJinja2AllowsIt) {
  auto r = Render("{{ x is defined }} {{ x | default('d') }} {{ y.z is defined }} {{ 'a' if x is defined }}",
                  {{"y", nlohmann::json::object()}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "False d False ");
}

TEST(TemplateTest, RunawayTemplatesHitTheLimits) {
  RenderLimits small;
  small.max_steps = 10000;
  auto loops = Render("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", {}, small);
  ASSERT_FALSE(loops.ok());
  EXPECT_THAT(loops.status().message(), HasSubstr("steps"));
  small = {};
  small.max_output_bytes = 1000;
  auto big = Render("{% for i in range(1000) %}xxxxxxxxxx{% endfor %}", {}, small);
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("output larger than 1000 bytes"));
  auto huge = Render("{{ 'x' * 100000000 }}");
  EXPECT_FALSE(huge.ok());
}

TEST(TemplateTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(5000, '(');
  ExpectError("{{ " + deep + "1" + std::string(5000, ')') + " }}", "nested too deeply");
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
  ExpectError(blocks, "nested too deeply");
}

// Probe finding D1: these killed plinthd with SIGSEGV (unbounded recursion
// while parsing, rendering or destroying the tree), within the 1 MiB file limit.
TEST(TemplateTest, LongChainsAreRefusedNotACrash) {
  auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  ExpectError("{{ " + repeat("not ", 150000) + "1 }}", "nested too deeply");
  ExpectError("{{ x" + repeat(".a", 200000) + " }}", "nested too deeply", {{"x", nlohmann::json::object()}});
  ExpectError("{{ 'a'" + repeat(".lower()", 120000) + " }}", "nested too deeply");
  ExpectError("{{ 1" + repeat("|string", 100000) + " }}", "nested too deeply");
  // 400k "+1" is refused too: by the parse's memory bound or its height.
  auto sum = Render("{{ 1" + repeat("+1", 400000) + " }}");
  ASSERT_FALSE(sum.ok());
  EXPECT_THAT(sum.status().code(), ::testing::AnyOf(absl::StatusCode::kInvalidArgument,
                                                     absl::StatusCode::kResourceExhausted));
  // Moderate chains still work, as in Jinja2.
  auto fine = Render("{{ 1" + repeat("+1", 300) + " }}");
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(*fine, "301");
}

TEST(TemplateTest, SelfReferencingValuesPrintFinitely) {
  // As Jinja2 prints them (Python's dict repr guards against the cycle).
  auto r = Render("{% set ns = namespace(a=[]) %}{% set ns.a = [ns] %}{{ ns }}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "<Namespace {'a': [<Namespace {...}>]}>");
  r = Render("{% set ns = namespace(a={}) %}{% set ns.a = {'k': ns} %}{{ [ns] }}|{{ ns.a }}|{{ ns == ns }}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "[<Namespace {'a': {'k': <Namespace {...}>}}>]|{'k': <Namespace {'a': {...}}>}|True");
  // Nesting a value one level per loop turn is bounded.
  ExpectError("{% set ns = namespace(a=1) %}{% for i in range(100000) %}{% set ns.a = [ns.a] %}{% endfor %}"
              "{{ ns.a }}",
              "value nested more than 500 levels deep");
  ExpectError("{% set ns = namespace(p=none) %}{% for i in range(100000) %}{% set ns.p = namespace(p=ns.p) %}"
              "{% endfor %}{{ ns }}",
              "value nested more than 500 levels deep");
}

// Probe finding D2: intermediate values had no bound (RSS 4-5 GB, then
// bad_alloc as INTERNAL or the OOM killer).
TEST(TemplateTest, MemoryIsBoundedAndTheErrorNamesTheLine) {
  if (!core::ScopedMemoryBudget::supported()) GTEST_SKIP() << "AddressSanitizer build: no memory budget";
  const char* cases[] = {
      "line 1\n{% set l = ['x' * 60000000] * 1000 %}{{ l|length }}",
      "line 1\n{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
      "line 1\n{{ 'x'|indent(10**9) }}",
      "line 1\n{{ ['x' * 40000000, 'y' * 40000000]|join('') }}",
      "line 1\n{{ '%1000000000s' % 'x' }}",
  };
  for (const char* src : cases) {
    auto r = Render(src);
    ASSERT_FALSE(r.ok()) << src;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << src << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("templates/t.yaml:2:")) << src;
    EXPECT_THAT(r.status().message(), HasSubstr("more than 64 MiB of memory")) << src;
  }
  // The limit is the caller's: a smaller one refuses a smaller template.
  RenderLimits small;
  small.max_memory_bytes = 1 << 20;
  auto r = Render("{{ 'x' * 2000000 }}", {}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("more than 1 MiB"));
  // And the same render fits within the default.
  r = Render("{{ ('x' * 2000000)|length }}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "2000000");
}

TEST(TemplateTest, CancelledRendersStop) {
  RenderLimits limits;
  int polls = 0;
  limits.interrupt = [&polls] { return ++polls > 3 ? absl::CancelledError("the caller cancelled") : absl::OkStatus(); };
  auto r = Render("{% for i in range(100000) %}{% for j in range(100) %}{{ j }}{% endfor %}{% endfor %}", {}, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("templates/t.yaml:1:"));
}

TEST(TemplateTest, PercentFormattingHonoursWidths) {
  auto r = Render("{{ '%5s|%-4s|%.2s|%05d|%x|%+d|%#06x|%8.3f' % ('ab', 'c', 'xyz', -42, -255, 5, 255, -3.14159) }}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "   ab|c   |xy|-0042|-ff|+5|0x00ff|  -3.142");
  // Wider than the old 512-byte buffer, and not cut short.
  r = Render("{{ ('%600s' % 'x')|length }}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "600");
  ExpectError("{{ '%99999999999s' % 'x' }}", "width too big");
}

TEST(TemplateTest, ValueReprMatchesPython) {
  EXPECT_EQ(PythonFloatRepr(0.1), "0.1");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PythonFloatRepr(1e-5), "1e-05");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PythonFloatRepr(2.5), "2.5");
  EXPECT_EQ(PythonStringRepr("it's"), "\"it's\"");
  EXPECT_EQ(PythonStringRepr("a\nb'\""), "'a\\nb\\'\"'");
}

}  // namespace
}  // namespace plinth::chart
