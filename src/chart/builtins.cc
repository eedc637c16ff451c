// Jinja2's filters, tests, str and dict methods and global functions.
#include "builtins.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "plinth/core/status_macros.h"

namespace plinth::chart {
namespace {

// Python's str.isspace() set, ASCII part.
const char kPyWhitespace[] = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f";

absl::Status Err(absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

// Positional and keyword arguments bound to parameter names.
class Args {
 public:
  Args(const std::string& fn, const std::vector<Value>& pos, const Kwargs& kw,
       std::vector<std::string> names)
      : fn_(fn), pos_(pos), kw_(kw), names_(std::move(names)) {}

  absl::Status Check() const {
    if (pos_.size() > names_.size()) {
      return Err(absl::StrCat(fn_, "() takes at most ", names_.size(), " argument",
                              names_.size() == 1 ? "" : "s", " (", pos_.size(), " given)"));
    }
    for (const auto& [k, v] : kw_) {
      auto it = std::find(names_.begin(), names_.end(), k);
      if (it == names_.end()) return Err(absl::StrCat(fn_, "() got an unexpected keyword argument '", k, "'"));
      if (static_cast<size_t>(it - names_.begin()) < pos_.size()) {
        return Err(absl::StrCat(fn_, "() got multiple values for argument '", k, "'"));
      }
    }
    return absl::OkStatus();
  }

  bool Has(size_t i) const {
    if (i < pos_.size()) return true;
    for (const auto& [k, v] : kw_) {
      if (k == names_[i]) return true;
    }
    return false;
  }

  Value Get(size_t i, Value def = Value::None()) const {
    if (i < pos_.size()) return pos_[i];
    for (const auto& [k, v] : kw_) {
      if (k == names_[i]) return v;
    }
    return def;
  }

 private:
  const std::string& fn_;
  const std::vector<Value>& pos_;
  const Kwargs& kw_;
  std::vector<std::string> names_;
};

std::string PyStrip(const std::string& s, const Value& chars, bool left, bool right) {
  std::string set = chars.is_string() ? chars.string_value() : std::string(kPyWhitespace);
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && set.find(s[b]) != std::string::npos) ++b;
  }
  if (right) {
    while (e > b && set.find(s[e - 1]) != std::string::npos) --e;
  }
  return s.substr(b, e - b);
}

std::string PyReplace(const std::string& s, const std::string& old, const std::string& rep, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `rep` before every character and at the end.
    auto cps = CodePoints(s);
    int64_t done = 0;
    for (const auto& cp : cps) {
      if (count < 0 || done < count) {
        out += rep;
        ++done;
      }
      out += cp;
    }
    if (count < 0 || done < count) out += rep;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  for (;;) {
    size_t at = s.find(old, pos);
    if (at == std::string::npos || (count >= 0 && done >= count)) break;
    out.append(s, pos, at - pos);
    out += rep;
    pos = at + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

absl::StatusOr<Value> PySplit(const std::string& s, const Value& sep, int64_t maxsplit) {
  Value::List out;
  if (sep.is_none()) {
    size_t i = 0;
    int64_t splits = 0;
    while (true) {
      while (i < s.size() && std::string(kPyWhitespace).find(s[i]) != std::string::npos) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && splits >= maxsplit) {
        std::string rest = s.substr(i);
        out.push_back(Value::String(PyStrip(rest, Value::None(), false, true)));
        break;
      }
      size_t j = i;
      while (j < s.size() && std::string(kPyWhitespace).find(s[j]) == std::string::npos) ++j;
      out.push_back(Value::String(s.substr(i, j - i)));
      ++splits;
      i = j;
    }
    return Value::MakeList(std::move(out));
  }
  if (!sep.is_string()) return Err(absl::StrCat("must be str or None, not ", sep.TypeName()));
  const std::string& d = sep.string_value();
  if (d.empty()) return Err("empty separator");
  size_t pos = 0;
  int64_t splits = 0;
  for (;;) {
    size_t at = s.find(d, pos);
    if (at == std::string::npos || (maxsplit >= 0 && splits >= maxsplit)) break;
    out.push_back(Value::String(s.substr(pos, at - pos)));
    pos = at + d.size();
    ++splits;
  }
  out.push_back(Value::String(s.substr(pos)));
  return Value::MakeList(std::move(out));
}

std::string PyCapitalize(const std::string& s) {
  std::string out = absl::AsciiStrToLower(s);
  if (!out.empty()) out[0] = absl::ascii_toupper(out[0]);
  return out;
}

// Jinja2's title: split on runs of [-\s({\[<], capitalize each piece.
std::string JinjaTitle(const std::string& s) {
  auto is_sep = [](char c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' ||
           std::string(kPyWhitespace).find(c) != std::string::npos;
  };
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    bool sep = is_sep(s[i]);
    while (j < s.size() && is_sep(s[j]) == sep) ++j;
    std::string piece = s.substr(i, j - i);
    out += absl::AsciiStrToLower(piece);
    out[out.size() - piece.size()] = absl::ascii_toupper(piece[0]);
    i = j;
  }
  return out;
}

// Python's int(str, 10): optional whitespace, sign, digits with single underscores.
bool PyParseInt(const std::string& text, int64_t* out) {
  std::string s = PyStrip(text, Value::None(), true, true);
  std::string digits;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) digits.push_back(s[i++]);
  if (i >= s.size()) return false;
  bool last_underscore = true;
  for (; i < s.size(); ++i) {
    if (absl::ascii_isdigit(s[i])) {
      digits.push_back(s[i]);
      last_underscore = false;
    } else if (s[i] == '_' && !last_underscore) {
      last_underscore = true;
    } else {
      return false;
    }
  }
  if (last_underscore) return false;
  return absl::SimpleAtoi(digits, out);
}

