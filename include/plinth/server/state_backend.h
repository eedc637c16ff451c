// Terraform's `http` state backend on plinthd's HTTP side, for stack jobs
// (on runners, whose disks are not state storage):
//
//   GET    /v1/state/<resource id>          200 the latest state, 204 none yet
//   POST   /v1/state/<resource id>?ID=<id>  a new version (the lock's ID while locked)
//   LOCK   /v1/state/<resource id>          lock info JSON; 200, or 409 with the holder's info
//   UNLOCK /v1/state/<resource id>          lock info JSON; 200 (also when not locked), 409 for another's
//
// Every request authenticates with HTTP basic auth whose password is the
// job's state token (MintStateToken): good for that job's resource while
// the job runs. 401 without one or after the job ended, 403 for another
// resource's state. Versions are kept and sealed by the StateStore.
#ifndef PLINTH_SERVER_STATE_BACKEND_H_
#define PLINTH_SERVER_STATE_BACKEND_H_

#include <string>

#include "plinth/server/http_server.h"
#include "plinth/store/stack_job_store.h"
#include "plinth/store/state_store.h"

namespace plinth::server {

class StateBackend {
 public:
  StateBackend(store::StateStore* states, store::StackJobStore* jobs, std::string token_key)
      : states_(states), jobs_(jobs), token_key_(std::move(token_key)) {}

  HttpAnswer Handle(const HttpCall& call);

 private:
  store::StateStore* const states_;
  store::StackJobStore* const jobs_;
  const std::string token_key_;
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_STATE_BACKEND_H_
