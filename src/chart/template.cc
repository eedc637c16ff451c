#include "plinth/chart/template.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ast.h"
#include "builtins.h"
#include "lexer.h"
#include "parser.h"
#include "plinth/core/memory_budget.h"
#include "plinth/core/status_macros.h"

namespace plinth::chart {
namespace {

// Jinja2 prints at most ~1000 levels before Python's recursion limit; a
// value that deep can only be built on purpose, by assigning to a
// namespace in a loop.
constexpr int kMaxValueDepth = 500;

struct Position {
  int line = 1, col = 1;
};

class Renderer {
 public:
  // `where` follows the render's position, for errors raised outside the
  // evaluator (running out of memory), after the renderer is gone.
  Renderer(const std::string& name, const Value& context, const RenderLimits& limits, Position* where)
      : name_(name), limits_(limits), where_(where) {
    scopes_.emplace_back();
    if (context.is_dict()) {
      for (const auto& [k, v] : context.dict()) {
        if (k.is_string()) scopes_.back()[k.string_value()] = v;
      }
    }
  }

  absl::Status Body(const chart::Body& body, std::string& out) {
    for (const auto& node : body) PLINTH_RETURN_IF_ERROR(Statement(*node, out));
    return absl::OkStatus();
  }

 private:
  absl::Status Statement(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText:
        out += n.text;
        break;
      case Node::Kind::kOutput: {
        PLINTH_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        if (v.is_undefined() && !v.is_lenient_undefined()) return At(*n.expr, UndefinedError(v));
        out += v.Str();
        break;
      }
      case Node::Kind::kIf: {
        for (const auto& [cond, branch] : n.branches) {
          PLINTH_ASSIGN_OR_RETURN(bool yes, Truth(*cond));
          if (yes) return Body(branch, out);
        }
        return Body(n.else_body, out);
      }
      case Node::Kind::kFor:
        PLINTH_RETURN_IF_ERROR(For(n, out));
        break;
      case Node::Kind::kSet: {
        PLINTH_ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        return Assign(n, std::move(v));
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        PLINTH_RETURN_IF_ERROR(Body(n.body, captured));
        scopes_.back()[n.targets[0]] = Value::String(std::move(captured));
        break;
      }
    }
    if (out.size() > limits_.max_output_bytes) {
      return Fail(n.line, n.col, absl::StrCat("output larger than ", limits_.max_output_bytes, " bytes"));
    }
    return absl::OkStatus();
  }

  absl::Status Assign(const Node& n, Value v) {
    if (!n.attribute.empty()) {
      const Value* ns = Lookup(n.targets[0]);
      if (ns == nullptr || !ns->is_namespace()) {
        return Fail(n.line, n.col, absl::StrCat("cannot assign attribute on non-namespace object '",
                                                n.targets[0], "'"));
      }
      if (v.NestingDepth(kMaxValueDepth) > kMaxValueDepth) {
        return Fail(n.line, n.col, absl::StrCat("value nested more than ", kMaxValueDepth,
                                                " levels deep (lists, dicts and namespaces)"));
      }
      namespaces_.push_back(*ns);
      for (auto& [k, old] : ns->mutable_dict()) {
        if (k.is_string() && k.string_value() == n.attribute) {
          old = std::move(v);
          return absl::OkStatus();
        }
      }
      ns->mutable_dict().emplace_back(Value::String(n.attribute), std::move(v));
      return absl::OkStatus();
    }
    return Bind(n.targets, std::move(v), n.line, n.col, scopes_.back());
  }

  absl::Status Bind(const std::vector<std::string>& targets, Value v, int line, int col,
                    std::map<std::string, Value>& scope) {
    if (targets.size() == 1) {
      scope[targets[0]] = std::move(v);
      return absl::OkStatus();
    }
    auto items = Iterate(v);
    if (!items.ok()) return Fail(line, col, items.status().message());
    if (items->size() != targets.size()) {
      return Fail(line, col, absl::StrCat(items->size() < targets.size() ? "not enough" : "too many",
                                          " values to unpack (expected ", targets.size(), ", got ",
                                          items->size(), ")"));
    }
    for (size_t i = 0; i < targets.size(); ++i) scope[targets[i]] = (*items)[i];
    return absl::OkStatus();
  }

