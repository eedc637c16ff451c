// plinth.v1.InfraChartService: push, list, show, delete and render infra
// charts. Rendering composes the chart layer (templates, params, manifests)
// with the graph layer.
#ifndef PLINTH_API_INFRA_CHART_SERVICE_H_
#define PLINTH_API_INFRA_CHART_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/store/infra_chart_store.h"
#include "plinth/v1/infra_chart.grpc.pb.h"

namespace plinth::api {

class InfraChartServiceImpl final : public plinth::v1::InfraChartService::CallbackService {
 public:
  InfraChartServiceImpl(CallEnv env, const manifest::KindCatalog* catalog, store::InfraChartStore* charts,
                        chart::ChartLimits limits = {})
      : env_(env), catalog_(catalog), charts_(charts), limits_(limits) {}

  grpc::ServerUnaryReactor* PushInfraChart(grpc::CallbackServerContext* ctx,
                                           const plinth::v1::PushInfraChartRequest* req,
                                           plinth::v1::PushInfraChartResponse* resp) override;
  grpc::ServerUnaryReactor* GetInfraChart(grpc::CallbackServerContext* ctx,
                                          const plinth::v1::GetInfraChartRequest* req,
                                          plinth::v1::InfraChart* resp) override;
  grpc::ServerUnaryReactor* ListInfraCharts(grpc::CallbackServerContext* ctx,
                                            const plinth::v1::ListInfraChartsRequest* req,
                                            plinth::v1::ListInfraChartsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteInfraChart(grpc::CallbackServerContext* ctx,
                                             const plinth::v1::DeleteInfraChartRequest* req,
                                             plinth::v1::DeleteInfraChartResponse* resp) override;
  grpc::ServerUnaryReactor* RenderInfraChart(grpc::CallbackServerContext* ctx,
                                             const plinth::v1::RenderInfraChartRequest* req,
                                             plinth::v1::RenderInfraChartResponse* resp) override;

 private:
  absl::StatusOr<chart::Chart> Load(const google::protobuf::RepeatedPtrField<plinth::v1::ChartFile>& files,
                                    const std::string& archive) const;

  const CallEnv env_;
  const manifest::KindCatalog* const catalog_;
  store::InfraChartStore* const charts_;
  const chart::ChartLimits limits_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_INFRA_CHART_SERVICE_H_
