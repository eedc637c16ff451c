// Bearer-token authentication for every RPC but health.
//
// With a token file (lines "token actor-name [permission,...]", '#'
// comments), a call must carry "authorization: Bearer <token>"; the actor
// name is what audit records. Without one, every call is the actor
// "anonymous", who may do everything (a single-user daemon).
//
// Permissions beyond the default (everything but what is listed here):
//   reveal-sensitive   read sensitive outputs in the clear
//
//   auto auth = Authenticator::FromFile("/etc/plinth/tokens");
//   absl::StatusOr<std::string> actor = (*auth)->Authenticate(ctx->client_metadata());
//
// Thread-safe after construction.
#ifndef PLINTH_API_AUTH_H_
#define PLINTH_API_AUTH_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/string_ref.h"

namespace plinth::api {

inline constexpr absl::string_view kRevealSensitivePermission = "reveal-sensitive";
// The identity holds only its stored grants (plinth grant), instead of being
// an admin of everything as the token file's identities are by default.
inline constexpr absl::string_view kScopedPermission = "scoped";

class Authenticator {
 public:
  // Accepts every call as "anonymous".
  static std::unique_ptr<Authenticator> Anonymous();
  // INVALID_ARGUMENT naming the file and line for a malformed file,
  // NOT_FOUND if it cannot be read, FAILED_PRECONDITION if it has no token.
  static absl::StatusOr<std::unique_ptr<Authenticator>> FromFile(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Authenticator>> FromText(const std::string& text,
                                                                 const std::string& origin);

  bool enabled() const { return enabled_; }

  // Whether `actor` holds `permission`; always true without a token file.
  bool Allows(const std::string& actor, absl::string_view permission) const;
  // Whether the token file marks `actor` scoped; false without a file.
  bool Scoped(const std::string& actor) const;

  // The actor, or UNAUTHENTICATED with a message that never echoes a token.
  absl::StatusOr<std::string> Authenticate(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

 private:
  bool enabled_ = false;
  std::vector<std::pair<std::string, std::string>> tokens_;  // token, actor
  std::map<std::string, std::set<std::string>> permissions_;  // actor -> permissions
};

}  // namespace plinth::api

#endif  // PLINTH_API_AUTH_H_
