// plinth.v1.StackJobService: create, read, list and cancel stack jobs, and
// stream their events (a ServerWriteReactor with its own queue, polling the
// event log so that a client can resume from any sequence number).
#ifndef PLINTH_API_STACK_JOB_SERVICE_H_
#define PLINTH_API_STACK_JOB_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/core/timer.h"
#include "plinth/orchestrator/stack_job_runner.h"
#include "plinth/store/stack_job_store.h"
#include "plinth/v1/stack_job.grpc.pb.h"

namespace plinth::api {

class StackJobServiceImpl final : public plinth::v1::StackJobService::CallbackService {
 public:
  StackJobServiceImpl(CallEnv env, orchestrator::StackJobRunner* runner, store::StackJobStore* jobs,
                      store::CloudResourceStore* resources, store::ConnectionStore* connections)
      : env_(env), runner_(runner), jobs_(jobs), resources_(resources), connections_(connections) {}

  grpc::ServerUnaryReactor* CreateStackJob(grpc::CallbackServerContext* ctx, const plinth::v1::CreateStackJobRequest* req,
                                           plinth::v1::StackJob* resp) override;
  grpc::ServerUnaryReactor* GetStackJob(grpc::CallbackServerContext* ctx, const plinth::v1::GetStackJobRequest* req,
                                        plinth::v1::StackJob* resp) override;
  grpc::ServerUnaryReactor* ListStackJobs(grpc::CallbackServerContext* ctx, const plinth::v1::ListStackJobsRequest* req,
                                          plinth::v1::ListStackJobsResponse* resp) override;
  grpc::ServerUnaryReactor* CancelStackJob(grpc::CallbackServerContext* ctx, const plinth::v1::CancelStackJobRequest* req,
                                           plinth::v1::StackJob* resp) override;
  grpc::ServerWriteReactor<plinth::v1::StackJobEvent>* StreamStackJobEvents(
      grpc::CallbackServerContext* ctx, const plinth::v1::StreamStackJobEventsRequest* req) override;
  grpc::ServerUnaryReactor* ApproveStackJob(grpc::CallbackServerContext* ctx, const plinth::v1::ResolveStackJobRequest* req,
                                            plinth::v1::StackJob* resp) override;
  grpc::ServerUnaryReactor* RejectStackJob(grpc::CallbackServerContext* ctx, const plinth::v1::ResolveStackJobRequest* req,
                                           plinth::v1::StackJob* resp) override;

 private:
  absl::Status RequireOnJob(const std::string& actor, orchestrator::Role role, const std::string& id,
                            const std::string& what) const;
  const CallEnv env_;
  orchestrator::StackJobRunner* const runner_;
  store::StackJobStore* const jobs_;
  store::CloudResourceStore* const resources_;
  store::ConnectionStore* const connections_;
  core::Timer timer_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_STACK_JOB_SERVICE_H_
