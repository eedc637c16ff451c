#include "plinth/graph/graph.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace plinth::graph {
namespace {

std::string DotId(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A DOT label of lines, each escaped, joined by DOT's \n.
std::string DotLabel(std::initializer_list<std::string> lines) {
  std::string out;
  for (const auto& l : lines) {
    std::string quoted = DotId(l);
    if (!out.empty()) out += "\\n";
    out += quoted.substr(1, quoted.size() - 2);
  }
  return "\"" + out + "\"";
}

}  // namespace

absl::StatusOr<Graph> Graph::Build(const std::vector<manifest::Manifest>& manifests) {
  Graph g;
  for (const auto& m : manifests) {
    NodeKey key{m.env, m.kind, m.name};
    if (g.index_.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat(m.source, " (", m.KindName(),
                                                     "): a second resource with the same kind and name"));
    }
    g.index_[key] = static_cast<int>(g.nodes_.size());
    std::string group;
    if (auto md = m.body.find("metadata"); md != m.body.end() && md->is_object()) {
      if (auto gr = md->find("group"); gr != md->end() && gr->is_string()) group = gr->get<std::string>();
    }
    g.nodes_.push_back(Node{key, std::move(group), {}});
  }
  g.upstream_.resize(g.nodes_.size());
  g.downstream_.resize(g.nodes_.size());
  std::map<std::pair<int, int>, int> edge_index;
  for (size_t i = 0; i < manifests.size(); ++i) {
    for (auto& ref : manifest::FindReferences(manifests[i])) {
      int from = g.Find({ref.env, ref.kind, ref.name});
      if (from < 0) {
        g.nodes_[i].external.push_back(std::move(ref));
        continue;
      }
      if (from == static_cast<int>(i)) {
        return absl::InvalidArgumentError(absl::StrCat(manifests[i].source, " (", manifests[i].KindName(),
                                                       "): ", ref.source_path, " refers to the resource itself"));
      }
      std::string reason = absl::StrCat(ref.type, " ", ref.source_path);
      auto key = std::make_pair(from, static_cast<int>(i));
      auto it = edge_index.find(key);
      if (it != edge_index.end()) {
        g.edges_[it->second].reasons.push_back(reason);
        continue;
      }
      edge_index[key] = static_cast<int>(g.edges_.size());
      g.edges_.push_back(Edge{from, static_cast<int>(i), {reason}});
      g.upstream_[i].push_back(from);
      g.downstream_[from].push_back(static_cast<int>(i));
    }
  }

  // Layers by Kahn's algorithm; leftovers are on or behind a cycle.
  const size_t n = g.nodes_.size();
  std::vector<int> remaining(n), layer_of(n, -1);
  for (size_t i = 0; i < n; ++i) remaining[i] = static_cast<int>(g.upstream_[i].size());
  std::vector<int> current;
  for (size_t i = 0; i < n; ++i) {
    if (remaining[i] == 0) current.push_back(static_cast<int>(i));
  }
  size_t placed = 0;
  while (!current.empty()) {
    std::sort(current.begin(), current.end());
    for (int v : current) layer_of[v] = static_cast<int>(g.layers_.size());
    g.layers_.push_back(current);
    placed += current.size();
    std::vector<int> next;
    for (int v : current) {
      for (int d : g.downstream_[v]) {
        if (--remaining[d] == 0) next.push_back(d);
      }
    }
    current = std::move(next);
  }
  if (placed == n) return g;

  // Find one cycle among the unplaced nodes with a DFS, to name it.
  std::vector<int> state(n, 0), stack;
  std::vector<int> cycle;
  std::function<bool(int)> dfs = [&](int v) {
    state[v] = 1;
    stack.push_back(v);
    for (int d : g.downstream_[v]) {
      if (layer_of[d] >= 0) continue;
      if (state[d] == 1) {
        auto start = std::find(stack.begin(), stack.end(), d);
        cycle.assign(start, stack.end());
        cycle.push_back(d);
        return true;
      }
      if (state[d] == 0 && dfs(d)) return true;
    }
    stack.pop_back();
    state[v] = 2;
    return false;
  };
  for (size_t i = 0; i < n && cycle.empty(); ++i) {
    if (layer_of[i] < 0 && state[i] == 0) dfs(static_cast<int>(i));
  }
  std::vector<std::string> names;
  for (int v : cycle) names.push_back(g.nodes_[v].key.ToString());
  return absl::InvalidArgumentError(absl::StrCat("dependency cycle: ", absl::StrJoin(names, " -> ")));
}

