#include "plinth/chart/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace plinth::chart {

namespace {

// The containers Str() is inside of on this thread.
thread_local std::vector<const void*> t_printing;

bool Printing(const void* container) {
  return std::find(t_printing.begin(), t_printing.end(), container) != t_printing.end();
}

struct PrintGuard {
  explicit PrintGuard(const void* container) { t_printing.push_back(container); }
  ~PrintGuard() { t_printing.pop_back(); }
};

template <typename Json>
Value FromJsonImpl(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      Value::List items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(FromJsonImpl(item));
      return Value::MakeList(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value::Dict items;
      items.reserve(j.size());
      for (const auto& [k, v] : j.items()) items.emplace_back(Value::String(k), FromJsonImpl(v));
      return Value::MakeDict(std::move(items));
    }
    default:
      return Value::None();
  }
}

}  // namespace

Value Value::FromJson(const nlohmann::json& j) { return FromJsonImpl(j); }
Value Value::FromJson(const nlohmann::ordered_json& j) { return FromJsonImpl(j); }

nlohmann::json Value::ToJson() const {
  switch (type_) {
    case Type::kBool:
      return bool_value();
    case Type::kInt:
      return int_;
    case Type::kFloat:
      return float_;
    case Type::kString:
      return str_;
    case Type::kList:
    case Type::kTuple: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : *list_) out.push_back(item.ToJson());
      return out;
    }
    case Type::kDict: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, v] : *dict_) out[k.is_string() ? k.str_ : k.Str()] = v.ToJson();
      return out;
    }
    default:
      return nullptr;
  }
}

const Value* Value::Find(const Value& key) const {
  if (type_ != Type::kDict && type_ != Type::kNamespace) return nullptr;
  for (const auto& [k, v] : *dict_) {
    if (k.Equals(key)) return &v;
  }
  return nullptr;
}

const Value* Value::Find(absl::string_view key) const {
  if (type_ != Type::kDict && type_ != Type::kNamespace) return nullptr;
  for (const auto& [k, v] : *dict_) {
    if (k.type_ == Type::kString && k.str_ == key) return &v;
  }
  return nullptr;
}

bool Value::Truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
    case Type::kInt:
      return int_ != 0;
    case Type::kFloat:
      return float_ != 0.0;
    case Type::kString:
      return !str_.empty();
    case Type::kList:
    case Type::kTuple:
      return !list_->empty();
    case Type::kDict:
      return !dict_->empty();
    case Type::kNamespace:
    case Type::kMethod:
      return true;
  }
  return false;
}

std::string PythonFloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t epos = sci.find('e');
  std::string mantissa = sci.substr(0, epos);
  int exponent = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      std::string int_part = digits.substr(0, std::min<size_t>(digits.size(), exponent + 1));
      while (int_part.size() < static_cast<size_t>(exponent + 1)) int_part.push_back('0');
      std::string frac = digits.size() > static_cast<size_t>(exponent + 1) ? digits.substr(exponent + 1) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(-exponent - 1, '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof(exp), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

std::string PythonStringRepr(absl::string_view s) {
  bool has_single = s.find('\'') != absl::string_view::npos;
  bool has_double = s.find('"') != absl::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += quote;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else if (c == 0xC2 && i + 1 < s.size()) {
      // U+0080..U+00BF: C1 controls, NBSP and soft hyphen are not printable.
      unsigned char n = static_cast<unsigned char>(s[i + 1]);
      if (n <= 0xA0 || n == 0xAD) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02x", n);
        out += buf;
        ++i;
      } else {
        out += static_cast<char>(c);
      }
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

std::string Value::Str() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kNone:
      return "None";
    case Type::kBool:
      return int_ ? "True" : "False";
    case Type::kInt:
      return absl::StrCat(int_);
    case Type::kFloat:
      return PythonFloatRepr(float_);
    case Type::kString:
      return str_;
    case Type::kList:
    case Type::kTuple: {
      // As Python's repr: a container met again inside itself prints as
      // [...] or {...} (only namespaces can make such cycles).
      if (Printing(list_.get())) return type_ == Type::kList ? "[...]" : "(...)";
      PrintGuard guard(list_.get());
      std::string out = type_ == Type::kList ? "[" : "(";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].Repr();
      }
      if (type_ == Type::kTuple && list_->size() == 1) out += ",";
      out += type_ == Type::kList ? "]" : ")";
      return out;
    }
    case Type::kDict: {
      if (Printing(dict_.get())) return "{...}";
      PrintGuard guard(dict_.get());
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : *dict_) {
        if (!first) out += ", ";
        first = false;
        out += k.Repr() + ": " + v.Repr();
      }
      return out + "}";
    }
    case Type::kNamespace: {
      Value as_dict = *this;
      as_dict.type_ = Type::kDict;
      return "<Namespace " + as_dict.Str() + ">";
    }
    case Type::kMethod:
      return absl::StrCat("<built-in method ", str_, " of ", method_self().TypeName(), " object>");
  }
  return "";
}

std::string Value::Repr() const {
  if (type_ == Type::kString) return PythonStringRepr(str_);
  return Str();
}

std::string Value::TypeName() const {
  switch (type_) {
    case Type::kUndefined: return "Undefined";
    case Type::kNone: return "NoneType";
    case Type::kBool: return "bool";
    case Type::kInt: return "int";
    case Type::kFloat: return "float";
    case Type::kString: return "str";
    case Type::kList: return "list";
    case Type::kTuple: return "tuple";
    case Type::kDict: return "dict";
    case Type::kNamespace: return "Namespace";
    case Type::kMethod: return "builtin_function_or_method";
  }
  return "object";
}

int Value::NestingDepth(int limit) const {
  // Namespaces are the only values that can hold themselves; `open` keeps
  // the walk from following such a cycle round.
  thread_local std::vector<const void*> open;
  const void* container = list_ ? static_cast<const void*>(list_.get()) : dict_.get();
  if (container == nullptr || type_ == Type::kMethod) return 0;
  if (limit <= 0) return 1;
  if (std::find(open.begin(), open.end(), container) != open.end()) return 0;
  open.push_back(container);
  int deepest = 0;
  if (list_) {
    for (const auto& item : *list_) deepest = std::max(deepest, item.NestingDepth(limit - 1));
  } else {
    for (const auto& [k, v] : *dict_) deepest = std::max(deepest, v.NestingDepth(limit - 1));
  }
  open.pop_back();
  return deepest + 1;
}

bool Value::Equals(const Value& o) const {
  if (is_number() && o.is_number()) {
    if (type_ != Type::kFloat && o.type_ != Type::kFloat) return int_ == o.int_;
    return AsDouble() == o.AsDouble();
  }
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return true;
    case Type::kString:
      return str_ == o.str_;
    case Type::kList:
    case Type::kTuple:
      if (list_->size() != o.list_->size()) return false;
      for (size_t i = 0; i < list_->size(); ++i) {
        if (!(*list_)[i].Equals((*o.list_)[i])) return false;
      }
      return true;
    case Type::kDict:
      if (dict_->size() != o.dict_->size()) return false;
      for (const auto& [k, v] : *dict_) {
        const Value* other = o.Find(k);
        if (other == nullptr || !other->Equals(v)) return false;
      }
      return true;
    case Type::kNamespace:
      return dict_ == o.dict_;
    case Type::kMethod:
      return str_ == o.str_ && list_ == o.list_;
    default:
      return false;
  }
}

}  // namespace plinth::chart
