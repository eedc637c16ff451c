// Short-lived credentials for plinthd's http state backend: one per stack
// job, good for that job's resource only, until the job ends (checked by the
// server against the job's state) or the token's expiry, whichever is first.
// The token is an HMAC under a secret derived from the daemon key, so it
// survives a plinthd restart (a resumed job keeps using it) and nothing of
// it is stored.
//
//   std::string t = MintStateToken(key, job_id, resource_id, absl::Now() + absl::Hours(24));
//   auto job = CheckStateToken(key, t, resource_id, absl::Now());  // the job id, or UNAUTHENTICATED
#ifndef PLINTH_ORCHESTRATOR_STATE_TOKENS_H_
#define PLINTH_ORCHESTRATOR_STATE_TOKENS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plinth::orchestrator {

// The purpose passed to SecretBox::Derive for the key.
inline constexpr char kStateTokenPurpose[] = "plinth state backend tokens v1";

std::string MintStateToken(const std::string& key, const std::string& job_id, const std::string& resource_id,
                           absl::Time expires);
// The job the token was minted for; UNAUTHENTICATED when it is malformed,
// forged or expired, PERMISSION_DENIED when it is for another resource.
absl::StatusOr<std::string> CheckStateToken(const std::string& key, const std::string& token,
                                            const std::string& resource_id, absl::Time now);

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_STATE_TOKENS_H_
