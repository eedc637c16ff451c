#include "plinth/server/console.h"

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/support/status.h"
#include "nlohmann/json.hpp"
#include "plinth/core/logging.h"
#include "plinth/core/secret_box.h"

namespace plinth::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kCookie[] = "plinth_session";

// No inline script or style anywhere; chart icons may come from https.
constexpr char kSecurityHeaders[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n";

HttpAnswer Json(int status, const std::string& body, const std::string& extra = "") {
  HttpAnswer a;
  a.status = status;
  a.body = body;
  a.content_type = "application/json";
  a.headers = absl::StrCat(kSecurityHeaders, "Cache-Control: no-store\r\n", extra);
  return a;
}

HttpAnswer JsonError(int status, const std::string& code, const std::string& message) {
  return Json(status, nlohmann::json({{"code", code}, {"message", message}}).dump());
}

std::string Header(const HttpCall& call, const std::string& name) {
  auto it = call.headers.find(name);
  return it == call.headers.end() ? "" : it->second;
}

std::string CookieOf(const HttpCall& call, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(Header(call, "cookie"), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) return std::string(part);
  }
  return "";
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One query parameter, percent-decoded ('+' is a space).
std::string QueryParam(const std::string& query, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    if (!absl::ConsumePrefix(&part, name) || !absl::ConsumePrefix(&part, "=")) continue;
    std::string out;
    for (size_t i = 0; i < part.size(); ++i) {
      if (part[i] == '+') {
        out += ' ';
      } else if (part[i] == '%' && i + 2 < part.size() && HexDigit(part[i + 1]) >= 0 && HexDigit(part[i + 2]) >= 0) {
        out += static_cast<char>(HexDigit(part[i + 1]) * 16 + HexDigit(part[i + 2]));
        i += 2;
      } else {
        out += part[i];
      }
    }
    return out;
  }
  return "";
}

const char* TypeOf(const std::string& path) {
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".svg")) return "image/svg+xml";
  if (absl::EndsWith(path, ".png")) return "image/png";
  return "application/octet-stream";
}

// The host part of an Origin header ("http://host:port" -> "host:port").
std::string OriginHost(const std::string& origin) {
  size_t scheme = origin.find("://");
  return scheme == std::string::npos ? origin : origin.substr(scheme + 3);
}

}  // namespace

Console::Console(std::unique_ptr<api::JsonBridge> bridge, Options options)
    : bridge_(std::move(bridge)), options_(options) {
  for (size_t i = 0; i < kConsoleAssetCount; ++i) assets_[kConsoleAssets[i].path] = &kConsoleAssets[i];
}

HttpAnswer Console::Handle(const HttpCall& call) {
  const std::string& p = call.path;
  const bool get = call.method == "GET" || call.method == "HEAD";
  if (p == "/" || p == "/index.html") {
    if (!get) return JsonError(405, "METHOD_NOT_ALLOWED", "use GET");
    return Asset(call, "index.html");
  }
  if (p == "/ui/session") {
    if (call.method == "POST") return SignIn(call);
    if (call.method == "DELETE") return SignOut(call);
    if (get) return SessionInfo(call);
    return JsonError(405, "METHOD_NOT_ALLOWED", "use GET, POST or DELETE");
  }
  if (absl::StartsWith(p, "/ui/api/")) {
    if (call.method != "POST") return JsonError(405, "METHOD_NOT_ALLOWED", "use POST");
    return ApiCall(call);
  }
  if (absl::StartsWith(p, "/ui/stream/")) {
    if (!get) return JsonError(405, "METHOD_NOT_ALLOWED", "use GET");
    return StreamCall(call);
  }
  if (absl::StartsWith(p, "/ui/") && get) return Asset(call, p.substr(4));
  HttpAnswer a;
  a.status = 404;
  a.body = "not found\n";
  return a;
}

HttpAnswer Console::Asset(const HttpCall& call, const std::string& name) {
  auto it = assets_.find(name);
  if (it == assets_.end()) return JsonError(404, "NOT_FOUND", "no such console file: " + name);
  const ConsoleAsset& asset = *it->second;
  std::string body(reinterpret_cast<const char*>(asset.data), asset.size);
  // Revalidated on every load (the binary may have been upgraded), and
  // answered with 304 when unchanged.
  std::string etag = absl::StrCat("\"", core::Sha256Hex(body).substr(0, 16), "\"");
  HttpAnswer a;
  a.content_type = TypeOf(name);
  a.headers = absl::StrCat(kSecurityHeaders, "Cache-Control: no-cache\r\nETag: ", etag, "\r\n");
  if (Header(call, "if-none-match") == etag) {
    a.status = 304;
    return a;
  }
  a.body = std::move(body);
  return a;
}

bool Console::Lookup(const HttpCall& call, Session* out) {
  std::string id = CookieOf(call, kCookie);
  if (id.empty()) return false;
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  const auto now = Clock::now();
  if (now - it->second.used > options_.idle_timeout || now - it->second.created > options_.max_age) {
    sessions_.erase(it);
    return false;
  }
  it->second.used = now;
  *out = it->second;
  return true;
}

std::string Console::RefuseChange(const HttpCall& call, const Session* session) const {
  std::string origin = Header(call, "origin");
  if (!origin.empty() && OriginHost(origin) != Header(call, "host")) {
    return absl::StrCat("request from another origin (", origin, ") refused");
  }
  if (session != nullptr && !core::ConstantTimeEquals(Header(call, "x-plinth-csrf"), session->csrf)) {
    return "the request lacks this session's CSRF token (header X-Plinth-CSRF); reload the page";
  }
  return "";
}