// Python's float(str).
bool PyParseFloat(const std::string& text, double* out) {
  std::string s = PyStrip(text, Value::None(), true, true);
  std::string lower = absl::AsciiStrToLower(s);
  std::string body = lower;
  double sign = 1;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    sign = body[0] == '-' ? -1 : 1;
    body = body.substr(1);
  }
  if (body == "inf" || body == "infinity") {
    *out = sign * INFINITY;
    return true;
  }
  if (body == "nan") {
    *out = NAN;
    return true;
  }
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !absl::ascii_isdigit(s[i - 1]) || !absl::ascii_isdigit(s[i + 1])) return false;
      continue;
    }
    if (!absl::ascii_isdigit(s[i]) && s[i] != '.' && s[i] != 'e' && s[i] != 'E' && s[i] != '+' && s[i] != '-') return false;
    clean.push_back(s[i]);
  }
  if (clean.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(clean.c_str(), &end);
  return end == clean.c_str() + clean.size();
}

// Python's json.dumps(ensure_ascii=True) of one string.
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    int len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
      len = 2;
    } else if ((c & 0xF0) == 0xE0 && i + 2 < s.size()) {
      cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      len = 3;
    } else if (i + 3 < s.size()) {
      cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
      len = 4;
    } else {
      cp = 0xFFFD;
    }
    i += len;
    char buf[16];
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20 || cp >= 0x7f) {
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      out += buf;
    } else {
      out.push_back(static_cast<char>(cp));
    }
  }
  return out + "\"";
}

// Python's json.dumps(sort_keys=True[, indent]).
absl::StatusOr<std::string> PyJson(const Value& v, int indent, int level) {
  std::string nl, pad, pad_in;
  if (indent >= 0) {
    nl = "\n";
    pad = std::string(indent * level, ' ');
    pad_in = std::string(indent * (level + 1), ' ');
  }
  std::string item_sep = indent >= 0 ? "," : ", ";
  switch (v.type()) {
    case Value::Type::kNone: return std::string("null");
    case Value::Type::kBool: return std::string(v.bool_value() ? "true" : "false");
    case Value::Type::kInt: return absl::StrCat(v.int_value());
    case Value::Type::kFloat: {
      double d = v.float_value();
      if (std::isnan(d)) return std::string("NaN");
      if (std::isinf(d)) return std::string(d > 0 ? "Infinity" : "-Infinity");
      return PythonFloatRepr(d);
    }
    case Value::Type::kString: return JsonString(v.string_value());
    case Value::Type::kList:
    case Value::Type::kTuple: {
      if (v.list().empty()) return std::string("[]");
      std::string out = "[" + nl;
      for (size_t i = 0; i < v.list().size(); ++i) {
        PLINTH_ASSIGN_OR_RETURN(std::string item, PyJson(v.list()[i], indent, level + 1));
        out += (i ? item_sep + nl : "") + pad_in + item;
      }
      return out + nl + pad + "]";
    }
    case Value::Type::kDict: {
      if (v.dict().empty()) return std::string("{}");
      std::vector<std::pair<std::string, const Value*>> items;
      bool any_string = false, any_other = false;
      for (const auto& [k, val] : v.dict()) {
        std::string key;
        if (k.is_string()) {
          key = k.string_value();
          any_string = true;
        } else if (k.is_none()) {
          key = "null";
          any_other = true;
        } else if (k.is_bool()) {
          key = k.bool_value() ? "true" : "false";
          any_other = true;
        } else if (k.is_int() || k.is_float()) {
          key = k.is_int() ? absl::StrCat(k.int_value()) : PythonFloatRepr(k.float_value());
          any_other = true;
        } else {
          return Err(absl::StrCat("keys must be str, int, float, bool or None, not ", k.TypeName()));
        }
        items.emplace_back(key, &val);
      }
      if (any_string && any_other) {
        return Err("'<' not supported between instances of 'int' and 'str' (tojson sorts keys)");
      }
      std::stable_sort(items.begin(), items.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      std::string out = "{" + nl;
      for (size_t i = 0; i < items.size(); ++i) {
        PLINTH_ASSIGN_OR_RETURN(std::string item, PyJson(*items[i].second, indent, level + 1));
        out += (i ? item_sep + nl : "") + pad_in + JsonString(items[i].first) + ": " + item;
      }
      return out + nl + pad + "}";
    }
    case Value::Type::kUndefined: return UndefinedError(v);
    default:
      return Err(absl::StrCat("Object of type ", v.TypeName(), " is not JSON serializable"));
  }
}

// Python's str.splitlines().
std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' || c == '\x1e') {
      out.push_back(s.substr(start, i - start));
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < s.size()) out.push_back(s.substr(start));
  return out;
}