  absl::Status For(const Node& n, std::string& out) {
    PLINTH_ASSIGN_OR_RETURN(Value iterable, Eval(*n.expr));
    auto items = Iterate(iterable);
    if (!items.ok()) return At(*n.expr, items.status());
    if (n.filter) {
      Value::List kept;
      for (auto& item : *items) {
        scopes_.emplace_back();
        absl::Status s = Bind(n.targets, item, n.line, n.col, scopes_.back());
        absl::StatusOr<bool> keep = s.ok() ? Truth(*n.filter) : absl::StatusOr<bool>(s);
        scopes_.pop_back();
        if (!keep.ok()) return keep.status();
        if (*keep) kept.push_back(std::move(item));
      }
      *items = std::move(kept);
    }
    if (items->empty()) return Body(n.else_body, out);
    const int64_t length = static_cast<int64_t>(items->size());
    for (int64_t i = 0; i < length; ++i) {
      PLINTH_RETURN_IF_ERROR(Step(n.line, n.col));
      scopes_.emplace_back();
      auto& scope = scopes_.back();
      scope["loop"] = Value::MakeDict({
          {Value::String("index"), Value::Int(i + 1)},
          {Value::String("index0"), Value::Int(i)},
          {Value::String("revindex"), Value::Int(length - i)},
          {Value::String("revindex0"), Value::Int(length - i - 1)},
          {Value::String("first"), Value::Bool(i == 0)},
          {Value::String("last"), Value::Bool(i == length - 1)},
          {Value::String("length"), Value::Int(length)},
          {Value::String("previtem"), i > 0 ? (*items)[i - 1] : Value::Undefined("there is no previous item")},
          {Value::String("nextitem"), i + 1 < length ? (*items)[i + 1] : Value::Undefined("there is no next item")},
      });
      absl::Status s = Bind(n.targets, (*items)[i], n.line, n.col, scope);
      if (s.ok()) s = Body(n.body, out);
      scopes_.pop_back();
      PLINTH_RETURN_IF_ERROR(s);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Truth(const Expr& e) {
    PLINTH_ASSIGN_OR_RETURN(Value v, Eval(e));
    if (v.is_undefined() && !v.is_lenient_undefined()) return At(e, UndefinedError(v));
    return v.Truthy();
  }

  const Value* Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return &found->second;
    }
    return nullptr;
  }

  absl::StatusOr<Value> Eval(const Expr& e) {
    PLINTH_RETURN_IF_ERROR(Step(e.line, e.col));
    if (++depth_ > 500) return Fail(e.line, e.col, "expression nested too deeply");
    absl::StatusOr<Value> v = EvalInner(e);
    --depth_;
    return v;
  }

  absl::StatusOr<Value> Defined(const Expr& e) {
    PLINTH_ASSIGN_OR_RETURN(Value v, Eval(e));
    if (v.is_undefined()) return At(e, UndefinedError(v));
    return v;
  }

  absl::StatusOr<std::vector<Value>> EvalList(const std::vector<ExprPtr>& exprs, size_t from = 0) {
    std::vector<Value> out;
    for (size_t i = from; i < exprs.size(); ++i) {
      if (!exprs[i]) {
        out.push_back(Value::None());
        continue;
      }
      PLINTH_ASSIGN_OR_RETURN(Value v, Eval(*exprs[i]));
      out.push_back(std::move(v));
    }
    return out;
  }

  absl::StatusOr<Kwargs> EvalKwargs(const Expr& e) {
    Kwargs out;
    for (const auto& [k, x] : e.kwargs) {
      PLINTH_ASSIGN_OR_RETURN(Value v, Eval(*x));
      out.emplace_back(k, std::move(v));
    }
    return out;
  }

