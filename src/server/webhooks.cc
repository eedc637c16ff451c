#include "plinth/server/webhooks.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "plinth/core/logging.h"
#include "plinth/core/secret_box.h"

namespace plinth::server {
namespace {

using nlohmann::json;

std::string Header(const WebhookRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& Obj(const json& j, const char* key) {
  static const json kEmpty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

std::string BranchOf(const std::string& ref) {
  return absl::StartsWith(ref, "refs/heads/") ? ref.substr(11) : "";
}

// What a delivery asks for, read from the payload.
struct Parsed {
  std::string event;  // as the provider names it
  std::vector<std::string> urls;
  std::string ref, commit;
  bool act = false;  // push or pull request: handled by GitProjects
  std::string ignored;  // why nothing is to be done, when act is false
  gitsource::GitEvent git;
};

Parsed ParseGitHub(const std::string& event, const json& body) {
  Parsed p;
  p.event = event;
  const json& repo = Obj(body, "repository");
  for (const char* key : {"clone_url", "html_url", "git_url", "ssh_url", "url"}) p.urls.push_back(Str(repo, key));
  p.git.provider = "github";
  p.git.repo_urls = p.urls;
  if (event == "ping") {
    p.ignored = "pong";
  } else if (event == "push") {
    p.ref = Str(body, "ref");
    p.commit = Str(body, "after");
    p.git.kind = "push";
    p.git.branch = BranchOf(p.ref);
    p.git.commit = p.commit;
    p.git.deleted = body.value("deleted", false);
    p.act = !p.git.branch.empty();
    if (!p.act) p.ignored = absl::StrCat("push to ", p.ref, " is not to a branch; ignored");
  } else if (event == "pull_request") {
    const json& pr = Obj(body, "pull_request");
    p.git.kind = "pull_request";
    p.git.action = Str(body, "action");
    p.git.number = body.value("number", pr.value("number", int64_t{0}));
    p.git.branch = Str(Obj(pr, "base"), "ref");
    p.git.commit = Str(Obj(pr, "head"), "sha");
    p.ref = absl::StrCat("pull/", p.git.number);
    p.commit = p.git.commit;
    p.act = p.git.number > 0 && !p.git.branch.empty();
    if (!p.act) p.ignored = "pull_request without number or base branch; ignored";
  } else {
    p.ignored = absl::StrCat("event ", event, " needs nothing; ignored");
  }
  return p;
}

Parsed ParseGitLab(const std::string& header_event, const json& body) {
  Parsed p;
  std::string kind = Str(body, "object_kind");
  p.event = kind.empty() ? header_event : kind;
  const json& project = Obj(body, "project");
  const json& repository = Obj(body, "repository");
  for (const char* key : {"git_http_url", "web_url", "git_ssh_url", "http_url", "url"}) {
    p.urls.push_back(Str(project, key));
    p.urls.push_back(Str(repository, key));
  }
  p.urls.push_back(Str(repository, "homepage"));
  p.git.provider = "gitlab";
  p.git.repo_urls = p.urls;
  if (kind == "push") {
    p.ref = Str(body, "ref");
    p.commit = Str(body, "after");
    p.git.kind = "push";
    p.git.branch = BranchOf(p.ref);
    p.git.commit = p.commit;
    p.git.deleted = p.commit.find_first_not_of('0') == std::string::npos;  // GitLab: all zeros
    p.act = !p.git.branch.empty();
    if (!p.act) p.ignored = absl::StrCat("push to ", p.ref, " is not to a branch; ignored");
  } else if (kind == "merge_request") {
    const json& mr = Obj(body, "object_attributes");
    std::string action = Str(mr, "action");
    p.git.kind = "pull_request";
    p.git.number = mr.value("iid", int64_t{0});
    p.git.branch = Str(mr, "target_branch");
    p.git.commit = Str(Obj(mr, "last_commit"), "id");
    if (action == "open") p.git.action = "opened";
    else if (action == "reopen") p.git.action = "reopened";
    // An update carries oldrev only when commits were pushed; a new title
    // or label needs no new plan.
    else if (action == "update") p.git.action = mr.contains("oldrev") ? "synchronize" : "edited";
    else if (action == "close" || action == "merge") p.git.action = "closed";
    else p.git.action = action;
    p.ref = absl::StrCat("merge-requests/", p.git.number);
    p.commit = p.git.commit;
    p.act = p.git.number > 0 && !p.git.branch.empty();
    if (!p.act) p.ignored = "merge_request without iid or target branch; ignored";
  } else {
    p.ignored = absl::StrCat("event ", p.event.empty() ? "(none)" : p.event, " needs nothing; ignored");
  }
  return p;
}

json EventJson(const gitsource::GitEvent& e) {
  return {{"provider", e.provider}, {"kind", e.kind},     {"repoUrls", e.repo_urls}, {"branch", e.branch},
          {"commit", e.commit},     {"deleted", e.deleted}, {"number", e.number},     {"action", e.action}};
}

gitsource::GitEvent EventFromJson(const json& j) {
  gitsource::GitEvent e;
  e.provider = j.value("provider", "");
  e.kind = j.value("kind", "");
  e.repo_urls = j.value("repoUrls", std::vector<std::string>{});
  e.branch = j.value("branch", "");
  e.commit = j.value("commit", "");
  e.deleted = j.value("deleted", false);
  e.number = j.value("number", int64_t{0});
  e.action = j.value("action", "");
  return e;
}

}  // namespace

WebhookHandler::WebhookHandler(gitsource::GitProjects* git, store::WebhookDeliveryStore* deliveries,
                               core::Metrics* metrics)
    : git_(git), deliveries_(deliveries), metrics_(metrics),
      pool_(std::make_unique<core::ThreadPool>(1, "webhooks")) {
  metrics_->DefineCounter("plinth_webhook_deliveries_total", "Webhook deliveries by provider and result.");
}

WebhookHandler::~WebhookHandler() { pool_.reset(); }

void WebhookHandler::Count(const std::string& provider, const std::string& result) {
  metrics_->Inc("plinth_webhook_deliveries_total", {{"provider", provider}, {"result", result}});
}

WebhookResponse WebhookHandler::Reply(const std::string& provider, const std::string& result, int status,
                                      std::string body) {
  Count(provider, result);
  if (status >= 400) core::Logger("webhooks")->warn("{} webhook: {} ({})", provider, body, status);
  return {status, body + "\n"};
}

WebhookResponse WebhookHandler::Handle(const WebhookRequest& req) {
  const std::string& provider = req.provider;
  const bool github = provider == "github";
  std::string event = Header(req, github ? "x-github-event" : "x-gitlab-event");
  if (event.empty()) {
    return Reply(provider, "bad_request", 400,
                 absl::StrCat(github ? "X-GitHub-Event" : "X-Gitlab-Event", ": header required"));
  }
  std::string delivery = github ? Header(req, "x-github-delivery") : Header(req, "x-gitlab-event-uuid");
  if (!github && delivery.empty()) delivery = Header(req, "idempotency-key");
  if (github && delivery.empty()) return Reply(provider, "bad_request", 400, "X-GitHub-Delivery: header required");
  if (delivery.size() > 200) return Reply(provider, "bad_request", 400, "delivery id: longer than 200 characters");
  json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) return Reply(provider, "bad_request", 400, "body: not a JSON object");
  Parsed parsed = github ? ParseGitHub(event, body) : ParseGitLab(event, body);
  std::string repo;
  for (const auto& u : parsed.urls) {
    if (!u.empty()) {
      repo = u;
      break;
    }
  }
  if (repo.empty()) return Reply(provider, "bad_request", 400, "repository: the payload names no repository URL");

  // The signature header is checked before the repository is looked up,
  // and a repository nobody tracks gets the same 401 as a wrong signature:
  // an unsigned request must not learn which repositories plinth tracks.
  std::string signature = Header(req, "x-hub-signature-256");
  std::string token = Header(req, "x-gitlab-token");
  if (github && !absl::StartsWith(signature, "sha256=")) {
    return Reply(provider, "unauthorized", 401, "X-Hub-Signature-256: missing or not sha256=<hex>");
  }
  if (!github && token.empty()) return Reply(provider, "unauthorized", 401, "X-Gitlab-Token: missing");
  const std::string refused = github
                                  ? "X-Hub-Signature-256: does not match the webhook secret of any project tracking " + repo
                                  : "X-Gitlab-Token: not the webhook secret of any project tracking " + repo;
  auto projects = git_->Tracking(parsed.urls);
  if (!projects.ok()) return Reply(provider, "error", 500, std::string(projects.status().message()));
  if (projects->empty()) {
    // The operator's log says why; the answer and the public counter do not.
    core::Logger("webhooks")->info("{} webhook: no Git project tracks {}", provider, repo);
    return Reply(provider, "unauthorized", 401, refused);
  }
  // The projects whose secret signed (or came with) this delivery.
  std::vector<store::InfraProjectRecord> signed_for;
  for (auto& p : *projects) {
    auto secret = git_->WebhookSecret(p);
    if (!secret.ok() || secret->empty()) continue;
    bool ok = github ? core::ConstantTimeEquals(core::HmacSha256Hex(*secret, req.body), signature.substr(7))
                     // Equal-length digests: the compare leaks nothing of the token's length either.
                     : core::ConstantTimeEquals(core::HmacSha256Hex("gitlab", *secret), core::HmacSha256Hex("gitlab", token));
    if (ok) signed_for.push_back(std::move(p));
  }
  if (signed_for.empty()) return Reply(provider, "unauthorized", 401, refused);
  if (delivery.empty()) delivery = core::RandomHex(16);  // GitLab without an event UUID: no de-duplication

  store::WebhookDeliveryRecord record;
  record.provider = provider;
  record.delivery_id = delivery;
  record.event = parsed.event;
  record.repo_url = repo;
  record.ref = parsed.ref;
  record.commit = parsed.commit;
  record.result = parsed.act ? "accepted; acting" : parsed.ignored;
  if (parsed.act) {
    json ids = json::array();
    for (const auto& p : signed_for) ids.push_back(p.id);
    record.work = json{{"event", EventJson(parsed.git)}, {"projects", ids}}.dump();
  }
  auto claimed = deliveries_->Claim(record);
  if (!claimed.ok()) return Reply(provider, "error", 500, std::string(claimed.status().message()));
  if (!*claimed) {
    return Reply(provider, "duplicate", 200, absl::StrCat("delivery ", delivery, " was handled before; ignored"));
  }
  std::vector<std::string> names;
  for (const auto& p : signed_for) names.push_back(absl::StrCat(p.org, "/", p.env, "/", p.name));
  core::Logger("webhooks")->info("{} {} delivery {} for {} ({}): {}", provider, parsed.event, delivery, repo,
                                 absl::StrJoin(names, ", "), record.result);
  if (!parsed.act) return Reply(provider, parsed.event == "ping" ? "ping" : "ignored", 200, parsed.ignored);

  Act(provider, delivery, parsed.git, std::move(signed_for));
  return Reply(provider, "accepted", 200,
               absl::StrCat("accepted delivery ", delivery, " for ", absl::StrJoin(names, ", ")));
}

void WebhookHandler::Act(const std::string& provider, const std::string& delivery, const gitsource::GitEvent& event,
                         std::vector<store::InfraProjectRecord> projects) {
  pool_->Submit([this, provider, delivery, event, projects = std::move(projects)] {
    gitsource::EventOutcome outcome = git_->Handle(event, projects, absl::StrCat(provider, "-webhook"));
    core::Logger("webhooks")->info("{} delivery {}: {}", provider, delivery, outcome.result);
    absl::Status finished = deliveries_->Finish(provider, delivery, outcome.result, outcome.pipelines);
    if (!finished.ok()) core::Logger("webhooks")->error("recording delivery {}: {}", delivery, finished.message());
  });
}

void WebhookHandler::Resume() {
  auto unfinished = deliveries_->Unfinished();
  if (!unfinished.ok()) {
    core::Logger("webhooks")->error("reading unfinished webhook deliveries: {}", unfinished.status().message());
    return;
  }
  for (const auto& d : *unfinished) {
    json work = json::parse(d.work, nullptr, false);
    std::vector<std::string> ids;
    if (work.is_object() && work.contains("projects") && work["projects"].is_array()) {
      for (const auto& id : work["projects"]) {
        if (id.is_string()) ids.push_back(id.get<std::string>());
      }
    }
    if (!work.is_object() || !work.contains("event") || !work["event"].is_object()) {
      (void)deliveries_->Finish(d.provider, d.delivery_id, "unreadable work after a restart; nothing done", {});
      continue;
    }
    core::Logger("webhooks")->info("{} delivery {}: acting on it after a restart", d.provider, d.delivery_id);
    Act(d.provider, d.delivery_id, EventFromJson(work["event"]), git_->ByIds(ids));
  }
}

}  // namespace plinth::server