// Python's round(x, n) for floats: correctly rounded, ties to even.
double PyRound(double x, int64_t n) {
  if (!std::isfinite(x)) return x;
  if (n >= 0 && n <= 300) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(n), x);
    return std::strtod(buf, nullptr);
  }
  double p = std::pow(10.0, static_cast<double>(-n));
  double y = std::nearbyint(x / p) * p;
  return y;
}

absl::StatusOr<int> SortCompare(const Value& a, const Value& b) {
  PLINTH_ASSIGN_OR_RETURN(bool lt, CompareOp("<", a, b));
  if (lt) return -1;
  PLINTH_ASSIGN_OR_RETURN(bool gt, CompareOp(">", a, b));
  return gt ? 1 : 0;
}

Value SortKey(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::String(absl::AsciiStrToLower(v.string_value()));
  return v;
}

absl::StatusOr<Value::List> SortedList(Value::List items, bool reverse, bool case_sensitive) {
  absl::Status error;
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    if (!error.ok()) return false;
    auto c = SortCompare(SortKey(reverse ? b : a, case_sensitive), SortKey(reverse ? a : b, case_sensitive));
    if (!c.ok()) {
      error = c.status();
      return false;
    }
    return *c < 0;
  });
  if (!error.ok()) return error;
  return items;
}

using FilterFn = std::function<absl::StatusOr<Value>(const Value&, const std::vector<Value>&, const Kwargs&)>;

// Resolves "a.b" attribute paths as Jinja2's make_attrgetter does.
Value AttrPath(const Value& v, const Value& attribute) {
  if (attribute.is_int()) return GetItem(v, attribute);
  Value cur = v;
  for (absl::string_view part : absl::StrSplit(attribute.Str(), '.')) {
    int64_t idx;
    cur = absl::SimpleAtoi(part, &idx) ? GetItem(cur, Value::Int(idx)) : GetItem(cur, Value::String(std::string(part)));
  }
  return cur;
}

