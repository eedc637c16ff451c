// A stack job as it travels to a runner (plinth.v1.StackJobWork) and its
// reports as they travel back, converted to and from the engine's types.
// Linked by plinthd's runner service and by plinth-runner, so both sides
// read and write the same thing.
#ifndef PLINTH_API_WORK_WIRE_H_
#define PLINTH_API_WORK_WIRE_H_

#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "plinth/engine/stack_job.h"
#include "plinth/v1/runner.pb.h"

namespace plinth::api {

// plinthd: the job for a runner. A Git module travels as its URL, ref and
// credentials; a module directory as files named by their SHA-256, left
// out when `cached_modules` (what the runner has unpacked) holds that hash.
// `state_files` is the resource's state directory.
absl::Status ToWork(const engine::JobSpec& spec, bool require_approval,
                    const std::map<std::string, std::string>& state_files,
                    const std::set<std::string>& cached_modules, plinth::v1::StackJobWork* out);
// The runner: the job to execute, with workspace, state and module paths
// left for the runner to fill in. INVALID_ARGUMENT naming the field for a
// malformed offer.
absl::StatusOr<engine::JobSpec> FromWork(const plinth::v1::StackJobWork& work);

}  // namespace plinth::api

#endif  // PLINTH_API_WORK_WIRE_H_
