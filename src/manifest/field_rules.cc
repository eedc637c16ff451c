#include "plinth/manifest/field_rules.h"

#include <arpa/inet.h>

#include <cmath>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "plinth/manifest/names.h"
#include "re2/re2.h"

namespace plinth::manifest {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using nlohmann::json;

// buf.validate's extension number on FieldOptions, MessageOptions and OneofOptions.
constexpr int kBufValidate = 1159;

// The bytes of the last length-delimited occurrence of `number`, if any.
std::optional<std::string> Extension(const std::string& options_bytes, int number) {
  UnknownFieldSet set;
  if (!set.ParseFromString(options_bytes)) return std::nullopt;
  std::optional<std::string> out;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    if (f.number() == number && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      // Repeated occurrences of a message option merge; concatenating bytes does that.
      out = out.value_or("") + f.length_delimited();
    }
  }
  return out;
}

uint64_t ReadVarint(const std::string& s, size_t& pos, bool& ok) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= s.size()) break;
    auto b = static_cast<unsigned char>(s[pos++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  ok = false;
  return 0;
}

// protovalidate's number rule messages: FieldRules field number -> name and encoding.
struct NumberType {
  const char* name;
  enum Encoding { kFloat, kDouble, kSigned, kUnsigned, kZigZag, kFixed32, kFixed64, kSFixed32, kSFixed64 } enc;
};
const std::map<int, NumberType>& NumberTypes() {
  static const auto* m = new std::map<int, NumberType>{
      {1, {"float", NumberType::kFloat}},       {2, {"double", NumberType::kDouble}},
      {3, {"int32", NumberType::kSigned}},      {4, {"int64", NumberType::kSigned}},
      {5, {"uint32", NumberType::kUnsigned}},   {6, {"uint64", NumberType::kUnsigned}},
      {7, {"sint32", NumberType::kZigZag}},     {8, {"sint64", NumberType::kZigZag}},
      {9, {"fixed32", NumberType::kFixed32}},   {10, {"fixed64", NumberType::kFixed64}},
      {11, {"sfixed32", NumberType::kSFixed32}}, {12, {"sfixed64", NumberType::kSFixed64}},
  };
  return *m;
}

long double DecodeNumber(const UnknownField& f, NumberType::Encoding enc) {
  switch (f.type()) {
    case UnknownField::TYPE_VARINT: {
      uint64_t v = f.varint();
      if (enc == NumberType::kSigned) return static_cast<long double>(static_cast<int64_t>(v));
      if (enc == NumberType::kZigZag) {
        return static_cast<long double>(static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)));
      }
      return static_cast<long double>(v);
    }
    case UnknownField::TYPE_FIXED32: {
      uint32_t v = f.fixed32();
      if (enc == NumberType::kFloat) {
        float x;
        std::memcpy(&x, &v, sizeof x);
        return x;
      }
      if (enc == NumberType::kSFixed32) return static_cast<int32_t>(v);
      return v;
    }
    case UnknownField::TYPE_FIXED64: {
      uint64_t v = f.fixed64();
      if (enc == NumberType::kDouble) {
        double x;
        std::memcpy(&x, &v, sizeof x);
        return x;
      }
      if (enc == NumberType::kSFixed64) return static_cast<long double>(static_cast<int64_t>(v));
      return static_cast<long double>(v);
    }
    default:
      return 0;
  }
}

// Every value of a repeated number rule, packed or not.
std::vector<long double> DecodeNumbers(const UnknownField& f, NumberType::Encoding enc) {
  if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) return {DecodeNumber(f, enc)};
  std::vector<long double> out;
  const std::string& s = f.length_delimited();
  size_t pos = 0;
  bool ok = true;
  while (pos < s.size() && ok) {
    UnknownFieldSet one;
    if (enc == NumberType::kFloat || enc == NumberType::kFixed32 || enc == NumberType::kSFixed32) {
      if (pos + 4 > s.size()) break;
      uint32_t v;
      std::memcpy(&v, s.data() + pos, 4);
      pos += 4;
      one.AddFixed32(1, v);
    } else if (enc == NumberType::kDouble || enc == NumberType::kFixed64 || enc == NumberType::kSFixed64) {
      if (pos + 8 > s.size()) break;
      uint64_t v;
      std::memcpy(&v, s.data() + pos, 8);
      pos += 8;
      one.AddFixed64(1, v);
    } else {
      one.AddVarint(1, ReadVarint(s, pos, ok));
    }
    if (ok) out.push_back(DecodeNumber(one.field(0), enc));
  }
  return out;
}