const std::map<std::string, FilterFn>& Filters() {
  static const auto* filters = new std::map<std::string, FilterFn>{
      {"bool", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("bool", pos, kw, {}).Check());
         if (v.is_bool()) return v;
         if (v.is_int() || v.is_float()) return Value::Bool(v.AsDouble() == 1);
         std::string s = absl::AsciiStrToLower(v.Str());
         return Value::Bool(s == "true" || s == "yes" || s == "on" || s == "1");
       }},
      {"int", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("int", pos, kw, {"default", "base"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         Value def = a.Get(0, Value::Int(0));
         if (v.is_int() || v.is_bool()) return Value::Int(v.int_value());
         double d;
         if (v.is_float()) {
           d = v.float_value();
         } else if (v.is_string()) {
           int64_t i;
           if (PyParseInt(v.string_value(), &i)) return Value::Int(i);
           if (!PyParseFloat(v.string_value(), &d)) return def;
         } else {
           return def;
         }
         if (std::isnan(d)) return def;
         if (std::isinf(d) || std::fabs(d) >= 9.2e18) return Err("cannot convert float infinity to integer");
         return Value::Int(static_cast<int64_t>(std::trunc(d)));
       }},
      {"float", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("float", pos, kw, {"default"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         if (v.is_number()) return Value::Float(v.AsDouble());
         double d;
         if (v.is_string() && PyParseFloat(v.string_value(), &d)) return Value::Float(d);
         return a.Get(0, Value::Float(0));
       }},
      {"string", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("string", pos, kw, {}).Check());
         return Value::String(v.Str());
       }},
      {"trim", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("trim", pos, kw, {"chars"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         return Value::String(PyStrip(v.Str(), a.Get(0), true, true));
       }},
      {"replace", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("replace", pos, kw, {"old", "new", "count"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         if (!a.Has(0) || !a.Has(1)) return Err("replace() needs the old and new strings");
         Value count = a.Get(2);
         if (!count.is_none() && !count.is_int()) return Err("replace() count must be an integer");
         return Value::String(PyReplace(v.Str(), a.Get(0).Str(), a.Get(1).Str(), count.is_none() ? -1 : count.int_value()));
       }},
      {"upper", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("upper", pos, kw, {}).Check());
         return Value::String(absl::AsciiStrToUpper(v.Str()));
       }},
      {"lower", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("lower", pos, kw, {}).Check());
         return Value::String(absl::AsciiStrToLower(v.Str()));
       }},
      {"title", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("title", pos, kw, {}).Check());
         return Value::String(JinjaTitle(v.Str()));
       }},
      {"capitalize", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("capitalize", pos, kw, {}).Check());
         return Value::String(PyCapitalize(v.Str()));
       }},
      {"truncate", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("truncate", pos, kw, {"length", "killwords", "end", "leeway"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         Value length = a.Get(0, Value::Int(255)), end = a.Get(2, Value::String("...")), leeway = a.Get(3, Value::Int(5));
         if (!length.is_int() || !leeway.is_int() || !end.is_string()) return Err("truncate(length, killwords, end, leeway): wrong argument types");
         if (!v.is_string()) {
           // Jinja2 only takes len() of a short non-string and returns it.
           int64_t n = v.is_sequence() ? v.list().size() : v.is_dict() ? v.dict().size() : -1;
           if (n < 0) return Err(absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
           if (n <= length.int_value() + leeway.int_value()) return v;
           return Err(absl::StrCat("truncate expects a string, got ", v.TypeName()));
         }
         auto cps = CodePoints(v.string_value());
         int64_t end_len = static_cast<int64_t>(CodePoints(end.string_value()).size());
         if (length.int_value() < end_len) return Err(absl::StrCat("expected length >= ", end_len, ", got ", length.int_value()));
         if (leeway.int_value() < 0) return Err(absl::StrCat("expected leeway >= 0, got ", leeway.int_value()));
         if (static_cast<int64_t>(cps.size()) <= length.int_value() + leeway.int_value()) return v;
         std::string head;
         for (int64_t i = 0; i < length.int_value() - end_len && i < static_cast<int64_t>(cps.size()); ++i) head += cps[i];
         if (!a.Get(1, Value::Bool(false)).Truthy()) {
           size_t space = head.rfind(' ');
           if (space != std::string::npos) head = head.substr(0, space);
         }
         return Value::String(head + end.string_value());
       }},
      {"length", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("length", pos, kw, {}).Check());
         if (v.is_string()) return Value::Int(static_cast<int64_t>(CodePointCount(v.string_value())));
         if (v.is_sequence()) return Value::Int(static_cast<int64_t>(v.list().size()));
         if (v.is_dict()) return Value::Int(static_cast<int64_t>(v.dict().size()));
         return Err(absl::StrCat("object of type '", v.TypeName(), "' has no len()"));
       }},
      {"default", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("default", pos, kw, {"default_value", "boolean"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         if (v.is_undefined() || (a.Get(1, Value::Bool(false)).Truthy() && !v.Truthy())) {
           return a.Get(0, Value::String(""));
         }
         return v;
       }},
      {"join", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("join", pos, kw, {"d", "attribute"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         std::vector<std::string> parts;
         for (const auto& item : items) {
           Value x = a.Has(1) ? AttrPath(item, a.Get(1)) : item;
           if (x.is_undefined()) return UndefinedError(x);
           parts.push_back(x.Str());
         }
         return Value::String(absl::StrJoin(parts, a.Get(0, Value::String("")).Str()));
       }},
      {"first", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("first", pos, kw, {}).Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
         return items.front();
       }},
      {"last", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("last", pos, kw, {}).Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
         return items.back();
       }},
      {"list", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("list", pos, kw, {}).Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         return Value::MakeList(std::move(items));
       }},
      {"unique", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("unique", pos, kw, {"case_sensitive", "attribute"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         bool cs = a.Get(0, Value::Bool(false)).Truthy();
         Value::List out, seen;
         for (const auto& item : items) {
           Value key = SortKey(a.Has(1) ? AttrPath(item, a.Get(1)) : item, cs);
           if (key.is_list() || key.is_dict()) return Err(absl::StrCat("unhashable type: '", key.TypeName(), "'"));
           bool dup = false;
           for (const auto& s : seen) {
             if (s.Equals(key)) dup = true;
           }
           if (!dup) {
             seen.push_back(key);
             out.push_back(item);
           }
         }
         return Value::MakeList(std::move(out));
       }},
      {"sort", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("sort", pos, kw, {"reverse", "case_sensitive", "attribute"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         if (a.Has(2)) {
           std::vector<std::pair<Value, Value>> keyed;
           for (auto& item : items) keyed.emplace_back(AttrPath(item, a.Get(2)), item);
           absl::Status error;
           bool reverse = a.Get(0, Value::Bool(false)).Truthy(), cs = a.Get(1, Value::Bool(false)).Truthy();
           std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
             if (!error.ok()) return false;
             auto c = SortCompare(SortKey(reverse ? y.first : x.first, cs), SortKey(reverse ? x.first : y.first, cs));
             if (!c.ok()) error = c.status();
             return c.ok() && *c < 0;
           });
           if (!error.ok()) return error;
           Value::List out;
           for (auto& [k, item] : keyed) out.push_back(item);
           return Value::MakeList(std::move(out));
         }
         PLINTH_ASSIGN_OR_RETURN(auto sorted, SortedList(std::move(items), a.Get(0, Value::Bool(false)).Truthy(),
                                                         a.Get(1, Value::Bool(false)).Truthy()));
         return Value::MakeList(std::move(sorted));
       }},
      {"round", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("round", pos, kw, {"precision", "method"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         Value precision = a.Get(0, Value::Int(0));
         std::string method = a.Get(1, Value::String("common")).Str();
         if (method != "common" && method != "ceil" && method != "floor") {
           return Err("method must be 'common', 'ceil' or 'floor'");
         }
         if (!v.is_number()) return Err(absl::StrCat("type ", v.TypeName(), " doesn't define __round__ method"));
         if (!precision.is_int()) return Err("round precision must be an integer");
         int64_t p = precision.int_value();
         if (method == "common") {
           if (!v.is_float()) {
             if (p >= 0) return Value::Int(v.int_value());
             double scale = std::pow(10.0, static_cast<double>(-p));
             return Value::Int(static_cast<int64_t>(std::nearbyint(v.int_value() / scale) * scale));
           }
           return Value::Float(PyRound(v.float_value(), p));
         }
         double scale = std::pow(10.0, static_cast<double>(p));
         double x = v.AsDouble() * scale;
         double r = method == "ceil" ? std::ceil(x) : std::floor(x);
         return Value::Float(r / scale);
       }},
      {"abs", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("abs", pos, kw, {}).Check());
         if (v.is_float()) return Value::Float(std::fabs(v.float_value()));
         if (v.is_int() || v.is_bool()) {
           if (v.int_value() == INT64_MIN) return Err("integer overflow");
           return Value::Int(std::llabs(v.int_value()));
         }
         return Err(absl::StrCat("bad operand type for abs(): '", v.TypeName(), "'"));
       }},
      {"tojson", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("tojson", pos, kw, {"indent"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         Value indent = a.Get(0);
         PLINTH_ASSIGN_OR_RETURN(std::string json, PyJson(v, indent.is_int() ? static_cast<int>(std::max<int64_t>(0, indent.int_value())) : -1, 0));
         std::string out;
         for (char c : json) {
           if (c == '<') out += "\\u003c";
           else if (c == '>') out += "\\u003e";
           else if (c == '&') out += "\\u0026";
           else if (c == '\'') out += "\\u0027";
           else out.push_back(c);
         }
         return Value::String(std::move(out));
       }},
      {"indent", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("indent", pos, kw, {"width", "first", "blank"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         Value width = a.Get(0, Value::Int(4));
         std::string pad;
         if (width.is_string()) {
           pad = width.string_value();
         } else if (width.is_int()) {
           pad = std::string(std::max<int64_t>(0, width.int_value()), ' ');
         } else {
           return Err("indent width must be an integer or a string");
         }
         if (!v.is_string()) return Err(absl::StrCat("indent expects a string, got ", v.TypeName()));
         std::string s = v.string_value() + "\n";
         auto lines = SplitLines(s);
         std::string rv;
         if (a.Get(2, Value::Bool(false)).Truthy()) {
           rv = absl::StrJoin(lines, "\n" + pad);
         } else {
           rv = lines.empty() ? "" : lines[0];
           for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : pad + lines[i]);
         }
         if (a.Get(1, Value::Bool(false)).Truthy()) rv = pad + rv;
         return Value::String(std::move(rv));
       }},
      {"b64encode", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("b64encode", pos, kw, {}).Check());
         return Value::String(absl::Base64Escape(v.Str()));
       }},
      {"format", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         if (!kw.empty()) return Err("format() takes positional arguments only here");
         return BinaryOp("%", Value::String(v.Str()), Value::MakeList(pos, /*tuple=*/true));
       }},
      {"reverse", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("reverse", pos, kw, {}).Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         std::reverse(items.begin(), items.end());
         if (v.is_string()) {
           std::string s;
           for (const auto& c : items) s += c.string_value();
           return Value::String(std::move(s));
         }
         return Value::MakeList(std::move(items));
       }},
      {"min", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("min", pos, kw, {"case_sensitive", "attribute"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
         PLINTH_ASSIGN_OR_RETURN(auto sorted, SortedList(items, false, a.Get(0, Value::Bool(false)).Truthy()));
         return sorted.front();
       }},
      {"max", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("max", pos, kw, {"case_sensitive", "attribute"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
         PLINTH_ASSIGN_OR_RETURN(auto sorted, SortedList(items, true, a.Get(0, Value::Bool(false)).Truthy()));
         return sorted.front();
       }},
      {"sum", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("sum", pos, kw, {"attribute", "start"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(v));
         Value total = a.Get(1, Value::Int(0));
         for (const auto& item : items) {
           PLINTH_ASSIGN_OR_RETURN(total, BinaryOp("+", total, a.Has(0) ? AttrPath(item, a.Get(0)) : item));
         }
         return total;
       }},
      {"items", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         PLINTH_RETURN_IF_ERROR(Args("items", pos, kw, {}).Check());
         if (!v.is_dict()) return Err(absl::StrCat("Can only get item pairs from a mapping, not ", v.TypeName()));
         Value::List out;
         for (const auto& [k, x] : v.dict()) out.push_back(Value::MakeList({k, x}, true));
         return Value::MakeList(std::move(out));
       }},
      {"dictsort", [](const Value& v, const auto& pos, const auto& kw) -> absl::StatusOr<Value> {
         Args a("dictsort", pos, kw, {"case_sensitive", "by", "reverse"});
         PLINTH_RETURN_IF_ERROR(a.Check());
         if (!v.is_dict()) return Err("dictsort expects a mapping");
         bool by_value = a.Get(1, Value::String("key")).Str() == "value";
         bool cs = a.Get(0, Value::Bool(false)).Truthy(), reverse = a.Get(2, Value::Bool(false)).Truthy();
         std::vector<std::pair<Value, Value>> items(v.dict().begin(), v.dict().end());
         absl::Status error;
         std::stable_sort(items.begin(), items.end(), [&](const auto& x, const auto& y) {
           const Value& kx = by_value ? x.second : x.first;
           const Value& ky = by_value ? y.second : y.first;
           auto c = SortCompare(SortKey(reverse ? ky : kx, cs), SortKey(reverse ? kx : ky, cs));
           if (!c.ok()) error = c.status();
           return c.ok() && *c < 0;
         });
         if (!error.ok()) return error;
         Value::List out;
         for (auto& [k, x] : items) out.push_back(Value::MakeList({k, x}, true));
         return Value::MakeList(std::move(out));
       }},
  };
  return *filters;
}

