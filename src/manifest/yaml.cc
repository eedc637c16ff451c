#include "plinth/manifest/yaml.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <regex>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace plinth::manifest {
namespace {

using nlohmann::json;

std::string Where(absl::string_view source, const YAML::Mark& mark) {
  if (mark.is_null()) return std::string(source);
  return absl::StrCat(source, ": line ", mark.line + 1, ", column ", mark.column + 1);
}

// Integer forms of the YAML 1.2 core schema.
std::optional<json> ResolveInt(const std::string& s) {
  static const std::regex kDec("[-+]?[0-9]+");
  static const std::regex kOct("0o[0-7]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  int base = 0;
  std::string digits = s;
  if (std::regex_match(s, kDec)) {
    base = 10;
  } else if (std::regex_match(s, kOct)) {
    base = 8;
    digits = s.substr(2);
  } else if (std::regex_match(s, kHex)) {
    base = 16;
    digits = s.substr(2);
  } else {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  if (digits[0] == '-') {
    long long v = std::strtoll(digits.c_str(), &end, base);
    if (errno == 0) return json(static_cast<int64_t>(v));
  } else {
    unsigned long long v = std::strtoull(digits.c_str(), &end, base);
    if (errno == 0) {
      if (v <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
        return json(static_cast<int64_t>(v));
      }
      return json(static_cast<uint64_t>(v));
    }
  }
  // Out of 64-bit range: keep the magnitude as a float, as YAML readers do.
  return json(std::strtod(s.c_str(), nullptr));
}

std::optional<json> ResolveFloat(const std::string& s) {
  static const std::regex kFloat(
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex kInf("[-+]?\\.(inf|Inf|INF)");
  static const std::regex kNan("\\.(nan|NaN|NAN)");
  if (std::regex_match(s, kFloat)) return json(std::strtod(s.c_str(), nullptr));
  // JSON has no infinity or NaN; such values stay strings so that nothing
  // silently turns into null.
  if (std::regex_match(s, kInf) || std::regex_match(s, kNan)) return json(s);
  return std::nullopt;
}

json ResolvePlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.') {
    if (auto v = ResolveInt(s)) return *v;
    if (auto v = ResolveFloat(s)) return *v;
  }
  return s;
}

// Strict UTF-8: no overlongs, surrogates or code points above U+10FFFF.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

class Converter {
 public:
  explicit Converter(absl::string_view source) : source_(source) {}

  absl::StatusOr<json> Convert(const YAML::Node& node, int depth) {
    if (depth > kMaxYamlDepth) {
      return Error(node, absl::StrCat("nesting deeper than ", kMaxYamlDepth, " levels"));
    }
    if (++nodes_ > kMaxYamlNodes) {
      return Error(node, absl::StrCat("document expands to more than ", kMaxYamlNodes,
                                      " nodes (aliases?)"));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return Scalar(node);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const auto& item : node) {
          auto v = Convert(item, depth + 1);
          if (!v.ok()) return v.status();
          out.push_back(std::move(*v));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            return Error(kv.first, "a mapping key must be a plain value");
          }
          const std::string& key = kv.first.Scalar();
          if (!IsValidUtf8(key)) return Error(kv.first, "a key is not valid UTF-8");
          if (out.contains(key)) {
            return Error(kv.first, absl::StrCat("duplicate key \"", key, "\""));
          }
          auto v = Convert(kv.second, depth + 1);
          if (!v.ok()) return v.status();
          out[key] = std::move(*v);
        }
        return out;
      }
    }
    return json(nullptr);
  }

 private:
  absl::StatusOr<json> Scalar(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    const std::string& s = node.Scalar();
    if (!IsValidUtf8(s)) return Error(node, "the value is not valid UTF-8");
    if (tag == "?") return ResolvePlainScalar(s);
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(s);
    if (tag == "tag:yaml.org,2002:int") {
      if (auto v = ResolveInt(s)) return *v;
      return Error(node, absl::StrCat("\"", s, "\" is not an integer"));
    }
    if (tag == "tag:yaml.org,2002:float") {
      if (auto v = ResolveInt(s)) return json(v->get<double>());
      if (auto v = ResolveFloat(s)) return *v;
      return Error(node, absl::StrCat("\"", s, "\" is not a number"));
    }
    if (tag == "tag:yaml.org,2002:bool") {
      json v = ResolvePlainScalar(s);
      if (v.is_boolean()) return v;
      return Error(node, absl::StrCat("\"", s, "\" is not a boolean"));
    }
    if (tag == "tag:yaml.org,2002:null") return json(nullptr);
    return Error(node, absl::StrCat("unsupported tag \"", tag, "\""));
  }

  absl::Status Error(const YAML::Node& node, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(Where(source_, node.Mark()), ": ", what));
  }

  absl::string_view source_;
  int nodes_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<YamlDocument>> ParseYamlDocuments(absl::string_view text,
                                                             absl::string_view source_name) {
  if (size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + nul, '\n'));
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": line ", line, ": contains a NUL byte"));
  }
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, e.mark), ": invalid YAML: ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": invalid YAML: ", e.what()));
  }
  std::vector<YamlDocument> docs;
  docs.reserve(nodes.size());
  for (const auto& node : nodes) {
    Converter converter(source_name);
    absl::StatusOr<json> value;
    try {
      value = converter.Convert(node, 0);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ": invalid YAML: ", e.what()));
    }
    if (!value.ok()) return value.status();
    YamlDocument doc;
    doc.value = std::move(*value);
    doc.line = node.Mark().is_null() ? 1 : node.Mark().line + 1;
    docs.push_back(std::move(doc));
  }
  return docs;
}

namespace {

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  if (!ResolvePlainScalar(s).is_string()) return true;
  // Words YAML 1.1 readers take as booleans; quote them for their sake.
  std::string lower = absl::AsciiStrToLower(s);
  if (lower == "yes" || lower == "no" || lower == "on" || lower == "off" || lower == "y" ||
      lower == "n") {
    return true;
  }
  return false;
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      out << YAML::Null;
      break;
    case json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      break;
    case json::value_t::number_integer:
      out << v.get<int64_t>();
      break;
    case json::value_t::number_unsigned:
      out << v.get<uint64_t>();
      break;
    case json::value_t::number_float: {
      double d = v.get<double>();
      std::string s = json(d).dump();
      out << s;
      break;
    }
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.find('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else if (NeedsQuotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const auto& item : v) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : v.items()) {
        out << YAML::Key;
        if (NeedsQuotes(key)) {
          out << YAML::DoubleQuoted << key;
        } else {
          out << key;
        }
        out << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

std::string JsonToYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  Emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s.push_back('\n');
  return s;
}

}  // namespace plinth::manifest