std::string FormatNumber(long double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e18) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrCat(static_cast<double>(v));
}

UncheckedRule Unchecked(std::string id) { return UncheckedRule{std::move(id), ""}; }

void ReadCel(const std::string& bytes, std::vector<UncheckedRule>& out) {
  UnknownFieldSet rule;
  if (!rule.ParseFromString(bytes)) return;
  UncheckedRule r;
  for (int i = 0; i < rule.field_count(); ++i) {
    const UnknownField& f = rule.field(i);
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    if (f.number() == 1) r.id = f.length_delimited();
    if (f.number() == 3) r.expression = f.length_delimited();
  }
  if (r.id.empty()) r.id = "cel";
  out.push_back(std::move(r));
}

std::shared_ptr<FieldRules> Decode(const std::string& bytes, const std::string& prefix);
void MergedFields(const std::string& bytes, const std::set<int>& messages, UnknownFieldSet& out);

void DecodeString(const std::string& bytes, FieldRules& r) {
  UnknownFieldSet set;
  if (!set.ParseFromString(bytes)) return;
  r.type = FieldRules::Type::kString;
  static const std::map<int, const char*> kUnchecked = {
      {18, "string.uri_ref"}, {20, "string.len_bytes"}, {21, "string.address"},
      {22, "string.uuid"}, {24, "string.well_known_regex"}, {26, "string.ip_with_prefixlen"},
      {27, "string.ipv4_with_prefixlen"}, {28, "string.ipv6_with_prefixlen"},
      {29, "string.ip_prefix"}, {30, "string.ipv4_prefix"}, {31, "string.ipv6_prefix"},
      {32, "string.host_and_port"}, {33, "string.tuuid"}, {35, "string.ulid"},
      {37, "string.protobuf_fqn"}, {38, "string.protobuf_dot_fqn"}};
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    const bool text = f.type() == UnknownField::TYPE_LENGTH_DELIMITED;
    const bool varint = f.type() == UnknownField::TYPE_VARINT;
    switch (f.number()) {
      case 1: if (text) r.str_const = f.length_delimited(); break;
      case 2: if (varint) r.min_len = f.varint(); break;
      case 3: if (varint) r.max_len = f.varint(); break;
      case 4: if (varint) r.min_bytes = f.varint(); break;
      case 5: if (varint) r.max_bytes = f.varint(); break;
      case 6:
        if (text) {
          r.pattern = f.length_delimited();
          auto re = std::make_shared<re2::RE2>(r.pattern, re2::RE2::Quiet);
          if (re->ok()) {
            r.pattern_re = std::move(re);
          } else {
            r.unchecked.push_back({"string.pattern (not valid RE2)", r.pattern});
          }
        }
        break;
      case 7: if (text) r.prefix = f.length_delimited(); break;
      case 8: if (text) r.suffix = f.length_delimited(); break;
      case 9: if (text) r.contains = f.length_delimited(); break;
      case 10: if (text) r.str_in.push_back(f.length_delimited()); break;
      case 11: if (text) r.str_not_in.push_back(f.length_delimited()); break;
      case 12: r.email = varint && f.varint(); break;
      case 13: r.hostname = varint && f.varint(); break;
      case 14: r.ip = varint && f.varint(); break;
      case 17: r.uri = varint && f.varint(); break;
      case 19: if (varint) r.len = f.varint(); break;
      case 25: break;  // strict: a modifier of well_known_regex
      case 34: break;  // example: documentation, not a rule
      default: {
        auto it = kUnchecked.find(f.number());
        r.unchecked.push_back(Unchecked(it != kUnchecked.end() ? it->second
                                                               : absl::StrCat("string rule ", f.number())));
      }
    }
  }
}

void DecodeNumberRules(const std::string& bytes, int type_number, FieldRules& r) {
  UnknownFieldSet set;
  if (!set.ParseFromString(bytes)) return;
  const NumberType& t = NumberTypes().at(type_number);
  const bool floating = t.enc == NumberType::kFloat || t.enc == NumberType::kDouble;
  r.type = FieldRules::Type::kNumber;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    switch (f.number()) {
      case 1: r.num_const = DecodeNumber(f, t.enc); break;
      case 2: r.lt = DecodeNumber(f, t.enc); break;
      case 3: r.lte = DecodeNumber(f, t.enc); break;
      case 4: r.gt = DecodeNumber(f, t.enc); break;
      case 5: r.gte = DecodeNumber(f, t.enc); break;
      case 6: for (auto v : DecodeNumbers(f, t.enc)) r.num_in.push_back(v); break;
      case 7: for (auto v : DecodeNumbers(f, t.enc)) r.num_not_in.push_back(v); break;
      case 8:
        if (floating) r.unchecked.push_back(Unchecked(absl::StrCat(t.name, ".finite")));
        break;  // example, for the integer types
      case 9: break;  // example
      default: r.unchecked.push_back(Unchecked(absl::StrCat(t.name, " rule ", f.number())));
    }
  }
}