const std::map<std::string, std::string>& FilterAliases() {
  static const auto* aliases = new std::map<std::string, std::string>{{"d", "default"}, {"count", "length"}};
  return *aliases;
}

const std::set<std::string>& StrMethods() {
  static const auto* m = new std::set<std::string>{
      "strip", "lstrip", "rstrip", "lower", "upper", "replace", "split", "startswith",
      "endswith", "title", "capitalize", "join", "count", "find", "isdigit", "isalpha", "format"};
  return *m;
}

const std::set<std::string>& DictMethods() {
  static const auto* m = new std::set<std::string>{"items", "keys", "values", "get", "clear", "copy",
                                                   "fromkeys", "pop", "popitem", "setdefault", "update"};
  return *m;
}

absl::StatusOr<Value> StrMethod(const std::string& s, const std::string& name,
                                const std::vector<Value>& pos, const Kwargs& kw) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Args a(name, pos, kw, {"chars"});
    PLINTH_RETURN_IF_ERROR(a.Check());
    return Value::String(PyStrip(s, a.Get(0), name != "rstrip", name != "lstrip"));
  }
  if (name == "lower" || name == "upper" || name == "title" || name == "capitalize" ||
      name == "isdigit" || name == "isalpha") {
    PLINTH_RETURN_IF_ERROR(Args(name, pos, kw, {}).Check());
    if (name == "lower") return Value::String(absl::AsciiStrToLower(s));
    if (name == "upper") return Value::String(absl::AsciiStrToUpper(s));
    if (name == "capitalize") return Value::String(PyCapitalize(s));
    if (name == "isdigit") return Value::Bool(!s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit));
    if (name == "isalpha") return Value::Bool(!s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isalpha));
    // str.title(): a letter after a non-letter starts a word.
    std::string out = s;
    bool prev_letter = false;
    for (char& c : out) {
      bool letter = absl::ascii_isalpha(c);
      c = letter ? (prev_letter ? absl::ascii_tolower(c) : absl::ascii_toupper(c)) : c;
      prev_letter = letter;
    }
    return Value::String(out);
  }
  if (name == "replace") {
    Args a(name, pos, kw, {"old", "new", "count"});
    PLINTH_RETURN_IF_ERROR(a.Check());
    if (!a.Get(0).is_string() || !a.Get(1).is_string()) return Err("replace() arguments must be str");
    Value count = a.Get(2, Value::Int(-1));
    return Value::String(PyReplace(s, a.Get(0).string_value(), a.Get(1).string_value(), count.int_value()));
  }
  if (name == "split") {
    Args a(name, pos, kw, {"sep", "maxsplit"});
    PLINTH_RETURN_IF_ERROR(a.Check());
    return PySplit(s, a.Get(0), a.Get(1, Value::Int(-1)).int_value());
  }
  if (name == "startswith" || name == "endswith") {
    Args a(name, pos, kw, {"prefix"});
    PLINTH_RETURN_IF_ERROR(a.Check());
    Value p = a.Get(0);
    Value::List options = p.is_tuple() ? p.list() : Value::List{p};
    for (const auto& o : options) {
      if (!o.is_string()) return Err(absl::StrCat(name, " first arg must be str or a tuple of str, not ", o.TypeName()));
      const std::string& x = o.string_value();
      bool hit = name == "startswith" ? s.compare(0, x.size(), x) == 0
                                      : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
      if (hit) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (name == "join") {
    Args a(name, pos, kw, {"iterable"});
    PLINTH_RETURN_IF_ERROR(a.Check());
    PLINTH_ASSIGN_OR_RETURN(auto items, Iterate(a.Get(0)));
    std::vector<std::string> parts;
    for (const auto& i : items) {
      if (!i.is_string()) return Err(absl::StrCat("sequence item: expected str instance, ", i.TypeName(), " found"));
      parts.push_back(i.string_value());
    }
    return Value::String(absl::StrJoin(parts, s));
  }
  if (name == "count" || name == "find") {
    Args a(name, pos, kw, {"sub"});
    PLINTH_RETURN_IF_ERROR(a.Check());
    if (!a.Get(0).is_string()) return Err(absl::StrCat(name, "() argument must be str"));
    const Value sub_value = a.Get(0);
    const std::string& sub = sub_value.string_value();
    if (name == "find") {
      size_t at = s.find(sub);
      return Value::Int(at == std::string::npos ? -1 : static_cast<int64_t>(CodePointCount(absl::string_view(s).substr(0, at))));
    }
    if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::Int(n);
  }
  return Err(absl::StrCat("str.", name, "() is not supported in plinth templates"));
}

absl::StatusOr<Value> DictMethod(const Value& d, const std::string& name, const std::vector<Value>& pos,
                                 const Kwargs& kw) {
  if (name == "items" || name == "keys" || name == "values") {
    PLINTH_RETURN_IF_ERROR(Args(name, pos, kw, {}).Check());
    Value::List out;
    for (const auto& [k, v] : d.dict()) {
      out.push_back(name == "keys" ? k : name == "values" ? v : Value::MakeList({k, v}, true));
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "get") {
    if (!kw.empty()) return Err("get() takes no keyword arguments");
    if (pos.empty() || pos.size() > 2) return Err(absl::StrCat("get expected 1 or 2 arguments, got ", pos.size()));
    const Value* found = d.Find(pos[0]);
    if (found) return *found;
    return pos.size() > 1 ? pos[1] : Value::None();
  }
  return Err(absl::StrCat("dict.", name, "() is not supported in plinth templates (values are read-only)"));
}

}  // namespace

std::vector<std::string> CodePoints(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    len = std::min(len, s.size() - i);
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

size_t CodePointCount(absl::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    i += c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  }
  return n;
}

absl::Status UndefinedError(const Value& v) {
  return absl::InvalidArgumentError(v.string_value().empty() ? "undefined value" : v.string_value());
}

absl::StatusOr<Value::List> Iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kList:
    case Value::Type::kTuple:
      return v.list();
    case Value::Type::kDict: {
      Value::List keys;
      for (const auto& [k, x] : v.dict()) keys.push_back(k);
      return keys;
    }
    case Value::Type::kString: {
      Value::List chars;
      for (auto& cp : CodePoints(v.string_value())) chars.push_back(Value::String(std::move(cp)));
      return chars;
    }
    case Value::Type::kUndefined:
      return UndefinedError(v);
    default:
      return Err(absl::StrCat("'", v.TypeName(), "' object is not iterable"));
  }
}

