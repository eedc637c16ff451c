#include "plinth/core/metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace plinth::core {
namespace {

std::string Escape(const std::string& v) {
  return absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

std::string Labels(const MetricLabels& labels, const std::string& extra_key = "", const std::string& extra = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&out, first ? "" : ",", k, "=\"", Escape(v), "\"");
    first = false;
  }
  if (!extra_key.empty()) absl::StrAppend(&out, first ? "" : ",", extra_key, "=\"", extra, "\"");
  return out + "}";
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrCat(v);
}

}  // namespace

void Metrics::DefineCounter(const std::string& name, const std::string& help) {
  absl::MutexLock lock(&mu_);
  families_[name].type = "counter";
  families_[name].help = help;
}

void Metrics::DefineHistogram(const std::string& name, const std::string& help, std::vector<double> buckets) {
  std::sort(buckets.begin(), buckets.end());
  absl::MutexLock lock(&mu_);
  Family& f = families_[name];
  f.type = "histogram";
  f.help = help;
  f.buckets = std::move(buckets);
}

void Metrics::DefineGauge(const std::string& name, const std::string& help, GaugeFn fn) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[name];
  f.type = "gauge";
  f.help = help;
  f.gauge = std::move(fn);
}

void Metrics::Inc(const std::string& name, const MetricLabels& labels, double by) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type != "counter") return;
  it->second.values[labels] += by;
}

void Metrics::Observe(const std::string& name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end() || it->second.type != "histogram") return;
  Family& f = it->second;
  Histogram& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(f.buckets.size() + 1, 0);
  size_t b = std::lower_bound(f.buckets.begin(), f.buckets.end(), value) - f.buckets.begin();
  h.counts[b] += 1;
  h.sum += value;
  h.count += 1;
}

std::string Metrics::Render() const {
  // Gauges first, without the lock: their callbacks may be slow (a query).
  std::map<std::string, std::pair<std::string, GaugeFn>> gauges;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, f] : families_) {
      if (f.type == "gauge") gauges[name] = {f.help, f.gauge};
    }
  }
  std::map<std::string, std::string> text;
  for (const auto& [name, g] : gauges) {
    std::string out = absl::StrCat("# HELP ", name, " ", g.first, "\n# TYPE ", name, " gauge\n");
    if (g.second) {
      for (const auto& [labels, v] : g.second()) absl::StrAppend(&out, name, Labels(labels), " ", Number(v), "\n");
    }
    text[name] = std::move(out);
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [name, f] : families_) {
    if (f.type == "gauge") continue;
    std::string out = absl::StrCat("# HELP ", name, " ", f.help, "\n# TYPE ", name, " ", f.type, "\n");
    if (f.type == "counter") {
      for (const auto& [labels, v] : f.values) absl::StrAppend(&out, name, Labels(labels), " ", Number(v), "\n");
    } else {
      for (const auto& [labels, h] : f.histograms) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.counts.size(); ++i) {
          cumulative += h.counts[i];
          std::string le = i < f.buckets.size() ? Number(f.buckets[i]) : "+Inf";
          absl::StrAppend(&out, name, "_bucket", Labels(labels, "le", le), " ", cumulative, "\n");
        }
        absl::StrAppend(&out, name, "_sum", Labels(labels), " ", Number(h.sum), "\n");
        absl::StrAppend(&out, name, "_count", Labels(labels), " ", h.count, "\n");
      }
    }
    text[name] = std::move(out);
  }
  std::string all;
  for (const auto& [name, t] : text) all += t;
  return all;
}

}  // namespace plinth::core
