// The web console's HTTP side against the real plinthd: its files and
// headers, sign-in sessions, CSRF and origin checks, the API in JSON with
// the same grants as gRPC, server streams as server-sent events, sign-out,
// and --ui off.
#include <fstream>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "test_paths.h"

namespace plinth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdmin[] = "console-admin-token-1";
constexpr char kViewer[] = "console-viewer-token-2";

class ConsoleHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.path() + "/tokens") << kAdmin << " admin\n" << kViewer << " viewer scoped\n";
    std::string config = dir_.path() + "/plinthd.yaml";
    std::ofstream(config) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                          << "modules: {default: {engine: tofu, source: " << PLINTH_SOURCE_DIR
                          << "/examples/modules/sim}}\n";
    ASSERT_TRUE(d_.Start({"--config", config, "--auth-token-file", dir_.path() + "/tokens"}).ok()) << d_.Stderr();
    size_t colon = d_.http_address().rfind(':');
    host_ = d_.http_address().substr(0, colon);
    port_ = std::stoi(d_.http_address().substr(colon + 1));
  }

  httplib::Client Client() {
    httplib::Client c(host_, port_);
    c.set_read_timeout(20);
    return c;
  }

  // Signs in; returns the cookie header value and the CSRF token.
  std::pair<std::string, std::string> SignIn(const std::string& token) {
    auto res = Client().Post("/ui/session", nlohmann::json({{"token", token}}).dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res || res->status != 200) return {"", ""};
    std::string cookie = res->get_header_value("Set-Cookie");
    return {cookie.substr(0, cookie.find(';')), nlohmann::json::parse(res->body)["csrf"]};
  }

  httplib::Result Api(const std::pair<std::string, std::string>& s, const std::string& method,
                      const std::string& body) {
    httplib::Headers h = {{"Cookie", s.first}, {"X-Plinth-CSRF", s.second}};
    return Client().Post(("/ui/api/plinth.v1." + method).c_str(), h, body, "application/json");
  }

  TempDir dir_;
  DaemonProcess d_;
  std::string host_;
  int port_ = 0;
};

