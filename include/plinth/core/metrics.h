// A small Prometheus registry: counters and histograms with labels, and
// gauges read by a callback at scrape time, rendered in the text exposition
// format (version 0.0.4).
//
//   Metrics m;
//   m.DefineCounter("plinth_grpc_requests_total", "gRPC requests by method and code");
//   m.Inc("plinth_grpc_requests_total", {{"method", "GetCloudResource"}, {"code", "OK"}});
//   std::string text = m.Render();
//
// Thread-safe. Recording takes one short lock.
#ifndef PLINTH_CORE_METRICS_H_
#define PLINTH_CORE_METRICS_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace plinth::core {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  using GaugeFn = std::function<std::vector<std::pair<MetricLabels, double>>()>;

  void DefineCounter(const std::string& name, const std::string& help);
  // `buckets`: upper bounds, ascending; +Inf is added.
  void DefineHistogram(const std::string& name, const std::string& help, std::vector<double> buckets);
  // Read at every Render, outside the registry's lock.
  void DefineGauge(const std::string& name, const std::string& help, GaugeFn fn);

  // Unknown names are ignored (a metric that was not defined is not exposed).
  void Inc(const std::string& name, const MetricLabels& labels, double by = 1);
  void Observe(const std::string& name, const MetricLabels& labels, double value);

  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  struct Family {
    std::string type, help;
    std::vector<double> buckets;
    std::map<MetricLabels, double> values;
    std::map<MetricLabels, Histogram> histograms;
    GaugeFn gauge;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plinth::core

#endif  // PLINTH_CORE_METRICS_H_
