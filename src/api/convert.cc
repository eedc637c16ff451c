#include "plinth/api/convert.h"

#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "plinth/core/error_reason.h"
#include "re2/re2.h"

namespace plinth::api {

using nlohmann::json;

std::string EscapeControls(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

namespace {

// "STACK_JOB_STATE_" for StackJobState: the enum's name in UPPER_SNAKE_CASE.
std::string PrefixOf(const google::protobuf::EnumDescriptor* type) {
  std::string out;
  for (char c : type->name()) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) && !out.empty()) out.push_back('_');
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  out.push_back('_');
  return out;
}

}  // namespace

int EnumNumberOf(const google::protobuf::EnumDescriptor* type, absl::string_view name) {
  if (name.empty()) return 0;
  // Built once per enum type: a 500-node pipeline names two enums a node,
  // and building "PIPELINE_NODE_STATE_RUNNING" for each was a tenth of
  // its read.
  static absl::Mutex mu(absl::kConstInit);
  static auto* numbers =
      new absl::flat_hash_map<const google::protobuf::EnumDescriptor*, absl::flat_hash_map<std::string, int>>();
  absl::MutexLock lock(&mu);
  auto [it, added] = numbers->try_emplace(type);
  if (added) {
    for (int i = 0; i < type->value_count(); ++i) {
      const auto* v = type->value(i);
      if (v->number() != 0) it->second.emplace(EnumNameOf(type, v->number()), v->number());
    }
  }
  auto found = it->second.find(absl::AsciiStrToLower(name));
  return found == it->second.end() ? 0 : found->second;
}

std::string EnumNameOf(const google::protobuf::EnumDescriptor* type, int number) {
  const auto* value = type->FindValueByNumber(number);
  if (number == 0 || value == nullptr) return "";
  std::string prefix = PrefixOf(type);
  std::string out = value->name().substr(std::min(prefix.size(), value->name().size()));
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

namespace {

// "spec.cidrBlock: required" -> {"spec.cidrBlock", "required"}: plinth's
// messages start with the field (or file) they are about, up to ": ".
std::pair<std::string, std::string> SplitField(absl::string_view message) {
  size_t colon = message.find(": ");
  if (colon == absl::string_view::npos || colon == 0) return {"", std::string(message)};
  absl::string_view head = message.substr(0, colon);
  for (char c : head) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return {"", std::string(message)};
  }
  return {std::string(head), std::string(message.substr(colon + 2))};
}

struct ResourceWord {
  const char* words;
  const char* type;
};

// What plinth's NOT_FOUND messages name ("infra project acme/prod/web not
// found"), mapped to the API's message names.
constexpr ResourceWord kResourceWords[] = {
    {"cloud resource", "plinth.v1.CloudResource"}, {"infra project", "plinth.v1.InfraProject"},
    {"infra chart", "plinth.v1.InfraChart"},       {"infra pipeline", "plinth.v1.InfraPipeline"},
    {"stack job", "plinth.v1.StackJob"},           {"connection", "plinth.v1.Connection"},
    {"kind", "plinth.v1.Kind"},                    {"flow-control policy for", "plinth.v1.FlowControlPolicy"},
};

google::rpc::ResourceInfo ResourceInfoOf(const std::string& message) {
  google::rpc::ResourceInfo info;
  info.set_description(message);
  size_t best = std::string::npos;
  for (const ResourceWord& w : kResourceWords) {
    std::string pattern = absl::StrCat("(?:^|[\\s:])(", w.words, ") (\\S+)");
    re2::StringPiece words, name;
    if (!RE2::PartialMatch(message, pattern, &words, &name)) continue;
    size_t at = static_cast<size_t>(words.data() - message.data());
    if (at >= best) continue;  // the first thing named is the one missing
    best = at;
    info.set_resource_type(w.type);
    std::string n(name);
    while (!n.empty() && (n.back() == ',' || n.back() == ':' || n.back() == ')')) n.pop_back();
    info.set_resource_name(n);
  }
  return info;
}

}  // namespace

