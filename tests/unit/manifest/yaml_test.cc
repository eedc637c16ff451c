#include "plinth/manifest/yaml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::manifest {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json ParseOne(const std::string& text) {
  auto docs = ParseYamlDocuments(text, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->empty()) return nullptr;
  return docs->front().value;
}

TEST(YamlTest, PlainScalarsFollowTheCoreSchema) {
  json v = ParseOne(
      "i: 42\nneg: -7\nhex: 0x1f\noct: 0o17\nf: 1.5\nexp: 1e3\nt: true\nF: False\n"
      "n: null\ntilde: ~\nempty:\ns: hello\nyes: yes\nver: 1.2.3\n");
  EXPECT_EQ(v["i"], 42);
  EXPECT_EQ(v["neg"], -7);
  EXPECT_EQ(v["hex"], 31);
  EXPECT_EQ(v["oct"], 15);
  EXPECT_DOUBLE_EQ(v["f"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(v["exp"].get<double>(), 1000.0);
  EXPECT_EQ(v["t"], true);
  EXPECT_EQ(v["F"], false);
  EXPECT_TRUE(v["n"].is_null());
  EXPECT_TRUE(v["tilde"].is_null());
  EXPECT_TRUE(v["empty"].is_null());
  EXPECT_EQ(v["s"], "hello");
  EXPECT_EQ(v["yes"], "yes");  // YAML 1.2: not a boolean
  EXPECT_EQ(v["ver"], "1.2.3");
}

TEST(YamlTest, QuotedScalarsAndTaggedStringsStayStrings) {
  json v = ParseOne("a: \"42\"\nb: 'true'\nc: !!str 7\nd: !!int \"12\"\n");
  EXPECT_EQ(v["a"], "42");
  EXPECT_EQ(v["b"], "true");
  EXPECT_EQ(v["c"], "7");
  EXPECT_EQ(v["d"], 12);
}

TEST(YamlTest, JsonInputParses) {
  json v = ParseOne(R"({"apiVersion": "x/v1", "n": 3, "l": [1, "2", null], "o": {}})");
  EXPECT_EQ(v["apiVersion"], "x/v1");
  EXPECT_EQ(v["n"], 3);
  EXPECT_EQ(v["l"], json::array({1, "2", nullptr}));
  EXPECT_TRUE(v["o"].is_object());
}

TEST(YamlTest, MultipleDocumentsKeepTheirNumbersAndEmptyOnesAreNull) {
  auto docs = ParseYamlDocuments("a: 1\n---\n# only a comment\n---\nb: 2\n", "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0].value["a"], 1);
  EXPECT_TRUE((*docs)[1].value.is_null());
  EXPECT_EQ((*docs)[2].value["b"], 2);
}

TEST(YamlTest, DuplicateKeyIsAnErrorWithItsLine) {
  auto docs = ParseYamlDocuments("a: 1\nb:\n  c: 1\n  c: 2\n", "dup.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(docs.status().message(), HasSubstr("dup.yaml: line 4"));
  EXPECT_THAT(docs.status().message(), HasSubstr("duplicate key \"c\""));
}

TEST(YamlTest, SyntaxErrorNamesFileAndLine) {
  auto docs = ParseYamlDocuments("a: [1, 2\nb: 3\n", "bad.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(docs.status().message(), HasSubstr("bad.yaml: line"));
}

TEST(YamlTest, NulByteIsRejected) {
  auto docs = ParseYamlDocuments(std::string("a: 1\nb: \0\n", 10), "nul.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(docs.status().message(), HasSubstr("nul.yaml: line 2: contains a NUL byte"));
}

TEST(YamlTest, InvalidUtf8IsRejected) {
  for (const std::string& text : {std::string("a: b\x84\x84\n"), std::string("\xff: 1\n"),
                                 std::string("a: \"\\ud800\"\n"), std::string("a: \xc0\xaf\n")}) {
    auto docs = ParseYamlDocuments(text, "utf.yaml");
    ASSERT_FALSE(docs.ok()) << text;
    EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(ParseYamlDocuments("name: \"caf\u00e9 \u2603 \U0001F600\"\n", "utf.yaml").ok());
}

TEST(YamlTest, DeepNestingIsRejectedNotACrash) {
  std::string deep(5000, '[');
  auto docs = ParseYamlDocuments(deep, "deep.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(YamlTest, AliasBombIsRejected) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'h'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i ? ", *" : "*") + prev;
    text += "]\n";
    prev = c;
  }
  auto docs = ParseYamlDocuments(text, "bomb.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(docs.status().message(), HasSubstr("more than"));
}

TEST(YamlTest, InputThatHungYamlCppIsAnError) {
  // 40 bytes on which yaml-cpp 0.7 loops forever; the fuzzer found it.
  const std::string text("# A VPC an\n ,label\xf3:\n   : kuberneot sube", 40);
  auto docs = ParseYamlDocuments(text, "hang.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(YamlTest, AliasesExpandAndUnknownAliasesAreErrors) {
  json v = ParseOne("base: &b {cpu: 1, tags: [a]}\ncopy: *b\nname: &n x\nother: *n\n");
  EXPECT_EQ(v["copy"], v["base"]);
  EXPECT_EQ(v["other"], "x");
  auto bad = ParseYamlDocuments("a: *nope\n", "alias.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("alias.yaml: line 1"));
}

TEST(YamlTest, NonScalarKeyIsRejected) {
  auto docs = ParseYamlDocuments("? [a, b]\n: 1\n", "k.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(docs.status().message(), HasSubstr("mapping key must be a plain value"));
}

TEST(YamlTest, JsonToYamlRoundTripsTypes) {
  json v = {{"s", "hello"}, {"num_string", "42"}, {"bool_string", "true"}, {"yes", "yes"},
            {"n", 7}, {"f", 2.5}, {"b", false}, {"null", nullptr}, {"empty", ""},
            {"multi", "line1\nline2\n"}, {"list", {1, "a"}}, {"obj", {{"k", "v"}}},
            {"empty_list", json::array()}, {"empty_obj", json::object()}};
  std::string yaml = JsonToYaml(v);
  auto back = ParseYamlDocuments(yaml, "rt.yaml");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << yaml;
  EXPECT_EQ(back->front().value, v) << yaml;
}

}  // namespace
}  // namespace plinth::manifest
