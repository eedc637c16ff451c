// Template engine behaviour beyond the Jinja2 differential corpus: error
// positions, limits and StrictUndefined messages.
#include "plinth/chart/template.h"

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