bool StatusCodeFromName(absl::string_view name, absl::StatusCode* code) {
  for (int i = 0; i <= 16; ++i) {
    if (absl::StatusCodeToString(static_cast<absl::StatusCode>(i)) == name) {
      *code = static_cast<absl::StatusCode>(i);
      return true;
    }
  }
  return false;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // Messages quote what the caller sent: a NUL or an escape sequence in a
  // name must not reach a terminal or a log raw.
  std::string message = EscapeControls(status.message());
  // google.rpc.Status in grpc-status-details-bin, the detail a client can
  // branch on without parsing the message (AIP-193).
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(message);
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: {
      google::rpc::BadRequest bad;
      auto* violation = bad.add_field_violations();
      auto [field, description] = SplitField(message);
      violation->set_field(field);
      violation->set_description(description);
      details.add_details()->PackFrom(bad);
      break;
    }
    case absl::StatusCode::kNotFound:
      details.add_details()->PackFrom(ResourceInfoOf(message));
      break;
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnimplemented:
      break;
    default: {
      google::rpc::ErrorInfo info;
      std::string reason = core::ReasonOf(status);
      info.set_reason(reason.empty() ? absl::StatusCodeToString(status.code()) : reason);
      for (char& c : *info.mutable_reason()) c = absl::ascii_toupper(static_cast<unsigned char>(c));
      info.set_domain("plinth.dev");
      details.add_details()->PackFrom(info);
      break;
    }
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), message, details.SerializeAsString());
}

void JsonToValue(const json& j, google::protobuf::Value* out) {
  switch (j.type()) {
    case json::value_t::null:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
    case json::value_t::boolean:
      out->set_bool_value(j.get<bool>());
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      out->set_number_value(j.get<double>());
      break;
    case json::value_t::string:
      out->set_string_value(j.get<std::string>());
      break;
    case json::value_t::array: {
      auto* list = out->mutable_list_value();
      for (const auto& item : j) JsonToValue(item, list->add_values());
      break;
    }
    case json::value_t::object:
      JsonToStruct(j, out->mutable_struct_value());
      break;
    default:
      out->set_null_value(google::protobuf::NULL_VALUE);
  }
}

void JsonToStruct(const json& j, google::protobuf::Struct* out) {
  out->Clear();
  if (!j.is_object()) return;
  auto* fields = out->mutable_fields();
  for (const auto& [key, value] : j.items()) JsonToValue(value, &(*fields)[key]);
}

namespace {

// nlohmann SAX events -> google.protobuf.Value, for JsonTextToStruct.
class StructSax : public nlohmann::json_sax<json> {
 public:
  explicit StructSax(google::protobuf::Struct* root) : root_(root) {}

  bool null() override { return Put()->set_null_value(google::protobuf::NULL_VALUE), true; }
  bool boolean(bool v) override { return Put()->set_bool_value(v), true; }
  bool number_integer(json::number_integer_t v) override { return Put()->set_number_value(static_cast<double>(v)), true; }
  bool number_unsigned(json::number_unsigned_t v) override { return Put()->set_number_value(static_cast<double>(v)), true; }
  bool number_float(json::number_float_t v, const std::string&) override { return Put()->set_number_value(v), true; }
  bool string(std::string& v) override { return Put()->set_string_value(std::move(v)), true; }
  bool binary(json::binary_t&) override { return false; }
  bool start_object(std::size_t) override {
    if (stack_.empty() && !started_) {
      started_ = true;
      stack_.push_back({root_, nullptr});
      return true;
    }
    google::protobuf::Value* v = Put();
    stack_.push_back({v->mutable_struct_value(), nullptr});
    return true;
  }
  bool key(std::string& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (stack_.empty()) return false;  // the top level must be an object
    google::protobuf::Value* v = Put();
    stack_.push_back({nullptr, v->mutable_list_value()});
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    google::protobuf::Struct* object;
    google::protobuf::ListValue* list;
  };
  google::protobuf::Value* Put() {
    if (stack_.empty()) return &scratch_;
    Frame& f = stack_.back();
    if (f.list) return f.list->add_values();
    return &(*f.object->mutable_fields())[key_];
  }

  google::protobuf::Struct* root_;
  std::vector<Frame> stack_;
  std::string key_;
  google::protobuf::Value scratch_;
  bool started_ = false;
};

}  // namespace

