// The parsers against real recorded engine output (tests/data/recorded).
#include "plinth/engine/engine_events.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/engine/redactor.h"
#include "test_paths.h"

namespace plinth::engine {
namespace {

using ::testing::HasSubstr;
using Kind = EngineEvent::Kind;

std::string Read(const std::string& name) {
  std::ifstream in(std::string(PLINTH_SHARED_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

template <typename Parse>
std::vector<EngineEvent> ParseAll(const std::string& name, Parse parse) {
  std::vector<EngineEvent> out;
  for (absl::string_view line : absl::StrSplit(Read(name), '\n', absl::SkipEmpty())) out.push_back(parse(line));
  return out;
}

TEST(TerraformEventsTest, PlanStream) {
  auto events = ParseAll("terraform/plan-json-basic__plan.log", ParseTerraformLine);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kind, Kind::kVersion);
  EXPECT_EQ(events[0].message, "Terraform 1.3.7");
  ASSERT_TRUE(events[1].resource);
  EXPECT_EQ(events[1].resource->address, "null_resource.foo");
  EXPECT_EQ(events[1].resource->action, "create");
  EXPECT_EQ(events[1].resource->status, "planned");
  ASSERT_TRUE(events[2].summary);
  EXPECT_EQ(events[2].summary->add, 1);
  EXPECT_EQ(events[2].summary->operation, "plan");
}

TEST(TerraformEventsTest, ApplyStreamWithOutputs) {
  auto events = ParseAll("terraform/apply-json-with-outputs__apply.log", ParseTerraformLine);
  const EngineEvent* complete = nullptr;
  const EngineEvent* outputs = nullptr;
  for (const auto& e : events) {
    if (e.type == "apply_complete") complete = &e;
    if (e.kind == Kind::kOutputs) outputs = &e;
  }
  ASSERT_NE(complete, nullptr);
  EXPECT_EQ(complete->resource->address, "null_resource.foo");
  EXPECT_EQ(complete->resource->status, "complete");
  EXPECT_EQ(complete->resource->id, "7091618264040236234");
  ASSERT_NE(outputs, nullptr);
  EXPECT_EQ(outputs->outputs.size(), 3u);
  EXPECT_TRUE(outputs->outputs.contains("complex"));
}

TEST(TerraformEventsTest, ErrorsBecomeDiagnostics) {
  for (const char* file : {"terraform/plan-json-error__plan.log", "terraform/apply-json-with-error__plan.log"}) {
    auto events = ParseAll(file, ParseTerraformLine);
    bool error = false;
    for (const auto& e : events) {
      if (e.diagnostic && e.diagnostic->severity == "error") {
        error = true;
        EXPECT_FALSE(e.diagnostic->summary.empty()) << file;
      }
    }
    EXPECT_TRUE(error) << file;
  }
}

TEST(TerraformEventsTest, EveryRecordedLineParses) {
  for (const char* file : {"terraform/plan__output.jsonlog", "terraform/apply__output.jsonlog",
                           "terraform/apply-json__apply.log", "terraform/apply-json__plan.log",
                           "terraform/plan-json-no-changes__plan.log", "terraform/apply-json-with-outputs__plan.log"}) {
    for (const auto& e : ParseAll(file, ParseTerraformLine)) {
      EXPECT_NE(e.kind, Kind::kNotJson) << file;
      EXPECT_FALSE(e.message.empty() && e.kind != Kind::kResource) << file << " " << e.type;
    }
  }
}

TEST(TerraformEventsTest, UnknownTypesAndNonJsonAreKeptNotErrors) {
  EngineEvent future = ParseTerraformLine(R"({"@level":"info","@message":"something new","type":"quantum_entangle","x":1})");
  EXPECT_EQ(future.kind, Kind::kUnknown);
  EXPECT_EQ(future.message, "something new");
  EngineEvent text = ParseTerraformLine("panic: runtime error");
  EXPECT_EQ(text.kind, Kind::kNotJson);
  EXPECT_EQ(text.message, "panic: runtime error");
}

TEST(TerraformPlanTest, ShowJsonCountsAddChangeReplace) {
  auto create = ParseTerraformPlanJson(Read("terraform/show-json__basic-create__output.json"));
  ASSERT_TRUE(create.ok()) << create.status();
  EXPECT_GT(create->summary.add, 0);
  EXPECT_TRUE(create->has_changes());
  // In this recording the only resource is a no-op: nothing to count.
  auto update = ParseTerraformPlanJson(Read("terraform/show-json__basic-update__output.json"));
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->summary.add + update->summary.change + update->summary.remove + update->summary.replace, 0);
  EXPECT_TRUE(update->changes.empty());
  auto synthetic = ParseTerraformPlanJson(
      R"({"resource_changes":[{"address":"a.b","type":"a","change":{"actions":["update"]}},
                              {"address":"c.d","type":"c","change":{"actions":["delete"]}},
                              {"address":"e.f","type":"e","change":{"actions":["read"]}}]})");
  ASSERT_TRUE(synthetic.ok());
  EXPECT_EQ(synthetic->summary.change, 1);
  EXPECT_EQ(synthetic->summary.remove, 1);
  EXPECT_EQ(synthetic->summary.read, 1);
  EXPECT_EQ(synthetic->changes.size(), 3u) << "a read is a row a reviewer sees";
  auto replace = ParseTerraformPlanJson(Read("terraform/show-json__requires-replace__output.json"));
  ASSERT_TRUE(replace.ok());
  EXPECT_EQ(replace->summary.replace, 1);
  ASSERT_EQ(replace->changes.size(), 1u);
  EXPECT_EQ(replace->changes[0].action, "replace");
  EXPECT_FALSE(ParseTerraformPlanJson("not json").ok());
}

// Probe findings: replaces, moves, imports, forgets, deposed objects and
// output changes, as OpenTofu's show -json describes them.
TEST(TerraformPlanTest, EveryKindOfChangeIsCountedAndKept) {
  auto replace = ParseTerraformPlanJson(Read("terraform/show-json__replace__output.json"));
  ASSERT_TRUE(replace.ok()) << replace.status();
  EXPECT_EQ(replace->summary.Describe(), "0 to add, 0 to change, 1 to destroy, 2 to replace");
  ASSERT_EQ(replace->changes.size(), 3u);
  EXPECT_EQ(replace->changes[0].action, "replace");
  EXPECT_EQ(replace->changes[0].actions, (std::vector<std::string>{"delete", "create"}));
  EXPECT_EQ(replace->changes[0].action_reason, "replace_because_cannot_update");
  EXPECT_EQ(replace->changes[1].actions, (std::vector<std::string>{"create", "delete"}));
  EXPECT_EQ(replace->changes[2].action, "delete");
  EXPECT_EQ(replace->changes[2].deposed, "00000001") << "a deposed object, not the live one";

  auto mixed = ParseTerraformPlanJson(Read("terraform/show-json__move-import-forget__output.json"));
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(mixed->summary.move, 1);
  EXPECT_EQ(mixed->summary.import, 1);
  EXPECT_EQ(mixed->summary.forget, 1);
  EXPECT_EQ(mixed->summary.read, 1);
  EXPECT_EQ(mixed->summary.no_op, 3);
  EXPECT_TRUE(mixed->has_changes()) << "a pure move is a change to review";
  EXPECT_EQ(mixed->summary.Describe(), "0 to add, 0 to change, 0 to destroy, 0 to replace, 1 to import, 1 to move, 1 to forget");
  ASSERT_EQ(mixed->changes.size(), 4u) << "the plain no-op is counted, not listed";
  EXPECT_EQ(mixed->changes[0].previous_address, "aws_s3_bucket.log");
  EXPECT_TRUE(mixed->changes[1].importing);
  EXPECT_EQ(mixed->changes[2].action, "forget");
  EXPECT_EQ(mixed->changes[3].action_reason, "read_because_config_unknown");

  auto outputs = ParseTerraformPlanJson(Read("terraform/show-json__outputs-only__output.json"));
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_TRUE(outputs->has_changes()) << "an outputs-only plan has something to review";
  ASSERT_EQ(outputs->outputs.size(), 3u);
  for (const auto& o : outputs->outputs) {
    if (o.name == "url") EXPECT_EQ(o.after, "https://b.example.org");
    if (o.name == "arn") EXPECT_TRUE(o.known_after_apply);
    if (o.name == "token") {
      EXPECT_TRUE(o.sensitive);
      EXPECT_TRUE(o.after.is_null()) << "a sensitive value is never kept";
    }
  }

  auto errored = ParseTerraformPlanJson(Read("terraform/show-json__errored__output.json"));
  ASSERT_TRUE(errored.ok());
  EXPECT_TRUE(errored->errored);
  auto state = ParseTerraformPlanJson(Read("terraform/show-json__state__output.json"));
  ASSERT_FALSE(state.ok());
  EXPECT_THAT(state.status().message(), ::testing::HasSubstr("a state document, not a plan"));
}

TEST(PulumiEventsTest, UpStream) {
  auto events = ParseAll("pulumi/up.json", ParsePulumiLine);
  ASSERT_FALSE(events.empty());
  bool prelude = false, resource = false, summary = false, cancel = false;
  for (const auto& e : events) {
    EXPECT_NE(e.kind, Kind::kNotJson);
    if (e.type == "preludeEvent") prelude = true;
    if (e.resource && e.resource->address.rfind("urn:pulumi:", 0) == 0) resource = true;
    if (e.summary) summary = true;
    if (e.kind == Kind::kCancel) cancel = true;
  }
  EXPECT_TRUE(prelude);
  EXPECT_TRUE(resource);
  EXPECT_TRUE(summary || cancel);
}

TEST(PulumiEventsTest, FailuresAndInterruptsParse) {
  for (const char* file : {"pulumi/up-interrupted.json", "pulumi/failed-stacks-dont-rewrite-operations.json",
                           "pulumi/destroy-with-components.json"}) {
    auto events = ParseAll(file, ParsePulumiLine);
    EXPECT_FALSE(events.empty()) << file;
    for (const auto& e : events) EXPECT_NE(e.kind, Kind::kNotJson) << file;
  }
  EngineEvent summary = ParsePulumiLine(
      R"({"sequence":9,"summaryEvent":{"resourceChanges":{"create":2,"update":1,"delete":3,"replace":1,"same":7}}})");
  ASSERT_TRUE(summary.summary);
  EXPECT_EQ(summary.summary->add, 2);
  EXPECT_EQ(summary.summary->change, 1);
  EXPECT_EQ(summary.summary->remove, 3);
  EXPECT_EQ(summary.summary->replace, 1);
  EXPECT_EQ(ParsePulumiLine(R"({"sequence":3,"newEngineThing":{}})").kind, Kind::kUnknown);
}

TEST(RedactorTest, SecretsNeverSurvive) {
  Redactor r({"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "pa\"ss\\word", "ab",
              "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"});
  EXPECT_EQ(r.Redact("key=AKIAIOSFODNN7EXAMPLE secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCY"),
            "key=[REDACTED] secret=[REDACTED]");
  EXPECT_EQ(r.Redact(R"({"password":"pa\"ss\\word"})"), R"({"password":"[REDACTED]"})");
  EXPECT_EQ(r.Redact("line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "line: [REDACTED]");
  EXPECT_EQ(r.Redact("ab stays: too short to be a secret"), "ab stays: too short to be a secret");
  EXPECT_EQ(r.Redact("AKIAIOSFODNN7EXAMPLEAKIAIOSFODNN7EXAMPLE"), "[REDACTED][REDACTED]");
}

}  // namespace
}  // namespace plinth::engine