void DecodeEnum(const std::string& bytes, FieldRules& r) {
  UnknownFieldSet set;
  if (!set.ParseFromString(bytes)) return;
  r.type = FieldRules::Type::kEnum;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    auto values = [&] {
      std::vector<int32_t> out;
      for (auto v : DecodeNumbers(f, NumberType::kSigned)) out.push_back(static_cast<int32_t>(v));
      return out;
    };
    switch (f.number()) {
      case 1: r.enum_const = static_cast<int32_t>(DecodeNumber(f, NumberType::kSigned)); break;
      case 2: r.defined_only = f.type() == UnknownField::TYPE_VARINT && f.varint(); break;
      case 3: for (auto v : values()) r.enum_in.push_back(v); break;
      case 4: for (auto v : values()) r.enum_not_in.push_back(v); break;
      case 5: break;  // example
      default: r.unchecked.push_back(Unchecked(absl::StrCat("enum rule ", f.number())));
    }
  }
}

void DecodeCollection(const std::string& bytes, bool map, FieldRules& r, const std::string& prefix) {
  UnknownFieldSet set;
  MergedFields(bytes, {4, 5}, set);
  r.type = map ? FieldRules::Type::kMap : FieldRules::Type::kRepeated;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    const bool varint = f.type() == UnknownField::TYPE_VARINT;
    const bool nested = f.type() == UnknownField::TYPE_LENGTH_DELIMITED;
    if (!map) {
      switch (f.number()) {
        case 1: if (varint) r.min_items = f.varint(); break;
        case 2: if (varint) r.max_items = f.varint(); break;
        case 3: r.unique = varint && f.varint(); break;
        case 4: if (nested) r.items = Decode(f.length_delimited(), prefix + "items: "); break;
        default: r.unchecked.push_back(Unchecked(absl::StrCat("repeated rule ", f.number())));
      }
    } else {
      switch (f.number()) {
        case 1: if (varint) r.min_pairs = f.varint(); break;
        case 2: if (varint) r.max_pairs = f.varint(); break;
        case 4: if (nested) r.keys = Decode(f.length_delimited(), prefix + "keys: "); break;
        case 5: if (nested) r.values = Decode(f.length_delimited(), prefix + "values: "); break;
        default: r.unchecked.push_back(Unchecked(absl::StrCat("map rule ", f.number())));
      }
    }
  }
  for (const auto& sub : {r.items, r.keys, r.values}) {
    if (!sub) continue;
    for (const auto& u : sub->unchecked) r.unchecked.push_back(u);
  }
}

// Protobuf merges repeated occurrences of a singular message field (protoc
// writes one per option line, e.g. two `repeated.items.string.in` lines):
// concatenating their bytes gives the merged message.
void MergedFields(const std::string& bytes, const std::set<int>& messages, UnknownFieldSet& out) {
  UnknownFieldSet set;
  if (!set.ParseFromString(bytes)) return;
  std::map<int, std::string> merged;
  std::vector<int> order;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    if (messages.count(f.number()) && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      if (!merged.count(f.number())) order.push_back(f.number());
      merged[f.number()] += f.length_delimited();
    } else {
      out.AddField(f);
    }
  }
  for (int n : order) out.AddLengthDelimited(n, merged[n]);
}