TEST_F(ConsoleHttpTest, PagesComeWithTheirSecurityHeadersAndRevalidate) {
  auto page = Client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->get_header_value("Content-Type"), HasSubstr("text/html"));
  std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(page->body, HasSubstr("<script type=\"module\" src=\"/ui/app.js\"></script>"));

  auto js = Client().Get("/ui/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_THAT(js->get_header_value("Content-Type"), HasSubstr("text/javascript"));
  std::string etag = js->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = Client().Get("/ui/app.js", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());

  auto missing = Client().Get("/ui/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  // The other endpoints of the HTTP side are unchanged.
  auto health = Client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(ConsoleHttpTest, SignInRefusesBadTokensBodiesAndOtherOrigins) {
  auto c = Client();
  auto wrong = c.Post("/ui/session", R"({"token": "not-a-valid-token-000"})", "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_THAT(wrong->body, HasSubstr("not valid"));
  EXPECT_THAT(wrong->body, Not(HasSubstr("not-a-valid-token-000")));
  EXPECT_TRUE(wrong->get_header_value("Set-Cookie").empty());

  auto form = c.Post("/ui/session", std::string("token=") + kAdmin, "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  auto bad = c.Post("/ui/session", R"({"token": 7})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("token"));
  auto empty = c.Post("/ui/session", R"({})", "application/json");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);
  auto cross = c.Post("/ui/session", {{"Origin", "http://evil.example"}},
                      nlohmann::json({{"token", kAdmin}}).dump(), "application/json");
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);

  auto ok = c.Post("/ui/session", nlohmann::json({{"token", kAdmin}}).dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  std::string cookie = ok->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("plinth_session="));
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(cookie, Not(HasSubstr(kAdmin)));  // the token stays in plinthd
  EXPECT_EQ(nlohmann::json::parse(ok->body)["identity"], "admin");
}

TEST_F(ConsoleHttpTest, ApiCallsNeedTheSessionAndItsCsrfTokenAndObeyGrants) {
  auto admin = SignIn(kAdmin);
  ASSERT_FALSE(admin.first.empty());
  auto c = Client();
  auto anonymous = c.Post("/ui/api/plinth.v1.InfraProjectService/ListInfraProjects", "{}", "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto no_csrf = c.Post("/ui/api/plinth.v1.InfraProjectService/ListInfraProjects", {{"Cookie", admin.first}}, "{}",
                        "application/json");
  ASSERT_TRUE(no_csrf);
  EXPECT_EQ(no_csrf->status, 403);
  EXPECT_THAT(no_csrf->body, HasSubstr("CSRF"));
  auto wrong_csrf = c.Post("/ui/api/plinth.v1.InfraProjectService/ListInfraProjects",
                           {{"Cookie", admin.first}, {"X-Plinth-CSRF", std::string(64, 'a')}}, "{}", "application/json");
  ASSERT_TRUE(wrong_csrf);
  EXPECT_EQ(wrong_csrf->status, 403);

  const std::string manifest =
      "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: shop}\nspec: {name: shop}\n";
  auto applied = Api(admin, "CloudResourceService/ApplyCloudResources",
                     nlohmann::json({{"org", "acme"}, {"env", "dev"}, {"sources", {{{"content", manifest}}}}}).dump());
  ASSERT_TRUE(applied);
  ASSERT_EQ(applied->status, 200) << applied->body;
  auto body = nlohmann::json::parse(applied->body);
  EXPECT_EQ(body["results"][0]["action"], "CREATED");
  EXPECT_EQ(body["results"][0]["resource"]["name"], "shop");

  // Bad input: named, with the right status, and nothing changes.
  auto unknown_field = Api(admin, "CloudResourceService/ListCloudResources", R"({"colour": "red"})");
  ASSERT_TRUE(unknown_field);
  EXPECT_EQ(unknown_field->status, 400);
  EXPECT_THAT(unknown_field->body, HasSubstr("colour"));
  auto not_json = Api(admin, "CloudResourceService/ListCloudResources", "{nope");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  auto bad_manifest = Api(admin, "CloudResourceService/CreateCloudResource",
                          R"({"org": "acme", "env": "dev", "manifest": "kind: NoSuchKind\nmetadata: {name: x}\n"})");
  ASSERT_TRUE(bad_manifest);
  EXPECT_EQ(bad_manifest->status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad_manifest->body)["code"], "INVALID_ARGUMENT");
  auto missing = Api(admin, "CloudResourceService/GetCloudResource",
                     R"({"key": {"org": "acme", "env": "dev", "kind": "KubernetesNamespace", "name": "nope"}})");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto no_method = Api(admin, "CloudResourceService/Explode", "{}");
  ASSERT_TRUE(no_method);
  EXPECT_EQ(no_method->status, 404);
  auto runner_only = Api(admin, "RunnerService/Connect", "{}");
  ASSERT_TRUE(runner_only);
  EXPECT_EQ(runner_only->status, 404);
  auto list = Api(admin, "CloudResourceService/ListCloudResources", R"({"org": "acme"})");
  ASSERT_TRUE(list);
  EXPECT_EQ(nlohmann::json::parse(list->body)["resources"].size(), 1u);

  // A scoped identity with no grant: the same refusals as over gRPC.
  auto viewer = SignIn(kViewer);
  ASSERT_FALSE(viewer.first.empty());
  auto refused = Api(viewer, "CloudResourceService/GetCloudResource",
                     R"({"key": {"org": "acme", "env": "dev", "kind": "KubernetesNamespace", "name": "shop"}})");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(nlohmann::json::parse(refused->body)["code"], "PERMISSION_DENIED");
  auto create = Api(viewer, "CloudResourceService/ApplyCloudResources",
                    nlohmann::json({{"org", "acme"}, {"env", "dev"}, {"sources", {{{"content", manifest}}}}}).dump());
  ASSERT_TRUE(create);
  EXPECT_EQ(create->status, 403);
  auto empty = Api(viewer, "CloudResourceService/ListCloudResources", R"({"org": "acme"})");
  ASSERT_TRUE(empty);
  EXPECT_EQ(nlohmann::json::parse(empty->body)["resources"].size(), 0u);
}

