#include "output.h"

#include <algorithm>
#include <ctime>

#include "google/protobuf/util/json_util.h"

namespace plinth::cli {

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    out << line << "\n";
  }
}

nlohmann::json MessageToJson(const google::protobuf::Message& m, bool all_fields) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  options.always_print_primitive_fields = all_fields;
  (void)google::protobuf::util::MessageToJsonString(m, &text, options);
  return nlohmann::json::parse(text, nullptr, false);
}

nlohmann::json ToJson(const google::protobuf::Struct& s) { return MessageToJson(s); }

std::string FormatTime(const google::protobuf::Timestamp& t) {
  std::time_t secs = static_cast<std::time_t>(t.seconds());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace plinth::cli