std::shared_ptr<FieldRules> Decode(const std::string& bytes, const std::string& prefix) {
  UnknownFieldSet set;
  MergedFields(bytes, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 28}, set);
  auto r = std::make_shared<FieldRules>();
  static const std::map<int, const char*> kUncheckedTypes = {
      {13, "bool"}, {15, "bytes"}, {17, "message"}, {20, "any"}, {21, "duration"},
      {22, "timestamp"}, {28, "field_mask"}};
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    const bool nested = f.type() == UnknownField::TYPE_LENGTH_DELIMITED;
    const int n = f.number();
    if (n >= 1 && n <= 12 && nested) {
      DecodeNumberRules(f.length_delimited(), n, *r);
    } else if (n == 14 && nested) {
      DecodeString(f.length_delimited(), *r);
    } else if (n == 16 && nested) {
      DecodeEnum(f.length_delimited(), *r);
    } else if ((n == 18 || n == 19) && nested) {
      DecodeCollection(f.length_delimited(), n == 19, *r, prefix);
    } else if (n == 23 && nested) {
      ReadCel(f.length_delimited(), r->unchecked);
    } else if (n == 29 && nested) {
      r->unchecked.push_back({"cel", f.length_delimited()});
    } else if (n == 25) {
      r->required = f.type() == UnknownField::TYPE_VARINT && f.varint();
    } else if (n == 27 && f.type() == UnknownField::TYPE_VARINT) {
      // Older protovalidate: 1 IGNORE_IF_UNPOPULATED, 2 IGNORE_IF_DEFAULT_VALUE.
      uint64_t v = f.varint();
      r->ignore = v == 3 ? FieldRules::Ignore::kAlways
                         : (v == 1 || v == 2) ? FieldRules::Ignore::kIfZeroValue
                                              : FieldRules::Ignore::kUnspecified;
    } else if (n == 26 && f.type() == UnknownField::TYPE_VARINT) {
      if (f.varint()) r->ignore = FieldRules::Ignore::kIfZeroValue;  // older ignore_empty
    } else if (n == 24) {
      if (f.type() == UnknownField::TYPE_VARINT && f.varint()) r->ignore = FieldRules::Ignore::kAlways;  // older skipped
    } else if (auto it = kUncheckedTypes.find(n); it != kUncheckedTypes.end()) {
      r->unchecked.push_back(Unchecked(absl::StrCat(it->second, " rules")));
    } else {
      r->unchecked.push_back(Unchecked(absl::StrCat("field rule ", n)));
    }
  }
  for (auto& u : r->unchecked) {
    if (!prefix.empty() && !absl::StartsWith(u.id, prefix)) u.id = prefix + u.id;
  }
  return r;
}

// --- checking ---------------------------------------------------------------

absl::Status Err(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
  }
  return n;
}

std::optional<long double> NumberOf(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<int64_t>());
  if (v.is_number_float()) return v.get<double>();
  if (v.is_string()) {
    double d;
    if (absl::SimpleAtod(v.get<std::string>(), &d)) return d;
  }
  return std::nullopt;
}

std::optional<int32_t> EnumNumberOf(const json& v, const FieldDescriptor* f) {
  if (v.is_string()) {
    const auto* value = f->enum_type()->FindValueByName(v.get<std::string>());
    if (value != nullptr) return value->number();
    return std::nullopt;
  }
  if (v.is_number_integer()) return v.get<int32_t>();
  return std::nullopt;
}

std::string ShowEnum(const FieldDescriptor* f, int32_t n) {
  const auto* value = f->enum_type()->FindValueByNumber(n);
  return value ? value->name() : absl::StrCat(n);
}

bool IsZero(const json& v, const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return v.is_string() && v.get_ref<const std::string&>().empty();
    case FieldDescriptor::CPPTYPE_BOOL: return v.is_boolean() && !v.get<bool>();
    case FieldDescriptor::CPPTYPE_ENUM: {
      auto n = EnumNumberOf(v, f);
      return n && *n == 0;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: return false;
    default: {
      auto n = NumberOf(v);
      return n && *n == 0;
    }
  }
}

json ZeroOf(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: return "";
    case FieldDescriptor::CPPTYPE_BOOL: return false;
    default: return 0;
  }
}

bool LooksLikeEmail(const std::string& s) {
  size_t at = s.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= s.size() || s.find('@', at + 1) != std::string::npos) return false;
  for (char c : s) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) return false;
  }
  return s.find('.', at) != std::string::npos;
}

