// The dependency graph of a set of manifests: a node per manifest, an edge
// A -> B when B references A (a valueFrom in B's spec, or B's
// metadata.relationships). References to resources outside the set are
// external: recorded on the node, not nodes themselves.
//
//   auto g = Graph::Build(manifests);          // INVALID_ARGUMENT on a cycle
//   for (const auto& layer : g->Layers()) ...  // deploy order, layer by layer
//   std::string dot = g->ToDot();
//
// Immutable after Build; thread-safe.
#ifndef PLINTH_GRAPH_GRAPH_H_
#define PLINTH_GRAPH_GRAPH_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "plinth/manifest/manifest.h"
#include "plinth/manifest/references.h"

namespace plinth::graph {

// env/kind/name: how references name a resource.
struct NodeKey {
  std::string env;
  std::string kind;
  std::string name;
  std::string ToString() const { return env + "/" + kind + "/" + name; }
  bool operator<(const NodeKey& o) const {
    return std::tie(env, kind, name) < std::tie(o.env, o.kind, o.name);
  }
  bool operator==(const NodeKey& o) const {
    return env == o.env && kind == o.kind && name == o.name;
  }
};

struct Edge {
  int from;  // the dependency
  int to;    // the dependent
  // Why: "value_from spec.vpcId" or "depends_on metadata.relationships[0]".
  std::vector<std::string> reasons;
};

struct Node {
  NodeKey key;
  // metadata.group: where the resource sits in the drawn graph ("" for none).
  std::string group;
  // References to resources not in the graph; they must exist when a
  // pipeline runs.
  std::vector<manifest::Reference> external;
};

class Graph {
 public:
  // Fails with INVALID_ARGUMENT listing the cycle, e.g.
  // "dependency cycle: dev/A/a -> dev/B/b -> dev/A/a".
  static absl::StatusOr<Graph> Build(const std::vector<manifest::Manifest>& manifests);

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Edge>& edges() const { return edges_; }
  // Index of a node, or -1.
  int Find(const NodeKey& key) const;
  // Indexes of the nodes a node depends on / that depend on it.
  const std::vector<int>& upstream(int node) const { return upstream_[node]; }
  const std::vector<int>& downstream(int node) const { return downstream_[node]; }

  // Layer 0 has no dependencies; layer k depends only on layers < k.
  // Within a layer, nodes keep manifest order.
  const std::vector<std::vector<int>>& Layers() const { return layers_; }
  // A topological order (layers flattened) and its reverse, for destroy.
  std::vector<int> Order() const;
  std::vector<int> ReverseOrder() const;
  // Graphviz DOT, nodes grouped by layer; external references dashed.
  std::string ToDot() const;
  // {"nodes": [{"env", "kind", "name", "layer", "external": [{env, kind, name,
  //   fieldPath, sourcePath, type}]}],
  //  "edges": [{"from", "to", "reasons"}], "layers": [{"nodes": [...]}]}:
  // the same shape as the API's InfraGraph in JSON.
  nlohmann::json ToJson() const;

 private:
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::map<NodeKey, int> index_;
  std::vector<std::vector<int>> upstream_, downstream_;
  std::vector<std::vector<int>> layers_;
};

}  // namespace plinth::graph

#endif  // PLINTH_GRAPH_GRAPH_H_
