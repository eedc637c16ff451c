#include "plinth/api/auth.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace plinth::api {
namespace {

// Compares without an early exit, so timing does not reveal a prefix.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;  // the length is not a secret worth hiding
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::unique_ptr<Authenticator> Authenticator::Anonymous() {
  return std::unique_ptr<Authenticator>(new Authenticator());
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("auth token file ", path, ": cannot read it"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return FromText(buffer.str(), path);
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::FromText(const std::string& text,
                                                                       const std::string& origin) {
  auto auth = std::unique_ptr<Authenticator>(new Authenticator());
  auth->enabled_ = true;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2 && parts.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth token file ", origin, ": line ", line_no, ": expected \"<token> <actor-name> [permission,...]\""));
    }
    if (parts.size() == 3) {
      for (absl::string_view p : absl::StrSplit(parts[2], ',', absl::SkipEmpty())) {
        if (p != kRevealSensitivePermission && p != kScopedPermission) {
          return absl::InvalidArgumentError(absl::StrCat("auth token file ", origin, ": line ", line_no,
                                                         ": unknown permission \"", p, "\" (known: ",
                                                         kRevealSensitivePermission, ", ", kScopedPermission, ")"));
        }
        auth->permissions_[std::string(parts[1])].insert(std::string(p));
      }
    }
    if (parts[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat("auth token file ", origin, ": line ", line_no,
                                                     ": token shorter than 16 characters"));
    }
    auth->tokens_.emplace_back(std::string(parts[0]), std::string(parts[1]));
  }
  if (auth->tokens_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("auth token file ", origin, ": holds no token"));
  }
  return auth;
}

bool Authenticator::Allows(const std::string& actor, absl::string_view permission) const {
  if (!enabled_) return true;
  auto it = permissions_.find(actor);
  return it != permissions_.end() && it->second.count(std::string(permission)) > 0;
}

bool Authenticator::Scoped(const std::string& actor) const {
  if (!enabled_) return false;
  auto it = permissions_.find(actor);
  return it != permissions_.end() && it->second.count(std::string(kScopedPermission)) > 0;
}

absl::StatusOr<std::string> Authenticator::Authenticate(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  if (!enabled_) return std::string("anonymous");
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing credentials: send the header \"authorization: Bearer <token>\" (plinth --token)");
  }
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kBearer)) {
    return absl::UnauthenticatedError("the authorization header must be \"Bearer <token>\"");
  }
  absl::string_view token = absl::StripAsciiWhitespace(value.substr(kBearer.size()));
  const std::string* actor = nullptr;
  for (const auto& [known, name] : tokens_) {
    if (ConstantTimeEquals(token, known) && actor == nullptr) actor = &name;
  }
  if (actor == nullptr) return absl::UnauthenticatedError("invalid token");
  return *actor;
}

}  // namespace plinth::api