bool JsonTextToStruct(const std::string& text, google::protobuf::Struct* out) {
  out->Clear();
  StructSax sax(out);
  return json::sax_parse(text, &sax, nlohmann::detail::input_format_t::json, /*strict=*/true);
}

json ValueToJson(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kBoolValue:
      return v.bool_value();
    case google::protobuf::Value::kNumberValue: {
      double d = v.number_value();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9007199254740992.0) {
        return static_cast<int64_t>(d);
      }
      return d;
    }
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kListValue: {
      json out = json::array();
      for (const auto& item : v.list_value().values()) out.push_back(ValueToJson(item));
      return out;
    }
    case google::protobuf::Value::kStructValue:
      return StructToJson(v.struct_value());
    default:
      return nullptr;
  }
}

json StructToJson(const google::protobuf::Struct& s) {
  json out = json::object();
  for (const auto& [key, value] : s.fields()) out[key] = ValueToJson(value);
  return out;
}

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rem = micros % 1000000;
  if (rem < 0) {
    rem += 1000000;
    seconds -= 1;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

void ToProto(const store::CloudResourceRecord& r, plinth::v1::CloudResource* out) {
  out->set_id(r.id);
  out->set_org(r.key.org);
  out->set_env(r.key.env);
  out->set_kind(r.key.kind);
  out->set_name(r.key.name);
  out->set_api_version(r.api_version);
  if (r.manifest.is_null() && !r.manifest_text.empty()) {
    JsonTextToStruct(r.manifest_text, out->mutable_manifest());
  } else {
    JsonToStruct(r.manifest, out->mutable_manifest());
  }
  if (r.outputs.is_object()) {
    JsonToStruct(r.outputs, out->mutable_outputs());
    auto& status = (*out->mutable_manifest()->mutable_fields())["status"];
    (*status.mutable_struct_value()->mutable_fields())["outputs"].mutable_struct_value()->CopyFrom(
        out->outputs());
  }
  out->set_version(r.version);
  ToTimestamp(r.created_at, out->mutable_create_time());
  out->set_created_by(r.created_by);
  ToTimestamp(r.updated_at, out->mutable_update_time());
  out->set_updated_by(r.updated_by);
  out->set_deployed(r.deployed);
}

void ToProto(const chart::ParamSpec& p, plinth::v1::ChartParam* out) {
  out->set_name(p.name);
  out->set_description(p.description);
  out->set_type(std::string(chart::ParamTypeName(p.type)));
  out->set_has_default(p.has_default);
  if (p.has_default) JsonToValue(p.default_value, out->mutable_default_value());
  for (const auto& e : p.enum_values) out->add_enum_values(e);
  out->set_hidden(p.hidden);
}

void ToProto(const graph::Graph& g, plinth::v1::InfraGraph* out) {
  std::vector<int> layer_of(g.nodes().size(), 0);
  for (size_t l = 0; l < g.Layers().size(); ++l) {
    auto* layer = out->add_layers();
    for (int v : g.Layers()[l]) {
      layer_of[v] = static_cast<int>(l);
      layer->add_nodes(v);
    }
  }
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const auto& n = g.nodes()[i];
    auto* node = out->add_nodes();
    node->set_env(n.key.env);
    node->set_kind(n.key.kind);
    node->set_name(n.key.name);
    node->set_layer(layer_of[i]);
    node->set_group(n.group);
    for (const auto& r : n.external) {
      auto* e = node->add_external();
      e->set_env(r.env);
      e->set_kind(r.kind);
      e->set_name(r.name);
      e->set_field_path(r.field_path);
      e->set_source_path(r.source_path);
      e->set_type(r.type);
    }
  }
  for (const auto& e : g.edges()) {
    auto* edge = out->add_edges();
    edge->set_from(e.from);
    edge->set_to(e.to);
    for (const auto& r : e.reasons) edge->add_reasons(r);
  }
}

std::vector<chart::ChartFile> FromProto(const google::protobuf::RepeatedPtrField<plinth::v1::ChartFile>& files) {
  std::vector<chart::ChartFile> out;
  for (const auto& f : files) out.push_back({f.path(), f.content()});
  return out;
}

}  // namespace plinth::api
