#include "plinth/server/state_backend.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "plinth/core/logging.h"
#include "plinth/orchestrator/state_tokens.h"

namespace plinth::server {
namespace {

using nlohmann::json;

HttpAnswer Text(int status, const std::string& text) { return {status, text + "\n", "text/plain"}; }
HttpAnswer Json(int status, const std::string& body) { return {status, body, "application/json"}; }

std::string QueryValue(const std::string& query, const std::string& name) {
  for (absl::string_view kv : absl::StrSplit(query, '&')) {
    if (absl::StartsWith(kv, name + "=")) {
      std::string out;
      absl::string_view v = kv.substr(name.size() + 1);
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size()) {
          int hi = 0, lo = 0;
          auto hex = [](char c, int* out) {
            if (c >= '0' && c <= '9') *out = c - '0';
            else if (c >= 'a' && c <= 'f') *out = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') *out = c - 'A' + 10;
            else return false;
            return true;
          };
          if (hex(v[i + 1], &hi) && hex(v[i + 2], &lo)) {
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
            continue;
          }
        }
        out.push_back(v[i] == '+' ? ' ' : v[i]);
      }
      return out;
    }
  }
  return "";
}

}  // namespace

HttpAnswer StateBackend::Handle(const HttpCall& call) {
  const std::string resource_id = call.path.substr(std::string("/v1/state/").size());
  if (resource_id.empty() || resource_id.find('/') != std::string::npos || resource_id.size() > 128) {
    return Text(404, "not found: /v1/state/<resource id>");
  }
  // Who: the job's token, as HTTP basic auth's password.
  auto auth = call.headers.find("authorization");
  std::string password;
  if (auth != call.headers.end() && absl::StartsWithIgnoreCase(auth->second, "basic ")) {
    std::string decoded;
    if (absl::Base64Unescape(absl::StripAsciiWhitespace(auth->second.substr(6)), &decoded)) {
      password = decoded.substr(decoded.find(':') == std::string::npos ? decoded.size() : decoded.find(':') + 1);
    }
  }
  if (password.empty()) return Text(401, "unauthenticated: the state backend takes a job's state token as the password");
  auto job_id = orchestrator::CheckStateToken(token_key_, password, resource_id, absl::Now());
  if (!job_id.ok()) {
    return Text(job_id.status().code() == absl::StatusCode::kPermissionDenied ? 403 : 401,
                std::string(job_id.status().message()));
  }
  auto job = jobs_->Get(*job_id);
  if (!job.ok() || job->resource_id != resource_id) return Text(401, "unauthenticated: the token's job is unknown");
  if (job->Terminal())
    return Text(401,
                absl::StrCat("unauthenticated: job ", *job_id, " has ended (", store::JobStateName(job->state), ")"));

  if (call.method == "GET") {
    auto latest = states_->Get(resource_id);
    if (!latest.ok()) return Text(500, std::string(latest.status().message()));
    if (!*latest) return {204, "", "text/plain"};
    return Json(200, (*latest)->content);
  }
  if (call.method == "POST") {
    store::StateLockRecord holder;
    auto put = states_->Put(resource_id, "terraform", call.body, *job_id, QueryValue(call.query, "ID"), &holder);
    if (put.ok()) return Text(200, absl::StrCat("state version ", put->version));
    if (put.status().code() == absl::StatusCode::kFailedPrecondition) return Json(409, holder.info.dump());
    if (put.status().code() == absl::StatusCode::kInvalidArgument) return Text(400, std::string(put.status().message()));
    return Text(500, std::string(put.status().message()));
  }
  if (call.method == "LOCK" || call.method == "UNLOCK") {
    json info = json::parse(call.body, nullptr, false);
    if (!info.is_object()) return Text(400, "lock info: not a JSON object");
    store::StateLockRecord holder;
    if (call.method == "LOCK") {
      auto locked = states_->Lock(resource_id, info, *job_id, &holder);
      if (locked.ok()) return Text(200, "locked");
      if (locked.status().code() == absl::StatusCode::kFailedPrecondition) {
        core::Logger("state")->warn("job={} resource={}: state lock refused: {}", *job_id, resource_id,
                                    locked.status().message());
        return Json(409, holder.info.dump());
      }
      return Text(locked.status().code() == absl::StatusCode::kInvalidArgument ? 400 : 500,
                  std::string(locked.status().message()));
    }
    const std::string id = info.value("ID", "");
    if (id.empty()) return Text(400, "lock info: ID is empty");
    auto unlocked = states_->Unlock(resource_id, id, "job " + *job_id, &holder);
    if (unlocked.ok() || unlocked.status().code() == absl::StatusCode::kNotFound) return Text(200, "unlocked");
    if (unlocked.status().code() == absl::StatusCode::kFailedPrecondition) return Json(409, holder.info.dump());
    return Text(500, std::string(unlocked.status().message()));
  }
  return Text(405, "method not allowed: GET, POST, LOCK, UNLOCK (plinthd keeps every state version; "
                   "states are never deleted through the backend)");
}

}  // namespace plinth::server
