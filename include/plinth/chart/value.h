// The values templates compute with, modelled on Python's: None, bool, int,
// float, str, list, tuple and insertion-ordered dict, plus Jinja2's
// Undefined (which carries why it is undefined, for StrictUndefined errors).
//
//   Value v = Value::FromJson(nlohmann::json::parse(R"({"a": [1, 2.5, "x"]})"));
//   std::string s = v.Str();      // "{'a': [1, 2.5, 'x']}", as Python's str()
#ifndef PLINTH_CHART_VALUE_H_
#define PLINTH_CHART_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace plinth::chart {

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kNamespace, kMethod };
  using List = std::vector<Value>;
  using Dict = std::vector<std::pair<Value, Value>>;  // insertion order, as Python 3.7+

  Value() : type_(Type::kNone) {}
  static Value Undefined(std::string why) {
    Value v;
    v.type_ = Type::kUndefined;
    v.str_ = std::move(why);
    return v;
  }
  // Jinja2's plain Undefined, which the inline if-expression without an
  // else gives even under StrictUndefined: it prints as "" and is false.
  static Value LenientUndefined(std::string why) {
    Value v = Undefined(std::move(why));
    v.int_ = 1;
    return v;
  }
  static Value None() { return Value(); }
  static Value Bool(bool b) {
    Value v;
    v.type_ = Type::kBool;
    v.int_ = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v;
    v.type_ = Type::kInt;
    v.int_ = i;
    return v;
  }
  static Value Float(double d) {
    Value v;
    v.type_ = Type::kFloat;
    v.float_ = d;
    return v;
  }
  static Value String(std::string s) {
    Value v;
    v.type_ = Type::kString;
    v.str_ = std::move(s);
    return v;
  }
  static Value MakeList(List items, bool tuple = false) {
    Value v;
    v.type_ = tuple ? Type::kTuple : Type::kList;
    v.list_ = std::make_shared<List>(std::move(items));
    return v;
  }
  static Value MakeDict(Dict items) {
    Value v;
    v.type_ = Type::kDict;
    v.dict_ = std::make_shared<Dict>(std::move(items));
    return v;
  }
  // Jinja2's namespace(): attributes that {% set ns.x = ... %} can change
  // from inside loops. Copies share the attributes.
  static Value MakeNamespace(Dict attrs) {
    Value v = MakeDict(std::move(attrs));
    v.type_ = Type::kNamespace;
    return v;
  }
  // A method bound to `self`, e.g. the `items` of `d.items()`.
  static Value Method(Value self, std::string name) {
    Value v;
    v.type_ = Type::kMethod;
    v.str_ = std::move(name);
    v.list_ = std::make_shared<List>(List{std::move(self)});
    return v;
  }
  // JSON objects become dicts in key order; numbers int or float.
  static Value FromJson(const nlohmann::json& j);
  static Value FromJson(const nlohmann::ordered_json& j);
  // Dicts need string keys; tuples become arrays; Undefined is an error
  // the caller must have excluded (becomes null).
  nlohmann::json ToJson() const;

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_lenient_undefined() const { return type_ == Type::kUndefined && int_ == 1; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kFloat || type_ == Type::kBool; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_tuple() const { return type_ == Type::kTuple; }
  bool is_sequence() const { return type_ == Type::kList || type_ == Type::kTuple; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_namespace() const { return type_ == Type::kNamespace; }
  bool is_method() const { return type_ == Type::kMethod; }

  bool bool_value() const { return int_ != 0; }
  int64_t int_value() const { return int_; }  // also for bool
  double float_value() const { return float_; }
  // A number as double (bool and int too).
  double AsDouble() const { return type_ == Type::kFloat ? float_ : static_cast<double>(int_); }
  const std::string& string_value() const { return str_; }  // also the undefined hint / method name
  const List& list() const { return *list_; }
  const Dict& dict() const { return *dict_; }
  // Dicts are shared between copies: namespace() objects rely on it.
  Dict& mutable_dict() const { return *dict_; }
  const Value& method_self() const { return (*list_)[0]; }

  // dict lookup with Python equality on keys; nullptr when missing.
  const Value* Find(const Value& key) const;
  const Value* Find(absl::string_view key) const;

  // Python's truth value. Undefined is false (StrictUndefined callers check
  // before asking).
  bool Truthy() const;
  // Python's str() and repr().
  std::string Str() const;
  std::string Repr() const;
  // "int", "str", "dict" ... as Python names the type.
  std::string TypeName() const;

  // How many containers deep the value goes (a scalar is 0), counting at
  // most `limit` + 1, so that a caller can refuse values too deep to print.
  int NestingDepth(int limit) const;

  // Python ==. ints, floats and bools compare by value.
  bool Equals(const Value& other) const;

 private:
  Type type_;
  int64_t int_ = 0;
  double float_ = 0;
  std::string str_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
};

// Python's repr() of a float: shortest round-trip digits, exponent form
// below 1e-4 and from 1e16 on ("1e-05", "1e+16"), "inf", "nan".
std::string PythonFloatRepr(double d);
// Python's repr() of a str: single quotes unless the text has ' and no ".
std::string PythonStringRepr(absl::string_view s);

}  // namespace plinth::chart

#endif  // PLINTH_CHART_VALUE_H_