bool LooksLikeHostname(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  std::string h = s.back() == '.' ? s.substr(0, s.size() - 1) : s;
  size_t start = 0;
  while (start <= h.size()) {
    size_t dot = h.find('.', start);
    std::string label = h.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return true;
}

bool LooksLikeIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool LooksLikeUri(const std::string& s) {
  static const re2::RE2 kUri("^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]*$");
  return re2::RE2::FullMatch(s, kUri);
}

absl::Status CheckString(const FieldRules& r, const std::string& s, const std::string& path) {
  const std::string shown = QuoteForError(s);
  if (r.str_const && s != *r.str_const) return Err(path, absl::StrCat("must be ", QuoteForError(*r.str_const)));
  size_t n = CodePoints(s);
  if (r.len && n != *r.len) return Err(path, absl::StrCat("must be exactly ", *r.len, " characters long"));
  if (r.min_len && n < *r.min_len) {
    if (*r.min_len == 1) return Err(path, "must not be empty");
    return Err(path, absl::StrCat("must be at least ", *r.min_len, " characters long"));
  }
  if (r.max_len && n > *r.max_len) return Err(path, absl::StrCat("must be at most ", *r.max_len, " characters long"));
  if (r.min_bytes && s.size() < *r.min_bytes) return Err(path, absl::StrCat("must be at least ", *r.min_bytes, " bytes"));
  if (r.max_bytes && s.size() > *r.max_bytes) return Err(path, absl::StrCat("must be at most ", *r.max_bytes, " bytes"));
  if (r.pattern_re && !re2::RE2::PartialMatch(s, *r.pattern_re)) {
    return Err(path, absl::StrCat(shown, " does not match the pattern ", r.pattern));
  }
  if (r.prefix && !absl::StartsWith(s, *r.prefix)) return Err(path, absl::StrCat("must start with ", QuoteForError(*r.prefix)));
  if (r.suffix && !absl::EndsWith(s, *r.suffix)) return Err(path, absl::StrCat("must end with ", QuoteForError(*r.suffix)));
  if (r.contains && !absl::StrContains(s, *r.contains)) return Err(path, absl::StrCat("must contain ", QuoteForError(*r.contains)));
  if (!r.str_in.empty() && std::find(r.str_in.begin(), r.str_in.end(), s) == r.str_in.end()) {
    return Err(path, absl::StrCat(shown, " is not one of: ", absl::StrJoin(r.str_in, ", ")));
  }
  if (std::find(r.str_not_in.begin(), r.str_not_in.end(), s) != r.str_not_in.end()) {
    return Err(path, absl::StrCat(shown, " is not allowed here"));
  }
  if (r.email && !LooksLikeEmail(s)) return Err(path, absl::StrCat(shown, " is not a valid email address"));
  if (r.hostname && !LooksLikeHostname(s)) return Err(path, absl::StrCat(shown, " is not a valid host name"));
  if (r.ip && !LooksLikeIp(s)) return Err(path, absl::StrCat(shown, " is not a valid IP address"));
  if (r.uri && !LooksLikeUri(s)) return Err(path, absl::StrCat(shown, " is not a valid URI"));
  return absl::OkStatus();
}

absl::Status CheckNumber(const FieldRules& r, long double x, const std::string& path) {
  if (r.num_const && x != *r.num_const) return Err(path, absl::StrCat("must be ", FormatNumber(*r.num_const)));
  std::optional<long double> lower = r.gt ? r.gt : r.gte;
  std::optional<long double> upper = r.lt ? r.lt : r.lte;
  bool above = !lower || (r.gt ? x > *r.gt : x >= *r.gte);
  bool below = !upper || (r.lt ? x < *r.lt : x <= *r.lte);
  if (lower && upper && *lower > *upper) {
    // protovalidate's exclusive range: outside [upper, lower].
    if (!above && !below) {
      return Err(path, absl::StrCat("must be ", r.gt ? "greater than " : "at least ", FormatNumber(*lower),
                                    " or ", r.lt ? "less than " : "at most ", FormatNumber(*upper)));
    }
  } else {
    if (!above) return Err(path, absl::StrCat("must be ", r.gt ? "greater than " : "at least ", FormatNumber(*lower)));
    if (!below) return Err(path, absl::StrCat("must be ", r.lt ? "less than " : "at most ", FormatNumber(*upper)));
  }
  if (!r.num_in.empty() && std::find(r.num_in.begin(), r.num_in.end(), x) == r.num_in.end()) {
    std::vector<std::string> shown;
    for (auto v : r.num_in) shown.push_back(FormatNumber(v));
    return Err(path, absl::StrCat(FormatNumber(x), " is not one of: ", absl::StrJoin(shown, ", ")));
  }
  if (std::find(r.num_not_in.begin(), r.num_not_in.end(), x) != r.num_not_in.end()) {
    return Err(path, absl::StrCat(FormatNumber(x), " is not allowed here"));
  }
  return absl::OkStatus();
}

absl::Status CheckEnum(const FieldRules& r, const FieldDescriptor* f, int32_t n, const std::string& path) {
  if (r.enum_const && n != *r.enum_const) return Err(path, absl::StrCat("must be ", ShowEnum(f, *r.enum_const)));
  if (r.defined_only && f->enum_type()->FindValueByNumber(n) == nullptr) {
    return Err(path, absl::StrCat(n, " is not a value of ", f->enum_type()->name()));
  }
  if (!r.enum_in.empty() && std::find(r.enum_in.begin(), r.enum_in.end(), n) == r.enum_in.end()) {
    std::vector<std::string> shown;
    for (auto v : r.enum_in) shown.push_back(ShowEnum(f, v));
    return Err(path, absl::StrCat(ShowEnum(f, n), " is not one of: ", absl::StrJoin(shown, ", ")));
  }
  if (std::find(r.enum_not_in.begin(), r.enum_not_in.end(), n) != r.enum_not_in.end()) {
    return Err(path, absl::StrCat(ShowEnum(f, n), " is not allowed here"));
  }
  return absl::OkStatus();
}

// The rules of one value (a singular field, a list item, a map key or value).
absl::Status CheckOne(const FieldRules& r, const FieldDescriptor* f, const json& v, const std::string& path) {
  if (r.ignore == FieldRules::Ignore::kIfZeroValue && IsZero(v, f)) return absl::OkStatus();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (r.type == FieldRules::Type::kString && v.is_string()) return CheckString(r, v.get<std::string>(), path);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_ENUM:
      if (r.type == FieldRules::Type::kEnum) {
        if (auto n = EnumNumberOf(v, f)) return CheckEnum(r, f, *n, path);
      }
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_MESSAGE:
    case FieldDescriptor::CPPTYPE_BOOL:
      return absl::OkStatus();
    default:
      if (r.type == FieldRules::Type::kNumber) {
        if (auto x = NumberOf(v)) return CheckNumber(r, *x, path);
      }
      return absl::OkStatus();
  }
}

}  // namespace