HttpAnswer Console::SignIn(const HttpCall& call) {
  if (!absl::StartsWith(absl::AsciiStrToLower(Header(call, "content-type")), "application/json")) {
    return JsonError(415, "INVALID_ARGUMENT", "sign in with a JSON body {\"token\": ...}");
  }
  if (std::string why = RefuseChange(call, nullptr); !why.empty()) return JsonError(403, "PERMISSION_DENIED", why);
  nlohmann::json body = nlohmann::json::parse(call.body, nullptr, false);
  if (!body.is_object() || (body.contains("token") && !body["token"].is_string())) {
    return JsonError(400, "INVALID_ARGUMENT", "body: must be {\"token\": \"...\"}");
  }
  std::string token = body.value("token", "");
  if (options_.auth_required && token.empty()) return JsonError(400, "INVALID_ARGUMENT", "token: required");
  // The API decides whether the token is good, as for any call.
  api::JsonBridge::Answer who = bridge_->Call("plinth.v1.GrantService/GetMyAccess", "{}", token);
  if (who.http_status != 200) {
    if (who.http_status == 401) return JsonError(401, "UNAUTHENTICATED", "that token is not valid here");
    return Json(who.http_status, who.json);
  }
  nlohmann::json access = nlohmann::json::parse(who.json, nullptr, false);
  Session s;
  s.token = token;
  s.actor = access.is_object() ? access.value("identity", "") : "";
  s.csrf = core::RandomHex(32);
  s.created = s.used = Clock::now();
  std::string id = core::RandomHex(32);
  {
    absl::MutexLock lock(&mu_);
    if (sessions_.size() >= options_.max_sessions) {
      // Drop the one unused the longest.
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second.used < oldest->second.used) oldest = it;
      }
      sessions_.erase(oldest);
    }
    sessions_[id] = s;
  }
  core::Logger("server")->info("console: {} signed in", s.actor);
  const bool https = Header(call, "x-forwarded-proto") == "https";
  std::string cookie = absl::StrCat("Set-Cookie: ", kCookie, "=", id, "; Path=/; HttpOnly; SameSite=Strict",
                                    https ? "; Secure" : "", "; Max-Age=", options_.max_age.count(), "\r\n");
  return Json(200, nlohmann::json({{"identity", s.actor}, {"csrf", s.csrf}, {"access", access}}).dump(), cookie);
}

HttpAnswer Console::SessionInfo(const HttpCall& call) {
  Session s;
  if (!Lookup(call, &s)) {
    return Json(401, nlohmann::json({{"code", "UNAUTHENTICATED"},
                                     {"message", "not signed in"},
                                     {"auth_required", options_.auth_required}})
                         .dump());
  }
  return Json(200, nlohmann::json({{"identity", s.actor}, {"csrf", s.csrf}}).dump());
}

HttpAnswer Console::SignOut(const HttpCall& call) {
  Session s;
  const bool found = Lookup(call, &s);
  if (found) {
    if (std::string why = RefuseChange(call, &s); !why.empty()) return JsonError(403, "PERMISSION_DENIED", why);
    absl::MutexLock lock(&mu_);
    sessions_.erase(CookieOf(call, kCookie));
  }
  return Json(200, "{}", absl::StrCat("Set-Cookie: ", kCookie, "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n"));
}

HttpAnswer Console::ApiCall(const HttpCall& call) {
  Session s;
  if (!Lookup(call, &s)) return JsonError(401, "UNAUTHENTICATED", "not signed in (or the session ended): sign in again");
  if (std::string why = RefuseChange(call, &s); !why.empty()) return JsonError(403, "PERMISSION_DENIED", why);
  std::string method = call.path.substr(strlen("/ui/api/"));
  api::JsonBridge::Answer a = bridge_->Call(method, call.body, s.token);
  return Json(a.http_status, a.json);
}

HttpAnswer Console::StreamCall(const HttpCall& call) {
  Session s;
  if (!Lookup(call, &s)) return JsonError(401, "UNAUTHENTICATED", "not signed in (or the session ended): sign in again");
  std::string method = call.path.substr(strlen("/ui/stream/"));
  if (api::JsonBridge::ShapeOf(method) != api::JsonBridge::Shape::kServerStreaming) {
    return JsonError(404, "NOT_FOUND", absl::StrCat("method ", method, ": no such server-streaming method"));
  }
  std::string request = QueryParam(call.query, "request");
  HttpAnswer a;
  a.content_type = "text/event-stream";
  a.headers = kSecurityHeaders;
  api::JsonBridge* bridge = bridge_.get();
  a.stream = [bridge, method, request, token = s.token](HttpStream& out) {
    // Opens the stream at once, so the page knows it is connected.
    if (!out.Write(": connected\n\n")) return;
    api::JsonBridge::Answer end = bridge->Stream(
        method, request, token,
        [&out](const std::string& json) { return out.Write(absl::StrCat("data: ", json, "\n\n")); },
        [&out](std::function<void()> cancel) { out.OnClose(std::move(cancel)); });
    if (end.http_status == 200) {
      out.Write("event: end\ndata: {}\n\n");
    } else {
      out.Write(absl::StrCat("event: failed\ndata: ", end.json, "\n\n"));
    }
  };
  return a;
}

}  // namespace plinth::server