  absl::StatusOr<Value> EvalInner(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kConst:
        return e.value;
      case Expr::Kind::kName: {
        if (const Value* v = Lookup(e.name)) return *v;
        Value global;
        if (LookupGlobal(e.name, &global)) return global;
        return Value::Undefined(absl::StrCat("'", e.name, "' is undefined"));
      }
      case Expr::Kind::kGetattr: {
        PLINTH_ASSIGN_OR_RETURN(Value obj, Defined(*e.args[0]));
        return GetAttr(obj, e.name);
      }
      case Expr::Kind::kGetitem: {
        PLINTH_ASSIGN_OR_RETURN(Value obj, Defined(*e.args[0]));
        PLINTH_ASSIGN_OR_RETURN(Value key, Defined(*e.args[1]));
        return GetItem(obj, key);
      }
      case Expr::Kind::kSlice: {
        PLINTH_ASSIGN_OR_RETURN(Value obj, Defined(*e.args[0]));
        PLINTH_ASSIGN_OR_RETURN(auto parts, EvalList(e.args, 1));
        return Wrap(e, Slice(obj, parts[0], parts[1], parts[2]));
      }
      case Expr::Kind::kCall: {
        PLINTH_ASSIGN_OR_RETURN(Value callee, Eval(*e.args[0]));
        if (callee.is_undefined()) return At(*e.args[0], UndefinedError(callee));
        PLINTH_ASSIGN_OR_RETURN(auto args, EvalList(e.args, 1));
        PLINTH_ASSIGN_OR_RETURN(auto kwargs, EvalKwargs(e));
        return Wrap(e, CallValue(callee, args, kwargs));
      }
      case Expr::Kind::kFilter: {
        if (!HasFilter(e.name)) return Fail(e.line, e.col, absl::StrCat("no filter named '", e.name, "'"));
        PLINTH_ASSIGN_OR_RETURN(Value operand, Eval(*e.args[0]));
        PLINTH_ASSIGN_OR_RETURN(auto args, EvalList(e.args, 1));
        PLINTH_ASSIGN_OR_RETURN(auto kwargs, EvalKwargs(e));
        return Wrap(e, ApplyFilter(e.name, operand, args, kwargs));
      }
      case Expr::Kind::kTest: {
        PLINTH_ASSIGN_OR_RETURN(Value operand, Eval(*e.args[0]));
        PLINTH_ASSIGN_OR_RETURN(auto args, EvalList(e.args, 1));
        auto r = ApplyTest(e.name, operand, args);
        if (!r.ok()) return At(e, r.status());
        return Value::Bool(e.negated ? !*r : *r);
      }
      case Expr::Kind::kUnary: {
        if (e.name == "not") {
          PLINTH_ASSIGN_OR_RETURN(bool t, Truth(*e.args[0]));
          return Value::Bool(!t);
        }
        PLINTH_ASSIGN_OR_RETURN(Value v, Defined(*e.args[0]));
        if (v.is_float()) return Value::Float(e.name == "-" ? -v.float_value() : v.float_value());
        if (v.is_int() || v.is_bool()) {
          if (e.name == "-" && v.int_value() == INT64_MIN) return Fail(e.line, e.col, "integer overflow");
          return Value::Int(e.name == "-" ? -v.int_value() : v.int_value());
        }
        return Fail(e.line, e.col, absl::StrCat("bad operand type for unary ", e.name, ": '", v.TypeName(), "'"));
      }
      case Expr::Kind::kBinary: {
        if (e.name == "and" || e.name == "or") {
          PLINTH_ASSIGN_OR_RETURN(Value left, Defined(*e.args[0]));
          bool t = left.Truthy();
          if ((e.name == "and" && !t) || (e.name == "or" && t)) return left;
          return Eval(*e.args[1]);
        }
        PLINTH_ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
        PLINTH_ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
        return Wrap(e, BinaryOp(e.name, a, b));
      }
      case Expr::Kind::kConcat: {
        std::string out;
        for (const auto& part : e.args) {
          PLINTH_ASSIGN_OR_RETURN(Value v, Eval(*part));
          if (v.is_undefined() && !v.is_lenient_undefined()) return At(*part, UndefinedError(v));
          out += v.Str();
        }
        return Value::String(std::move(out));
      }
      case Expr::Kind::kCompare: {
        PLINTH_ASSIGN_OR_RETURN(Value left, Eval(*e.args[0]));
        for (size_t i = 0; i < e.ops.size(); ++i) {
          PLINTH_ASSIGN_OR_RETURN(Value right, Eval(*e.args[i + 1]));
          auto r = CompareOp(e.ops[i], left, right);
          if (!r.ok()) return At(*e.args[i + 1], r.status());
          if (!*r) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case Expr::Kind::kCondExpr: {
        PLINTH_ASSIGN_OR_RETURN(bool t, Truth(*e.args[1]));
        if (t) return Eval(*e.args[0]);
        if (e.args[2]) return Eval(*e.args[2]);
        return Value::LenientUndefined(absl::StrCat("the inline if-expression on line ", e.line,
                                             " evaluated to false and no else section was defined."));
      }
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        PLINTH_ASSIGN_OR_RETURN(auto items, EvalList(e.args));
        return Value::MakeList(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        Value::Dict items;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          PLINTH_ASSIGN_OR_RETURN(Value k, Defined(*e.args[i]));
          PLINTH_ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1]));
          if (k.is_sequence() || k.is_dict()) {
            return Fail(e.args[i]->line, e.args[i]->col, absl::StrCat("unhashable type: '", k.TypeName(), "'"));
          }
          bool replaced = false;
          for (auto& [ek, ev] : items) {
            if (ek.Equals(k)) {
              ev = v;
              replaced = true;
            }
          }
          if (!replaced) items.emplace_back(std::move(k), std::move(v));
        }
        return Value::MakeDict(std::move(items));
      }
    }
    return Fail(e.line, e.col, "unknown expression");
  }

  absl::Status Step(int line, int col) {
    where_->line = line;
    where_->col = col;
    if (++steps_ > limits_.max_steps) {
      return Fail(line, col, absl::StrCat("template took more than ", limits_.max_steps, " steps"));
    }
    if (limits_.interrupt && steps_ % 4096 == 0) {
      absl::Status stop = limits_.interrupt();
      if (!stop.ok()) {
        return absl::Status(stop.code(), absl::StrCat(name_, ":", line, ":", col, ": rendering stopped: ", stop.message()));
      }
    }
    return absl::OkStatus();
  }

 public:
  // Namespaces assigned to can hold themselves; emptying them when the
  // render ends frees such cycles.
  ~Renderer() {
    for (const Value& ns : namespaces_) ns.mutable_dict().clear();
  }

 private:

  absl::StatusOr<Value> Wrap(const Expr& e, absl::StatusOr<Value> v) {
    if (!v.ok()) return At(e, v.status());
    return v;
  }

  absl::Status At(const Expr& e, const absl::Status& s) const {
    // Keep the innermost position when the error already carries one.
    if (absl::StartsWith(s.message(), name_ + ":")) return s;
    if (s.code() != absl::StatusCode::kInvalidArgument) {
      return absl::Status(s.code(), absl::StrCat(name_, ":", e.line, ":", e.col, ": ", s.message()));
    }
    return Fail(e.line, e.col, s.message());
  }

  absl::Status Fail(int line, int col, absl::string_view what) const {
    if (absl::StartsWith(what, name_ + ":")) return absl::InvalidArgumentError(std::string(what));
    return absl::InvalidArgumentError(absl::StrCat(name_, ":", line, ":", col, ": ", what));
  }

  const std::string& name_;
  const RenderLimits& limits_;
  std::vector<std::map<std::string, Value>> scopes_;
  std::vector<Value> namespaces_;
  size_t steps_ = 0;
  int depth_ = 0;
  Position* where_;
};