std::vector<std::string> FieldRules::Describe() const {
  std::vector<std::string> out;
  if (required) out.push_back("required");
  if (ignore == Ignore::kIfZeroValue) out.push_back("not checked when empty");
  auto q = [](const std::string& s) { return QuoteForError(s); };
  if (str_const) out.push_back("const " + q(*str_const));
  if (len) out.push_back(absl::StrCat("len ", *len));
  if (min_len) out.push_back(absl::StrCat("min_len ", *min_len));
  if (max_len) out.push_back(absl::StrCat("max_len ", *max_len));
  if (min_bytes) out.push_back(absl::StrCat("min_bytes ", *min_bytes));
  if (max_bytes) out.push_back(absl::StrCat("max_bytes ", *max_bytes));
  if (!pattern.empty()) out.push_back("pattern " + pattern);
  if (prefix) out.push_back("prefix " + q(*prefix));
  if (suffix) out.push_back("suffix " + q(*suffix));
  if (contains) out.push_back("contains " + q(*contains));
  if (!str_in.empty()) out.push_back("in [" + absl::StrJoin(str_in, ", ") + "]");
  if (!str_not_in.empty()) out.push_back("not_in [" + absl::StrJoin(str_not_in, ", ") + "]");
  if (email) out.push_back("email");
  if (hostname) out.push_back("hostname");
  if (ip) out.push_back("ip");
  if (uri) out.push_back("uri");
  if (num_const) out.push_back("const " + FormatNumber(*num_const));
  if (gt) out.push_back("gt " + FormatNumber(*gt));
  if (gte) out.push_back("gte " + FormatNumber(*gte));
  if (lt) out.push_back("lt " + FormatNumber(*lt));
  if (lte) out.push_back("lte " + FormatNumber(*lte));
  auto nums = [](const std::vector<long double>& v) {
    std::vector<std::string> s;
    for (auto x : v) s.push_back(FormatNumber(x));
    return absl::StrJoin(s, ", ");
  };
  if (!num_in.empty()) out.push_back("in [" + nums(num_in) + "]");
  if (!num_not_in.empty()) out.push_back("not_in [" + nums(num_not_in) + "]");
  if (enum_const) out.push_back(absl::StrCat("const ", *enum_const));
  if (defined_only) out.push_back("defined_only");
  if (!enum_in.empty()) out.push_back("in [" + absl::StrJoin(enum_in, ", ") + "]");
  if (!enum_not_in.empty()) out.push_back("not_in [" + absl::StrJoin(enum_not_in, ", ") + "]");
  if (min_items) out.push_back(absl::StrCat("min_items ", *min_items));
  if (max_items) out.push_back(absl::StrCat("max_items ", *max_items));
  if (unique) out.push_back("unique");
  if (min_pairs) out.push_back(absl::StrCat("min_pairs ", *min_pairs));
  if (max_pairs) out.push_back(absl::StrCat("max_pairs ", *max_pairs));
  for (const auto& [name, sub] : {std::pair<const char*, const std::shared_ptr<FieldRules>*>{"items", &items},
                                  {"keys", &keys}, {"values", &values}}) {
    if (*sub) {
      auto inner = (*sub)->Describe();
      if (!inner.empty()) out.push_back(absl::StrCat(name, ": ", absl::StrJoin(inner, ", ")));
    }
  }
  return out;
}

