#include "plinth/orchestrator/state_tokens.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "plinth/core/secret_box.h"

namespace plinth::orchestrator {

// plst.<job id>.<resource id>.<expiry, unix seconds>.<hmac>
std::string MintStateToken(const std::string& key, const std::string& job_id, const std::string& resource_id,
                           absl::Time expires) {
  std::string body = absl::StrCat(job_id, ".", resource_id, ".", absl::ToUnixSeconds(expires));
  return absl::StrCat("plst.", body, ".", core::HmacSha256Hex(key, body));
}

absl::StatusOr<std::string> CheckStateToken(const std::string& key, const std::string& token,
                                            const std::string& resource_id, absl::Time now) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  int64_t expires = 0;
  if (parts.size() != 5 || parts[0] != "plst" || !absl::SimpleAtoi(parts[3], &expires)) {
    return absl::UnauthenticatedError("not a plinth state token");
  }
  std::string body = absl::StrCat(parts[1], ".", parts[2], ".", parts[3]);
  if (!core::ConstantTimeEquals(core::HmacSha256Hex(key, body), parts[4])) {
    return absl::UnauthenticatedError("not a plinth state token");
  }
  if (absl::FromUnixSeconds(expires) < now) return absl::UnauthenticatedError("the state token has expired");
  if (parts[2] != resource_id) {
    return absl::PermissionDeniedError("this state token is for another resource's state");
  }
  return parts[1];
}

}  // namespace plinth::orchestrator
