#include "plinth/api/convert.h"

#include <cmath>

namespace plinth::api {

using nlohmann::json;

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
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
  JsonToStruct(r.manifest, out->mutable_manifest());
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
}

}  // namespace plinth::api
