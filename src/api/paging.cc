#include "plinth/api/paging.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "plinth/core/fnv.h"

namespace plinth::api {
namespace {

constexpr absl::string_view kPrefix = "p1.";

}  // namespace

PageQuery::PageQuery(absl::string_view method, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> query(request.New());
  query->CopyFrom(request);
  const auto* reflection = query->GetReflection();
  for (const char* name : {"page_size", "page_token"}) {
    if (const auto* field = query->GetDescriptor()->FindFieldByName(name)) reflection->ClearField(query.get(), field);
  }
  std::string bytes(method);
  bytes.push_back('\0');
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    query->SerializeToCodedStream(&out);
  }
  fingerprint_ = absl::StrCat(absl::Hex(core::Fnv1a64(bytes), absl::kZeroPad16));
}

absl::StatusOr<std::string> PageQuery::Cursor(absl::string_view token) const {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::StartsWith(token, kPrefix) || !absl::WebSafeBase64Unescape(token.substr(kPrefix.size()), &raw) ||
      raw.size() < fingerprint_.size() + 1 || raw[fingerprint_.size()] != '.') {
    return absl::InvalidArgumentError("page_token: not a token this server gave (pass next_page_token unchanged)");
  }
  if (raw.compare(0, fingerprint_.size(), fingerprint_) != 0) {
    return absl::InvalidArgumentError(
        "page_token: it belongs to another query; send the same filters as the call that returned it");
  }
  return raw.substr(fingerprint_.size() + 1);
}

std::string PageQuery::Token(absl::string_view cursor) const {
  if (cursor.empty()) return std::string();
  return absl::StrCat(kPrefix, absl::WebSafeBase64Escape(absl::StrCat(fingerprint_, ".", cursor)));
}

absl::StatusOr<int> PageSizeOf(int requested, int default_size) {
  if (requested < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (requested == 0) return default_size;
  return std::min(requested, kMaxPageSize);
}

}  // namespace plinth::api
