#include "plinth/manifest/yaml.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <regex>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plinth/core/status_macros.h"
#include "yaml.h"

namespace plinth::manifest {
namespace {

using nlohmann::json;

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

// Builds JSON from libyaml's event stream with an explicit stack (no
// recursion), so hostile nesting cannot overflow the C++ stack.
class Builder {
 public:
  Builder(absl::string_view source, size_t max_documents) : source_(source), max_documents_(max_documents) {}

  absl::StatusOr<std::vector<YamlDocument>> Run(absl::string_view text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return absl::ResourceExhaustedError("YAML parser: out of memory");
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    absl::Status status = Loop(parser);
    yaml_parser_delete(&parser);
    if (!status.ok()) return status;
    return std::move(docs_);
  }

 private:
  struct Frame {
    json value;            // array or object being filled
    std::string anchor;    // anchor of this container, if any
    bool expect_key = true;  // objects: next scalar is a key
    std::string key;
    size_t nodes_at_start = 0;
  };

  absl::Status Loop(yaml_parser_t& parser) {
    for (;;) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser, &event)) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(parser.problem_mark.line, parser.problem_mark.column), ": invalid YAML: ",
            parser.problem ? parser.problem : "syntax error",
            parser.context ? absl::StrCat(" ", parser.context) : ""));
      }
      absl::Status s = Handle(event);
      bool done = event.type == YAML_STREAM_END_EVENT;
      yaml_event_delete(&event);
      if (!s.ok()) return s;
      if (done) return absl::OkStatus();
    }
  }

  absl::Status Handle(const yaml_event_t& e) {
    const auto line = e.start_mark.line, column = e.start_mark.column;
    switch (e.type) {
      case YAML_DOCUMENT_START_EVENT:
        anchors_.clear();
        nodes_ = 0;
        doc_line_ = static_cast<int>(line) + 1;
        has_root_ = false;
        return absl::OkStatus();
      case YAML_DOCUMENT_END_EVENT: {
        // Refused as soon as it is seen, not after parsing everything.
        if (has_root_ && ++documents_ > max_documents_) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(line, column), ": more than ", max_documents_, " documents"));
        }
        YamlDocument doc;
        doc.value = has_root_ ? std::move(root_) : json(nullptr);
        doc.line = doc_line_;
        docs_.push_back(std::move(doc));
        root_ = nullptr;
        return absl::OkStatus();
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (!stack_.empty() && stack_.back().value.is_object() && stack_.back().expect_key) {
          return Error(line, column, "a mapping key must be a plain value");
        }
        if (stack_.size() >= static_cast<size_t>(kMaxYamlDepth)) {
          return Error(line, column, absl::StrCat("nesting deeper than ", kMaxYamlDepth, " levels"));
        }
        PLINTH_RETURN_IF_ERROR(Count(1, line, column));
        Frame f;
        bool seq = e.type == YAML_SEQUENCE_START_EVENT;
        f.value = seq ? json::array() : json::object();
        const yaml_char_t* anchor = seq ? e.data.sequence_start.anchor : e.data.mapping_start.anchor;
        const yaml_char_t* tag = seq ? e.data.sequence_start.tag : e.data.mapping_start.tag;
        if (anchor) f.anchor = reinterpret_cast<const char*>(anchor);
        if (tag) {
          std::string t = reinterpret_cast<const char*>(tag);
          if (t != (seq ? "tag:yaml.org,2002:seq" : "tag:yaml.org,2002:map") && t != "!") {
            return Error(line, column, absl::StrCat("unsupported tag \"", t, "\""));
          }
        }
        f.nodes_at_start = nodes_;
        stack_.push_back(std::move(f));
        return absl::OkStatus();
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        if (!f.anchor.empty()) anchors_[f.anchor] = {f.value, nodes_ - f.nodes_at_start + 1};
        return Add(std::move(f.value), line, column);
      }
      case YAML_SCALAR_EVENT: {
        std::string value(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
        if (!IsValidUtf8(value)) return Error(line, column, "the value is not valid UTF-8");
        PLINTH_RETURN_IF_ERROR(Count(1, line, column));
        json v;
        if (!stack_.empty() && stack_.back().value.is_object() && stack_.back().expect_key) {
          v = json(std::move(value));  // keys are always strings
        } else {
          PLINTH_ASSIGN_OR_RETURN(v, Scalar(e, std::move(value)));
        }
        if (e.data.scalar.anchor) {
          anchors_[reinterpret_cast<const char*>(e.data.scalar.anchor)] = {v, 1};
        }
        return Add(std::move(v), line, column);
      }
      case YAML_ALIAS_EVENT: {
        std::string name = reinterpret_cast<const char*>(e.data.alias.anchor);
        auto it = anchors_.find(name);
        if (it == anchors_.end()) return Error(line, column, absl::StrCat("unknown alias *", name));
        PLINTH_RETURN_IF_ERROR(Count(it->second.nodes, line, column));
        if (!stack_.empty() && stack_.back().value.is_object() && stack_.back().expect_key &&
            !it->second.value.is_string()) {
          return Error(line, column, "a mapping key must be a plain value");
        }
        return Add(it->second.value, line, column);
      }
      default:
        return absl::OkStatus();
    }
  }

  absl::StatusOr<json> Scalar(const yaml_event_t& e, std::string s) {
    const auto line = e.start_mark.line, column = e.start_mark.column;
    std::string tag = e.data.scalar.tag ? reinterpret_cast<const char*>(e.data.scalar.tag) : "";
    bool plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag.empty()) return plain ? ResolvePlainScalar(s) : json(std::move(s));
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(std::move(s));
    if (tag == "tag:yaml.org,2002:int") {
      if (auto v = ResolveInt(s)) return *v;
      return Error(line, column, absl::StrCat("\"", s, "\" is not an integer"));
    }
    if (tag == "tag:yaml.org,2002:float") {
      if (auto v = ResolveInt(s)) return json(v->get<double>());
      if (auto v = ResolveFloat(s)) return *v;
      return Error(line, column, absl::StrCat("\"", s, "\" is not a number"));
    }
    if (tag == "tag:yaml.org,2002:bool") {
      json v = ResolvePlainScalar(s);
      if (v.is_boolean()) return v;
      return Error(line, column, absl::StrCat("\"", s, "\" is not a boolean"));
    }
    if (tag == "tag:yaml.org,2002:null") return json(nullptr);
    return Error(line, column, absl::StrCat("unsupported tag \"", tag, "\""));
  }

  // Places a finished value into its parent (or as the document root).
  absl::Status Add(json v, size_t line, size_t column) {
    if (stack_.empty()) {
      root_ = std::move(v);
      has_root_ = true;
      return absl::OkStatus();
    }
    Frame& top = stack_.back();
    if (top.value.is_array()) {
      top.value.push_back(std::move(v));
    } else if (top.expect_key) {
      top.key = v.get<std::string>();
      if (top.value.contains(top.key)) {
        return Error(line, column, absl::StrCat("duplicate key \"", top.key, "\""));
      }
      top.expect_key = false;
    } else {
      top.value[top.key] = std::move(v);
      top.expect_key = true;
    }
    return absl::OkStatus();
  }

  absl::Status Count(size_t n, size_t line, size_t column) {
    nodes_ += n;
    if (nodes_ > static_cast<size_t>(kMaxYamlNodes)) {
      return Error(line, column, absl::StrCat("document expands to more than ", kMaxYamlNodes,
                                              " nodes (aliases?)"));
    }
    return absl::OkStatus();
  }

  std::string Where(size_t line, size_t column) const {
    return absl::StrCat(source_, ": line ", line + 1, ", column ", column + 1);
  }

  absl::Status Error(size_t line, size_t column, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(line, column), ": ", what));
  }

  struct Anchor {
    json value;
    size_t nodes;
  };

  absl::string_view source_;
  std::vector<YamlDocument> docs_;
  std::vector<Frame> stack_;
  std::map<std::string, Anchor> anchors_;
  json root_;
  bool has_root_ = false;
  size_t max_documents_;
  size_t documents_ = 0;  // with a root
  int doc_line_ = 1;
  size_t nodes_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<YamlDocument>> ParseYamlDocuments(absl::string_view text,
                                                             absl::string_view source_name, size_t max_documents) {
  if (size_t nul = text.find('\0'); nul != absl::string_view::npos) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + nul, '\n'));
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": line ", line, ": contains a NUL byte"));
  }
  return Builder(source_name, max_documents).Run(text);
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

