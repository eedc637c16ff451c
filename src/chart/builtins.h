// Jinja2's builtins as plinth implements them: filters, tests, methods of
// str and dict, global functions, and Python's operators. Errors are
// INVALID_ARGUMENT without a position; the renderer adds file:line:col.
#ifndef PLINTH_CHART_BUILTINS_H_
#define PLINTH_CHART_BUILTINS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "plinth/chart/value.h"

namespace plinth::chart {

using Kwargs = std::vector<std::pair<std::string, Value>>;

// StrictUndefined: using an undefined value is an error naming why.
absl::Status UndefinedError(const Value& v);

// Python iteration: list and tuple items, dict keys, str code points.
absl::StatusOr<Value::List> Iterate(const Value& v);

absl::StatusOr<Value> ApplyFilter(const std::string& name, const Value& operand,
                                  const std::vector<Value>& args, const Kwargs& kwargs);
bool HasFilter(const std::string& name);
bool HasTest(const std::string& name);
absl::StatusOr<bool> ApplyTest(const std::string& name, const Value& operand,
                               const std::vector<Value>& args);
// Attribute access as Jinja2 does it: methods first, then dict keys.
Value GetAttr(const Value& obj, const std::string& name);
// Subscription as Jinja2 does it: items first, then attributes.
Value GetItem(const Value& obj, const Value& key);
absl::StatusOr<Value> Slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Calls a bound method or a global function value.
absl::StatusOr<Value> CallValue(const Value& callee, const std::vector<Value>& args, const Kwargs& kwargs);
// Global names: range, namespace, dict.
bool LookupGlobal(const std::string& name, Value* out);

// Python binary operators: + - * / // % ** and comparisons.
absl::StatusOr<Value> BinaryOp(const std::string& op, const Value& a, const Value& b);
absl::StatusOr<bool> CompareOp(const std::string& op, const Value& a, const Value& b);

// Code points of a UTF-8 string, each as its own string.
std::vector<std::string> CodePoints(const std::string& s);
// How many CodePoints(s) has, without making them.
size_t CodePointCount(absl::string_view s);

}  // namespace plinth::chart

#endif  // PLINTH_CHART_BUILTINS_H_
