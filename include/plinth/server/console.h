// The web console on plinthd's HTTP side: its pages and scripts (built into
// the binary from web/), sign-in sessions, and the API in JSON for its
// pages (api::JsonBridge, so every call obeys the same grants as gRPC).
//
//   GET    /                          the console (one page; hash routes)
//   GET    /ui/<asset>                its scripts and styles
//   POST   /ui/session {"token": ...} sign in: a session cookie, the CSRF token
//   GET    /ui/session                who is signed in, and the CSRF token
//   DELETE /ui/session                sign out
//   POST   /ui/api/<Service>/<Method> a unary call, JSON in and out
//   GET    /ui/stream/<Service>/<Method>?request=<JSON>
//                                      a server-streaming call as server-sent events
//
// The session cookie (plinth_session) is HttpOnly and SameSite=Strict and
// holds a random id; the token stays in plinthd's memory, so a restart
// signs everyone out. Every state-changing request needs the session's
// CSRF token in X-Plinth-CSRF and, when the browser sends Origin, the
// console's own origin. Every page goes out with a Content-Security-Policy
// that allows no inline script.
//
// Thread-safe.
#ifndef PLINTH_SERVER_CONSOLE_H_
#define PLINTH_SERVER_CONSOLE_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "plinth/api/json_bridge.h"
#include "plinth/server/http_server.h"

namespace plinth::server {

// One file of web/, built in.
struct ConsoleAsset {
  const char* path;  // "index.html", "app.js", ...
  const unsigned char* data;
  size_t size;
};
// The built-in assets (console_assets.cc, generated from web/).
extern const ConsoleAsset kConsoleAssets[];
extern const size_t kConsoleAssetCount;

class Console {
 public:
  struct Options {
    // Whether plinthd has a token file (else everyone signs in with no token).
    bool auth_required = true;
    std::chrono::seconds idle_timeout{8 * 3600};
    std::chrono::seconds max_age{24 * 3600};
    size_t max_sessions = 10000;
  };
  Console(std::unique_ptr<api::JsonBridge> bridge, Options options);

  HttpAnswer Handle(const HttpCall& call);

 private:
  struct Session {
    std::string token, actor, csrf;
    std::chrono::steady_clock::time_point created, used;
  };
  HttpAnswer Asset(const HttpCall& call, const std::string& name);
  HttpAnswer SignIn(const HttpCall& call);
  HttpAnswer SessionInfo(const HttpCall& call);
  HttpAnswer SignOut(const HttpCall& call);
  HttpAnswer ApiCall(const HttpCall& call);
  HttpAnswer StreamCall(const HttpCall& call);
  // The caller's session (copied), or nullopt.
  bool Lookup(const HttpCall& call, Session* out);
  // "" when the request may change state, else why not.
  std::string RefuseChange(const HttpCall& call, const Session* session) const;

  std::unique_ptr<api::JsonBridge> bridge_;
  const Options options_;
  std::map<std::string, const ConsoleAsset*> assets_;
  absl::Mutex mu_;
  std::map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);  // by session id
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_CONSOLE_H_