TEST_F(ConsoleHttpTest, ServerStreamsArriveAsServerSentEvents) {
  auto admin = SignIn(kAdmin);
  const std::string manifest =
      "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: shop}\nspec: {name: shop}\n";
  auto applied = Api(admin, "CloudResourceService/ApplyCloudResources",
                     nlohmann::json({{"org", "acme"}, {"env", "dev"}, {"sources", {{{"content", manifest}}}}}).dump());
  ASSERT_TRUE(applied);
  std::string id = nlohmann::json::parse(applied->body)["results"][0]["resource"]["id"];
  auto job = Api(admin, "StackJobService/CreateStackJob",
                 nlohmann::json({{"resource_id", id}, {"operation", "update"}}).dump());
  ASSERT_TRUE(job);
  ASSERT_EQ(job->status, 200) << job->body;
  std::string job_id = nlohmann::json::parse(job->body)["id"];

  // Follows the job to its end: every event, then "end".
  std::string request = "%7B%22job_id%22%3A%22" + job_id + "%22%7D";
  auto events = Client().Get(("/ui/stream/plinth.v1.StackJobService/StreamStackJobEvents?request=" + request).c_str(),
                             {{"Cookie", admin.first}});
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 200);
  EXPECT_EQ(events->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_THAT(events->body, HasSubstr("data: {"));
  EXPECT_THAT(events->body, HasSubstr("\"state\":\"succeeded\""));
  EXPECT_THAT(events->body, HasSubstr("event: end\n"));

  // A stream the API refuses ends with its error.
  auto failed = Client().Get("/ui/stream/plinth.v1.InfraPipelineService/WatchInfraPipeline?request=%7B%22id%22%3A%22pl-nope%22%7D",
                             {{"Cookie", admin.first}});
  ASSERT_TRUE(failed);
  EXPECT_THAT(failed->body, HasSubstr("event: failed\ndata: {\"code\":\"NOT_FOUND\""));
  // Not signed in, a unary method, a malformed request: refused before any stream.
  auto anonymous = Client().Get(("/ui/stream/plinth.v1.StackJobService/StreamStackJobEvents?request=" + request).c_str());
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto unary = Client().Get("/ui/stream/plinth.v1.StackJobService/GetStackJob?request=%7B%7D", {{"Cookie", admin.first}});
  ASSERT_TRUE(unary);
  EXPECT_EQ(unary->status, 404);
  auto garbled = Client().Get("/ui/stream/plinth.v1.StackJobService/StreamStackJobEvents?request=%7Bnope",
                              {{"Cookie", admin.first}});
  ASSERT_TRUE(garbled);
  EXPECT_THAT(garbled->body, HasSubstr("INVALID_ARGUMENT"));
}

TEST_F(ConsoleHttpTest, SignOutEndsTheSession) {
  auto admin = SignIn(kAdmin);
  auto c = Client();
  auto who = c.Get("/ui/session", {{"Cookie", admin.first}});
  ASSERT_TRUE(who);
  EXPECT_EQ(who->status, 200);
  EXPECT_EQ(nlohmann::json::parse(who->body)["identity"], "admin");
  // Without the CSRF token, sign-out is refused (and the session lives on).
  auto forged = c.Delete("/ui/session", {{"Cookie", admin.first}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  auto out = c.Delete("/ui/session", {{"Cookie", admin.first}, {"X-Plinth-CSRF", admin.second}});
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
  EXPECT_THAT(out->get_header_value("Set-Cookie"), HasSubstr("Max-Age=0"));
  auto after = Api(admin, "InfraProjectService/ListInfraProjects", "{}");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  auto gone = c.Get("/ui/session", {{"Cookie", admin.first}});
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 401);
  EXPECT_EQ(nlohmann::json::parse(gone->body)["auth_required"], true);
}

TEST(ConsoleOffTest, UiOffServesNoConsole) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start({"--ui", "off"}).ok()) << d.Stderr();
  size_t colon = d.http_address().rfind(':');
  httplib::Client c(d.http_address().substr(0, colon), std::stoi(d.http_address().substr(colon + 1)));
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 404);
  auto api = c.Post("/ui/session", R"({"token": ""})", "application/json");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 404);
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  DaemonProcess bad;
  EXPECT_FALSE(bad.Start({"--ui", "maybe"}).ok());
  EXPECT_THAT(bad.Stderr(), HasSubstr("ui \"maybe\": use on or off"));
}

TEST(ConsoleAnonymousTest, WithoutATokenFileEveryoneSignsInAsAnonymous) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
  size_t colon = d.http_address().rfind(':');
  httplib::Client c(d.http_address().substr(0, colon), std::stoi(d.http_address().substr(colon + 1)));
  auto before = c.Get("/ui/session");
  ASSERT_TRUE(before);
  EXPECT_EQ(nlohmann::json::parse(before->body)["auth_required"], false);
  auto in = c.Post("/ui/session", R"({"token": ""})", "application/json");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->status, 200);
  EXPECT_EQ(nlohmann::json::parse(in->body)["identity"], "anonymous");
}

}  // namespace
}  // namespace plinth::testing