int Graph::Find(const NodeKey& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int> Graph::Order() const {
  std::vector<int> out;
  for (const auto& layer : layers_) out.insert(out.end(), layer.begin(), layer.end());
  return out;
}

std::vector<int> Graph::ReverseOrder() const {
  std::vector<int> out = Order();
  std::reverse(out.begin(), out.end());
  return out;
}

std::string Graph::ToDot() const {
  std::string out = "digraph plinth {\n  rankdir=LR;\n  node [shape=box];\n";
  // One cluster per group (metadata.group), in order of first appearance;
  // nodes without a group are declared at the top level.
  std::vector<std::string> groups;
  for (const auto& n : nodes_) {
    if (!n.group.empty() && std::find(groups.begin(), groups.end(), n.group) == groups.end()) {
      groups.push_back(n.group);
    }
  }
  auto declare = [&](const Node& n, const char* indent) {
    absl::StrAppend(&out, indent, DotId(n.key.ToString()), " [label=", DotLabel({n.key.kind, n.key.name}), "];\n");
  };
  for (size_t c = 0; c < groups.size(); ++c) {
    absl::StrAppend(&out, "  subgraph cluster_", c, " {\n    label=", DotId(groups[c]), ";\n");
    for (const auto& n : nodes_) {
      if (n.group == groups[c]) declare(n, "    ");
    }
    out += "  }\n";
  }
  for (const auto& n : nodes_) {
    if (n.group.empty()) declare(n, "  ");
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    absl::StrAppend(&out, "  subgraph layer_", l, " {\n    rank=same;\n");
    for (int v : layers_[l]) absl::StrAppend(&out, "    ", DotId(nodes_[v].key.ToString()), ";\n");
    out += "  }\n";
  }
  for (const auto& e : edges_) {
    absl::StrAppend(&out, "  ", DotId(nodes_[e.from].key.ToString()), " -> ",
                    DotId(nodes_[e.to].key.ToString()), ";\n");
  }
  for (const auto& n : nodes_) {
    for (const auto& ref : n.external) {
      std::string ext = ref.env + "/" + ref.kind + "/" + ref.name;
      absl::StrAppend(&out, "  ", DotId(ext), " [style=dashed, label=", DotLabel({ref.kind, ref.name, "(external)"}),
                      "];\n  ", DotId(ext), " -> ", DotId(n.key.ToString()), " [style=dashed];\n");
    }
  }
  return out + "}\n";
}

nlohmann::json Graph::ToJson() const {
  std::vector<int> layer_of(nodes_.size(), 0);
  for (size_t l = 0; l < layers_.size(); ++l) {
    for (int v : layers_[l]) layer_of[v] = static_cast<int>(l);
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    nlohmann::json external = nlohmann::json::array();
    for (const auto& r : nodes_[i].external) {
      external.push_back({{"env", r.env}, {"kind", r.kind}, {"name", r.name}, {"fieldPath", r.field_path},
                          {"sourcePath", r.source_path}, {"type", r.type}});
    }
    nlohmann::json n = {{"env", nodes_[i].key.env}, {"kind", nodes_[i].key.kind},
                        {"name", nodes_[i].key.name}, {"group", nodes_[i].group}, {"layer", layer_of[i]},
                        {"external", std::move(external)}};
    nodes.push_back(std::move(n));
  }
  nlohmann::json edges = nlohmann::json::array();
  for (const auto& e : edges_) edges.push_back({{"from", e.from}, {"to", e.to}, {"reasons", e.reasons}});
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : layers_) layers.push_back({{"nodes", l}});
  return {{"nodes", nodes}, {"edges", edges}, {"layers", layers}};
}

}  // namespace plinth::graph