bool HasFilter(const std::string& name) {
  return Filters().count(name) || FilterAliases().count(name);
}

absl::StatusOr<Value> ApplyFilter(const std::string& name, const Value& operand,
                                  const std::vector<Value>& args, const Kwargs& kwargs) {
  std::string real = name;
  if (auto a = FilterAliases().find(name); a != FilterAliases().end()) real = a->second;
  auto it = Filters().find(real);
  if (it == Filters().end()) return Err(absl::StrCat("no filter named '", name, "'"));
  if (operand.is_undefined() && real != "default") return UndefinedError(operand);
  for (const auto& a : args) {
    if (a.is_undefined()) return UndefinedError(a);
  }
  for (const auto& [k, a] : kwargs) {
    if (a.is_undefined()) return UndefinedError(a);
  }
  auto result = it->second(operand, args, kwargs);
  if (!result.ok()) return Err(absl::StrCat("filter ", name, ": ", result.status().message()));
  return result;
}

bool HasTest(const std::string& name) {
  static const std::set<std::string>* tests = new std::set<std::string>{
      "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string",
      "mapping", "sequence", "iterable", "callable", "lower", "upper", "even", "odd", "divisibleby", "eq",
      "equalto", "==", "ne", "!=", "lt", "lessthan", "le", "gt", "greaterthan", "ge", "in", "sameas"};
  return tests->count(name) > 0;
}