std::string MiB(size_t bytes) {
  return bytes % (1 << 20) == 0 ? absl::StrCat(bytes >> 20, " MiB") : absl::StrCat(bytes, " bytes");
}

}  // namespace

absl::StatusOr<Template> Template::Parse(absl::string_view source, std::string name, size_t max_memory_bytes) {
  core::ScopedMemoryBudget budget(max_memory_bytes);
  try {
    PLINTH_ASSIGN_OR_RETURN(auto tokens, Lex(source, name));
    PLINTH_ASSIGN_OR_RETURN(auto body, chart::Parse(tokens, name));
    Template t;
    t.name_ = std::move(name);
    t.body_ = std::make_shared<const chart::Body>(std::move(body));
    return t;
  } catch (const std::bad_alloc&) {
    if (!budget.exceeded()) throw;
    return absl::ResourceExhaustedError(absl::StrCat(
        name, ": parsing the template needs more than ", MiB(max_memory_bytes), " of memory"));
  }
}

absl::StatusOr<std::string> Template::Render(const Value& context, const RenderLimits& limits) const {
  core::ScopedMemoryBudget budget(limits.max_memory_bytes);
  Position where;
  try {
    Renderer renderer(name_, context, limits, &where);
    std::string out;
    PLINTH_RETURN_IF_ERROR(renderer.Body(*body_, out));
    return out;
  } catch (const std::bad_alloc&) {
    if (!budget.exceeded()) throw;
  }
  // The renderer is gone, and with it what it held: the line is the one
  // it was evaluating when the allocation was refused.
  return absl::ResourceExhaustedError(absl::StrCat(
      name_, ":", where.line, ":", where.col, ": the template needs more than ", MiB(limits.max_memory_bytes),
      " of memory to render (chart render memory limit)"));
}

}  // namespace plinth::chart