class Emitter {
 public:
  Emitter() {
    yaml_emitter_initialize(&emitter_);
    yaml_emitter_set_output(&emitter_, &Emitter::Write, &out_);
    yaml_emitter_set_unicode(&emitter_, 1);
    yaml_emitter_set_width(&emitter_, -1);
    yaml_emitter_set_indent(&emitter_, 2);
  }
  ~Emitter() { yaml_emitter_delete(&emitter_); }

  std::string Document(const json& v) {
    yaml_event_t e;
    yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING);
    Emit(e);
    yaml_document_start_event_initialize(&e, nullptr, nullptr, nullptr, /*implicit=*/1);
    Emit(e);
    Value(v);
    yaml_document_end_event_initialize(&e, /*implicit=*/1);
    Emit(e);
    yaml_stream_end_event_initialize(&e);
    Emit(e);
    return out_;
  }

 private:
  static int Write(void* data, unsigned char* buffer, size_t size) {
    static_cast<std::string*>(data)->append(reinterpret_cast<char*>(buffer), size);
    return 1;
  }

  void Emit(yaml_event_t& e) {
    if (!failed_ && !yaml_emitter_emit(&emitter_, &e)) failed_ = true;
  }

  void Scalar(const std::string& text, yaml_scalar_style_t style) {
    yaml_event_t e;
    yaml_scalar_event_initialize(&e, nullptr, nullptr,
                                 reinterpret_cast<const yaml_char_t*>(text.data()),
                                 static_cast<int>(text.size()), /*plain_implicit=*/1,
                                 /*quoted_implicit=*/1, style);
    Emit(e);
  }

  void String(const std::string& s) {
    if (s.find('\n') != std::string::npos && s.find_first_of("\r\t") == std::string::npos &&
        s.back() != ' ') {
      Scalar(s, YAML_LITERAL_SCALAR_STYLE);
    } else {
      Scalar(s, NeedsQuotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
    }
  }

  void Value(const json& v) {
    yaml_event_t e;
    switch (v.type()) {
      case json::value_t::null:
        Scalar("null", YAML_PLAIN_SCALAR_STYLE);
        break;
      case json::value_t::boolean:
        Scalar(v.get<bool>() ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
        break;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float:
        Scalar(v.dump(), YAML_PLAIN_SCALAR_STYLE);
        break;
      case json::value_t::string:
        String(v.get_ref<const std::string&>());
        break;
      case json::value_t::array:
        yaml_sequence_start_event_initialize(&e, nullptr, nullptr, 1,
                                             v.empty() ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
        Emit(e);
        for (const auto& item : v) Value(item);
        yaml_sequence_end_event_initialize(&e);
        Emit(e);
        break;
      case json::value_t::object:
        yaml_mapping_start_event_initialize(&e, nullptr, nullptr, 1,
                                            v.empty() ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE);
        Emit(e);
        for (const auto& [key, item] : v.items()) {
          String(key);
          Value(item);
        }
        yaml_mapping_end_event_initialize(&e);
        Emit(e);
        break;
      default:
        Scalar("null", YAML_PLAIN_SCALAR_STYLE);
    }
  }

  yaml_emitter_t emitter_;
  std::string out_;
  bool failed_ = false;
};

}  // namespace

std::string JsonToYaml(const nlohmann::json& value) {
  std::string s = Emitter().Document(value);
  if (s.empty() || s.back() != '\n') s.push_back('\n');
  return s;
}

}  // namespace plinth::manifest
