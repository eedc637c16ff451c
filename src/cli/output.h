// Output formats of the CLI: aligned tables, YAML and JSON.
#ifndef PLINTH_CLI_OUTPUT_H_
#define PLINTH_CLI_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"

namespace plinth::cli {

// Columns padded to the widest cell; the first row is the header.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

nlohmann::json ToJson(const google::protobuf::Struct& s);
// Protobuf's JSON mapping of any API message.
// With `all_fields`, zero values and empty lists are printed too.
nlohmann::json MessageToJson(const google::protobuf::Message& m, bool all_fields = false);

std::string FormatTime(const google::protobuf::Timestamp& t);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_OUTPUT_H_