absl::StatusOr<bool> ApplyTest(const std::string& name, const Value& v, const std::vector<Value>& args) {
  auto need = [&](size_t n) -> absl::Status {
    if (args.size() != n) return Err(absl::StrCat("test ", name, " takes ", n, " argument", n == 1 ? "" : "s"));
    return absl::OkStatus();
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (v.is_undefined() && name != "string" && name != "number") return UndefinedError(v);
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.bool_value();
  if (name == "false") return v.is_bool() && !v.bool_value();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "sequence") return v.is_string() || v.is_sequence() || v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_sequence() || v.is_dict();
  if (name == "callable") return v.is_method();
  if (name == "lower") return v.is_string() && absl::AsciiStrToLower(v.string_value()) == v.string_value();
  if (name == "upper") return v.is_string() && absl::AsciiStrToUpper(v.string_value()) == v.string_value();
  if (name == "even" || name == "odd") {
    if (!v.is_int() && !v.is_bool()) return Err(absl::StrCat("test ", name, " needs an integer"));
    bool even = v.int_value() % 2 == 0;
    return name == "even" ? even : !even;
  }
  if (name == "divisibleby") {
    PLINTH_RETURN_IF_ERROR(need(1));
    PLINTH_ASSIGN_OR_RETURN(Value m, BinaryOp("%", v, args[0]));
    return m.AsDouble() == 0;
  }
  static const std::map<std::string, std::string> kCompare = {
      {"eq", "=="}, {"equalto", "=="}, {"==", "=="}, {"ne", "!="}, {"!=", "!="}, {"lt", "<"},
      {"lessthan", "<"}, {"le", "<="}, {"gt", ">"}, {"greaterthan", ">"}, {"ge", ">="}, {"in", "in"}};
  if (auto it = kCompare.find(name); it != kCompare.end()) {
    PLINTH_RETURN_IF_ERROR(need(1));
    return CompareOp(it->second, v, args[0]);
  }
  if (name == "sameas") {
    PLINTH_RETURN_IF_ERROR(need(1));
    return (v.is_none() && args[0].is_none()) || (v.is_bool() && args[0].is_bool() && v.Equals(args[0]));
  }
  return Err(absl::StrCat("no test named '", name, "'"));
}

