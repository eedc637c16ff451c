// The template syntax tree: expressions and statements, each with the
// position it came from for error messages.
#ifndef PLINTH_CHART_AST_H_
#define PLINTH_CHART_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "plinth/chart/value.h"

namespace plinth::chart {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kConst,      // value
    kName,       // name
    kGetattr,    // a.name
    kGetitem,    // a[b]  (args[0] = a, args[1] = b)
    kSlice,      // a[b:c:d] (args: a, start?, stop?, step?; null = omitted)
    kCall,       // a(args..., kwargs...)
    kFilter,     // operand | name(args, kwargs)
    kTest,       // operand is [not] name(args)
    kUnary,      // op: "-", "+", "not"
    kBinary,     // op: + - * / // % ** and or
    kConcat,     // a ~ b ~ c
    kCompare,    // args[0] then (ops[i], args[i+1])
    kCondExpr,   // args: then, test, else? (null when missing)
    kList,
    kTuple,
    kDict,       // args: k0, v0, k1, v1 ...
  };
  Kind kind;
  int line = 0, col = 0;
  std::string name;  // names, attributes, filters, tests, operators
  Value value;       // constants
  bool negated = false;  // tests: "is not"
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // comparisons
  int height = 1;  // 1 + the tallest child: the parser bounds it
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock };
  Kind kind;
  int line = 0, col = 0;
  std::string text;                // kText
  ExprPtr expr;                    // kOutput, kSet value, kFor iterable
  // kIf: one (condition, body) per if/elif; else_body for else.
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;                       // kFor, kSetBlock
  Body else_body;                  // kIf, kFor
  std::vector<std::string> targets;  // kFor loop variables; kSet: name or ns.attr
  std::string attribute;           // kSet on a namespace: the attribute
  ExprPtr filter;                  // kFor: "for x in xs if cond"
};

}  // namespace plinth::chart

#endif  // PLINTH_CHART_AST_H_