std::shared_ptr<const FieldRules> ParseFieldRules(const FieldDescriptor* field) {
  auto bytes = Extension(field->options().SerializeAsString(), kBufValidate);
  if (!bytes) return nullptr;
  return Decode(*bytes, "");
}

std::shared_ptr<const MessageRules> ParseMessageRules(const Descriptor* message) {
  auto bytes = Extension(message->options().SerializeAsString(), kBufValidate);
  if (!bytes) return nullptr;
  UnknownFieldSet set;
  if (!set.ParseFromString(*bytes)) return nullptr;
  auto r = std::make_shared<MessageRules>();
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      if (f.number() == 1 && f.type() == UnknownField::TYPE_VARINT && f.varint()) {
        r->unchecked.push_back(Unchecked("disabled"));
      }
      continue;
    }
    if (f.number() == 3) {
      ReadCel(f.length_delimited(), r->unchecked);
    } else if (f.number() == 5) {
      r->unchecked.push_back({"cel", f.length_delimited()});
    } else if (f.number() == 4) {
      UnknownFieldSet one;
      if (!one.ParseFromString(f.length_delimited())) continue;
      MessageRules::Oneof o;
      for (int j = 0; j < one.field_count(); ++j) {
        const UnknownField& g = one.field(j);
        if (g.number() == 1 && g.type() == UnknownField::TYPE_LENGTH_DELIMITED) o.fields.push_back(g.length_delimited());
        if (g.number() == 2 && g.type() == UnknownField::TYPE_VARINT) o.required = g.varint() != 0;
      }
      r->oneofs.push_back(std::move(o));
    } else {
      r->unchecked.push_back(Unchecked(absl::StrCat("message rule ", f.number())));
    }
  }
  return r;
}

bool OneofRequired(const google::protobuf::OneofDescriptor* oneof) {
  auto bytes = Extension(oneof->options().SerializeAsString(), kBufValidate);
  if (!bytes) return false;
  UnknownFieldSet set;
  if (!set.ParseFromString(*bytes)) return false;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    if (f.number() == 1 && f.type() == UnknownField::TYPE_VARINT) return f.varint() != 0;
  }
  return false;
}

const MessageInfo& RuleIndex::Of(const Descriptor* message) const {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = messages_.find(message);
    if (it != messages_.end()) return *it->second;
  }
  auto info = std::make_unique<MessageInfo>();
  for (int i = 0; i < message->field_count(); ++i) {
    if (auto r = ParseFieldRules(message->field(i))) info->ruled_fields.emplace_back(message->field(i), std::move(r));
  }
  info->rules = ParseMessageRules(message);
  for (int i = 0; i < message->oneof_decl_count(); ++i) {
    const auto* oneof = message->oneof_decl(i);
    if (!oneof->is_synthetic() && OneofRequired(oneof)) info->required_oneofs.push_back(oneof);
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  auto [it, fresh] = messages_.emplace(message, std::move(info));
  return *it->second;
}

const FieldRules* RuleIndex::Field(const FieldDescriptor* field) const {
  for (const auto& [f, r] : Of(field->containing_type()).ruled_fields) {
    if (f == field) return r.get();
  }
  return nullptr;
}