Value GetAttr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kString:
      if (StrMethods().count(name)) return Value::Method(obj, name);
      break;
    case Value::Type::kDict:
      if (DictMethods().count(name)) return Value::Method(obj, name);
      if (const Value* v = obj.Find(name)) return *v;
      break;
    case Value::Type::kNamespace:
      if (const Value* v = obj.Find(name)) return *v;
      break;
    default:
      break;
  }
  if (obj.is_none()) return Value::Undefined(absl::StrCat("'None' has no attribute '", name, "'"));
  return Value::Undefined(absl::StrCat("'", obj.TypeName(), " object' has no attribute '", name, "'"));
}

Value GetItem(const Value& obj, const Value& key) {
  if (obj.is_dict()) {
    if (const Value* v = obj.Find(key)) return *v;
  } else if ((obj.is_sequence() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.int_value();
    if (obj.is_string()) {
      auto cps = CodePoints(obj.string_value());
      int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value::String(cps[i]);
    } else {
      int64_t n = static_cast<int64_t>(obj.list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.list()[i];
    }
  }
  if (key.is_string()) {
    Value attr = GetAttr(obj, key.string_value());
    if (!attr.is_undefined()) return attr;
  }
  if (obj.is_none()) return Value::Undefined(absl::StrCat("'None' has no attribute ", key.Repr()));
  return Value::Undefined(absl::StrCat("'", obj.TypeName(), " object' has no attribute ", key.Repr()));
}

absl::StatusOr<Value> Slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  for (const Value* v : {&start_v, &stop_v, &step_v}) {
    if (!v->is_none() && !v->is_int() && !v->is_bool()) {
      return Err("slice indices must be integers or None");
    }
  }
  int64_t step = step_v.is_none() ? 1 : step_v.int_value();
  if (step == 0) return Err("slice step cannot be zero");
  std::vector<std::string> cps;
  int64_t n;
  if (obj.is_string()) {
    cps = CodePoints(obj.string_value());
    n = static_cast<int64_t>(cps.size());
  } else if (obj.is_sequence()) {
    n = static_cast<int64_t>(obj.list().size());
  } else if (obj.is_undefined()) {
    return UndefinedError(obj);
  } else {
    return Err(absl::StrCat("'", obj.TypeName(), "' object is not subscriptable"));
  }
  // Python's slice.indices().
  auto clamp = [&](const Value& v, int64_t def) {
    if (v.is_none()) return def;
    int64_t x = v.int_value();
    if (x < 0) x += n;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  int64_t start = clamp(start_v, step > 0 ? 0 : n - 1);
  int64_t stop = clamp(stop_v, step > 0 ? n : -1);
  std::vector<int64_t> idx;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) idx.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx) out += cps[i];
    return Value::String(std::move(out));
  }
  Value::List out;
  for (int64_t i : idx) out.push_back(obj.list()[i]);
  return Value::MakeList(std::move(out), obj.is_tuple());
}

bool LookupGlobal(const std::string& name, Value* out) {
  if (name == "range" || name == "namespace" || name == "dict") {
    *out = Value::Method(Value::None(), name);
    return true;
  }
  return false;
}

absl::StatusOr<Value> CallValue(const Value& callee, const std::vector<Value>& args, const Kwargs& kwargs) {
  if (callee.is_undefined()) return UndefinedError(callee);
  if (!callee.is_method()) return Err(absl::StrCat("'", callee.TypeName(), "' object is not callable"));
  for (const auto& a : args) {
    if (a.is_undefined()) return UndefinedError(a);
  }
  for (const auto& [k, a] : kwargs) {
    if (a.is_undefined()) return UndefinedError(a);
  }
  const Value& self = callee.method_self();
  const std::string& name = callee.string_value();
  if (self.is_string()) return StrMethod(self.string_value(), name, args, kwargs);
  if (self.is_dict()) return DictMethod(self, name, args, kwargs);
  if (name == "range") {
    if (!kwargs.empty() || args.empty() || args.size() > 3) return Err("range expected 1 to 3 integer arguments");
    for (const auto& a : args) {
      if (!a.is_int() && !a.is_bool()) return Err(absl::StrCat("'", a.TypeName(), "' object cannot be interpreted as an integer"));
    }
    int64_t start = args.size() > 1 ? args[0].int_value() : 0;
    int64_t stop = args.size() > 1 ? args[1].int_value() : args[0].int_value();
    int64_t step = args.size() > 2 ? args[2].int_value() : 1;
    if (step == 0) return Err("range() arg 3 must not be zero");
    Value::List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 100000) return Err("range too big (more than 100000 items)");
      out.push_back(Value::Int(i));
    }
    return Value::MakeList(std::move(out));
  }
  if (name == "namespace" || name == "dict") {
    Value::Dict attrs;
    if (!args.empty()) {
      if (args.size() > 1 || !args[0].is_dict()) return Err(absl::StrCat(name, "() takes one mapping and keyword arguments"));
      attrs = args[0].dict();
    }
    for (const auto& [k, v] : kwargs) {
      bool replaced = false;
      for (auto& [ak, av] : attrs) {
        if (ak.is_string() && ak.string_value() == k) {
          av = v;
          replaced = true;
        }
      }
      if (!replaced) attrs.emplace_back(Value::String(k), v);
    }
    return name == "dict" ? Value::MakeDict(std::move(attrs)) : Value::MakeNamespace(std::move(attrs));
  }
  return Err(absl::StrCat("'", name, "' is not callable"));
}

}  // namespace plinth::chart