const json* FindFieldValue(const json& object, const FieldDescriptor* field) {
  if (!object.is_object()) return nullptr;
  for (const std::string& key : {field->name(), field->json_name()}) {
    auto it = object.find(key);
    if (it != object.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

absl::Status CheckFieldRules(const FieldRules& r, const FieldDescriptor* f, const json* value,
                             const std::string& path) {
  if (r.ignore == FieldRules::Ignore::kAlways) return absl::OkStatus();
  if (f->is_map() || f->is_repeated()) {
    size_t count = value != nullptr && (value->is_array() || value->is_object()) ? value->size() : 0;
    if (r.required && count == 0) return Err(path, f->is_map() ? "required (give at least one entry)"
                                                                : "required (give at least one item)");
    if (r.ignore == FieldRules::Ignore::kIfZeroValue && count == 0) return absl::OkStatus();
    if (f->is_map()) {
      if (r.min_pairs && count < *r.min_pairs) return Err(path, absl::StrCat("must have at least ", *r.min_pairs, " entries"));
      if (r.max_pairs && count > *r.max_pairs) return Err(path, absl::StrCat("must have at most ", *r.max_pairs, " entries"));
      if (value == nullptr || !value->is_object()) return absl::OkStatus();
      const FieldDescriptor* kf = f->message_type()->map_key();
      const FieldDescriptor* vf = f->message_type()->map_value();
      for (const auto& [k, v] : value->items()) {
        std::string child = absl::StrCat(path, "[", QuoteForError(k), "]");
        if (r.keys) {
          json key = k;
          if (kf->cpp_type() != FieldDescriptor::CPPTYPE_STRING && kf->cpp_type() != FieldDescriptor::CPPTYPE_BOOL) {
            if (auto x = NumberOf(key)) key = static_cast<double>(*x);
          }
          if (auto s = CheckOne(*r.keys, kf, key, child + " (key)"); !s.ok()) return s;
        }
        if (r.values) {
          if (auto s = CheckOne(*r.values, vf, v, child); !s.ok()) return s;
        }
      }
      return absl::OkStatus();
    }
    if (r.min_items && count < *r.min_items) {
      return Err(path, absl::StrCat("must have at least ", *r.min_items, *r.min_items == 1 ? " item" : " items"));
    }
    if (r.max_items && count > *r.max_items) {
      return Err(path, absl::StrCat("must have at most ", *r.max_items, *r.max_items == 1 ? " item" : " items"));
    }
    if (value == nullptr || !value->is_array()) return absl::OkStatus();
    if (r.unique) {
      std::set<std::string> seen;
      for (size_t i = 0; i < value->size(); ++i) {
        if (!seen.insert((*value)[i].dump()).second) {
          return Err(absl::StrCat(path, "[", i, "]"), absl::StrCat("repeats an earlier item (", (*value)[i].dump(), "); items must be unique"));
        }
      }
    }
    if (r.items) {
      for (size_t i = 0; i < value->size(); ++i) {
        if (auto s = CheckOne(*r.items, f, (*value)[i], absl::StrCat(path, "[", i, "]")); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
  const bool present = value != nullptr;
  if (f->has_presence() && !present) {
    return r.required ? Err(path, "required") : absl::OkStatus();
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return absl::OkStatus();
  json v = present ? *value : ZeroOf(f);
  if (r.required && IsZero(v, f)) return Err(path, "required");
  return CheckOne(r, f, v, path);
}

absl::Status CheckMessageRules(const RuleIndex& index, const Descriptor* d, const json& object,
                               const std::string& path) {
  auto join = [&](const std::string& key) { return path.empty() ? key : absl::StrCat(path, ".", key); };
  const MessageInfo& info = index.Of(d);
  for (const auto* oneof : info.required_oneofs) {
    bool any = false;
    std::vector<std::string> names;
    for (int j = 0; j < oneof->field_count(); ++j) {
      any = any || FindFieldValue(object, oneof->field(j)) != nullptr;
      names.push_back(oneof->field(j)->json_name());
    }
    if (!any) return Err(join(oneof->name()), absl::StrCat("required: give one of ", absl::StrJoin(names, ", ")));
  }
  const MessageRules* rules = info.rules.get();
  if (rules == nullptr) return absl::OkStatus();
  for (const auto& o : rules->oneofs) {
    std::vector<std::string> set, names;
    for (const std::string& name : o.fields) {
      const FieldDescriptor* f = d->FindFieldByName(name);
      if (f == nullptr) continue;
      names.push_back(f->json_name());
      const json* v = FindFieldValue(object, f);
      if (v != nullptr && !(f->is_repeated() && v->empty()) && !(!f->has_presence() && IsZero(*v, f))) {
        set.push_back(f->json_name());
      }
    }
    if (set.size() > 1) {
      return Err(join(set[1]), absl::StrCat("cannot be set together with ", set[0], " (only one of ",
                                            absl::StrJoin(names, ", "), ")"));
    }
    if (o.required && set.empty()) {
      return Err(path.empty() ? "spec" : path, absl::StrCat("give one of ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace plinth::manifest
