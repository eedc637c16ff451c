#include "parser.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "builtins.h"
#include "plinth/core/status_macros.h"

namespace plinth::chart {
namespace {

constexpr int kMaxDepth = 200;
// Jinja2 (compiled to Python) stops at a few hundred nested operators too.
constexpr int kMaxHeight = 400;

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const std::string& name) : t_(tokens), name_(name) {}

  absl::StatusOr<Body> Template() {
    Body body;
    std::string end;
    PLINTH_RETURN_IF_ERROR(Subparse({}, &body, &end));
    return body;
  }

 private:
  // Parses nodes until a block tag named in `ends` (left unconsumed after
  // its name, which goes to *end) or the end of the template.
  absl::Status Subparse(const std::set<std::string>& ends, Body* body, std::string* end) {
    if (++depth_ > kMaxDepth) return Fail(Cur(), "blocks nested too deeply");
    for (;;) {
      const Token& tok = Cur();
      switch (tok.type) {
        case Tok::kData: {
          auto n = NewNode(Node::Kind::kText, tok);
          n->text = tok.text;
          body->push_back(std::move(n));
          ++pos_;
          break;
        }
        case Tok::kVarBegin: {
          auto n = NewNode(Node::Kind::kOutput, tok);
          ++pos_;
          PLINTH_ASSIGN_OR_RETURN(n->expr, Tuple(true));
          PLINTH_RETURN_IF_ERROR(Expect(Tok::kVarEnd, "}}", "end of print statement"));
          body->push_back(std::move(n));
          break;
        }
        case Tok::kBlockBegin: {
          ++pos_;
          const Token& tag = Cur();
          if (tag.type != Tok::kName) return Fail(tag, "expected a tag name after \"{%\"");
          if (ends.count(tag.text)) {
            *end = tag.text;
            ++pos_;
            --depth_;
            return absl::OkStatus();
          }
          PLINTH_RETURN_IF_ERROR(Statement(ends, body));
          break;
        }
        case Tok::kEof:
          if (!ends.empty()) {
            std::vector<std::string> quoted;
            for (const auto& e : ends) quoted.push_back(absl::StrCat("\"", e, "\""));
            return Fail(tok, absl::StrCat("unexpected end of template: expected ",
                                          absl::StrJoin(quoted, " or ")));
          }
          --depth_;
          return absl::OkStatus();
        default:
          return Fail(tok, "unexpected token");
      }
    }
  }

  absl::Status Statement(const std::set<std::string>& outer_ends, Body* body) {
    const Token& tag = Cur();
    if (tag.text == "if") return If(body);
    if (tag.text == "for") return For(body);
    if (tag.text == "set") return Set(body);
    static const std::set<std::string> kEnds = {"endif", "endfor", "else", "elif", "endset"};
    if (kEnds.count(tag.text)) {
      std::string expected;
      if (!outer_ends.empty()) {
        std::vector<std::string> q;
        for (const auto& e : outer_ends) q.push_back(absl::StrCat("\"", e, "\""));
        expected = absl::StrCat(" (expected ", absl::StrJoin(q, " or "), ")");
      }
      return Fail(tag, absl::StrCat("unexpected \"", tag.text, "\"", expected));
    }
    return Fail(tag, absl::StrCat("unknown tag \"", tag.text,
                                  "\" (plinth templates support if, for, set and raw)"));
  }

  absl::Status If(Body* body) {
    auto n = NewNode(Node::Kind::kIf, Cur());
    ++pos_;
    for (;;) {
      // As Jinja2: no inline if-expression at the top of an if condition.
      PLINTH_ASSIGN_OR_RETURN(ExprPtr cond, Tuple(false));
      PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of if"));
      Body branch;
      std::string end;
      PLINTH_RETURN_IF_ERROR(Subparse({"elif", "else", "endif"}, &branch, &end));
      n->branches.emplace_back(std::move(cond), std::move(branch));
      if (end == "elif") continue;
      if (end == "else") {
        PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of else"));
        PLINTH_RETURN_IF_ERROR(Subparse({"endif"}, &n->else_body, &end));
      }
      break;
    }
    PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of endif"));
    body->push_back(std::move(n));
    return absl::OkStatus();
  }

  absl::Status For(Body* body) {
    auto n = NewNode(Node::Kind::kFor, Cur());
    ++pos_;
    bool paren = IsOp("(");
    if (paren) ++pos_;
    for (;;) {
      if (Cur().type != Tok::kName) return Fail(Cur(), "expected a loop variable name");
      n->targets.push_back(Cur().text);
      ++pos_;
      if (!IsOp(",")) break;
      ++pos_;
    }
    if (paren) PLINTH_RETURN_IF_ERROR(ExpectOp(")"));
    if (!IsName("in")) return Fail(Cur(), "expected \"in\" in for loop");
    ++pos_;
    PLINTH_ASSIGN_OR_RETURN(n->expr, Tuple(false));
    if (IsName("if")) {
      ++pos_;
      PLINTH_ASSIGN_OR_RETURN(n->filter, Expression(true));
    }
    PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of for"));
    std::string end;
    PLINTH_RETURN_IF_ERROR(Subparse({"endfor", "else"}, &n->body, &end));
    if (end == "else") {
      PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of else"));
      PLINTH_RETURN_IF_ERROR(Subparse({"endfor"}, &n->else_body, &end));
    }
    PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of endfor"));
    body->push_back(std::move(n));
    return absl::OkStatus();
  }

  absl::Status Set(Body* body) {
    auto n = NewNode(Node::Kind::kSet, Cur());
    ++pos_;
    if (Cur().type != Tok::kName) return Fail(Cur(), "expected a variable name after \"set\"");
    n->targets.push_back(Cur().text);
    ++pos_;
    if (IsOp(".")) {
      ++pos_;
      if (Cur().type != Tok::kName) return Fail(Cur(), "expected an attribute name");
      n->attribute = Cur().text;
      ++pos_;
    } else {
      while (IsOp(",")) {
        ++pos_;
        if (Cur().type != Tok::kName) return Fail(Cur(), "expected a variable name");
        n->targets.push_back(Cur().text);
        ++pos_;
      }
    }
    if (Cur().type == Tok::kBlockEnd && n->targets.size() == 1 && n->attribute.empty()) {
      // {% set x %}...{% endset %}
      ++pos_;
      n->kind = Node::Kind::kSetBlock;
      std::string end;
      PLINTH_RETURN_IF_ERROR(Subparse({"endset"}, &n->body, &end));
      PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of endset"));
      body->push_back(std::move(n));
      return absl::OkStatus();
    }
    PLINTH_RETURN_IF_ERROR(ExpectOp("="));
    PLINTH_ASSIGN_OR_RETURN(n->expr, Tuple(true));
    PLINTH_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "%}", "end of set"));
    body->push_back(std::move(n));
    return absl::OkStatus();
  }

  // --- expressions, in Jinja2's precedence order -----------------------

  // a, b, c  -> tuple; a single expression without a comma stays itself.
  absl::StatusOr<ExprPtr> Tuple(bool with_condexpr, bool explicit_parens = false) {
    const Token& start = Cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    for (;;) {
      if (!items.empty()) {
        if (!IsOp(",")) break;
        ++pos_;
        is_tuple = true;
      }
      if (TupleEnds(explicit_parens)) break;
      PLINTH_ASSIGN_OR_RETURN(ExprPtr e, Expression(with_condexpr));
      items.push_back(std::move(e));
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) return Fail(Cur(), "expected an expression");
    }
    auto t = NewExpr(Expr::Kind::kTuple, start);
    for (auto& item : items) PLINTH_RETURN_IF_ERROR(Adopt(t.get(), std::move(item)));
    return t;
  }

  bool TupleEnds(bool explicit_parens) {
    const Token& c = Cur();
    if (c.type == Tok::kVarEnd || c.type == Tok::kBlockEnd || c.type == Tok::kEof) return true;
    if (explicit_parens && c.type == Tok::kOp && c.text == ")") return true;
    if (c.type == Tok::kName && c.text == "if") return true;  // for x in a, b if ...
    return false;
  }

  absl::StatusOr<ExprPtr> Expression(bool with_condexpr) {
    if (++depth_ > kMaxDepth) return Fail(Cur(), "expression nested too deeply");
    absl::StatusOr<ExprPtr> e = with_condexpr ? CondExpr() : Or();
    --depth_;
    return e;
  }

  absl::StatusOr<ExprPtr> CondExpr() {
    const Token& start = Cur();
    PLINTH_ASSIGN_OR_RETURN(ExprPtr expr, Or());
    while (IsName("if")) {
      ++pos_;
      PLINTH_ASSIGN_OR_RETURN(ExprPtr test, Or());
      ExprPtr otherwise;
      if (IsName("else")) {
        ++pos_;
        PLINTH_ASSIGN_OR_RETURN(otherwise, CondExpr());
      }
      auto c = NewExpr(Expr::Kind::kCondExpr, start);
      PLINTH_RETURN_IF_ERROR(Adopt(c.get(), std::move(expr)));
      PLINTH_RETURN_IF_ERROR(Adopt(c.get(), std::move(test)));
      PLINTH_RETURN_IF_ERROR(Adopt(c.get(), std::move(otherwise)));
      expr = std::move(c);
    }
    return expr;
  }

  absl::StatusOr<ExprPtr> Or() { return BinaryChain({"or"}, true, &Parser::And); }
  absl::StatusOr<ExprPtr> And() { return BinaryChain({"and"}, true, &Parser::Not); }

  absl::StatusOr<ExprPtr> Not() {
    if (IsName("not")) {
      if (++depth_ > kMaxDepth) return Fail(Cur(), "expression nested too deeply");
      auto n = NewExpr(Expr::Kind::kUnary, Cur());
      n->name = "not";
      ++pos_;
      PLINTH_ASSIGN_OR_RETURN(ExprPtr operand, Not());
      PLINTH_RETURN_IF_ERROR(Adopt(n.get(), std::move(operand)));
      return n;
    }
    return Compare();
  }

  absl::StatusOr<ExprPtr> Compare() {
    const Token& start = Cur();
    PLINTH_ASSIGN_OR_RETURN(ExprPtr first, Math1());
    auto cmp = NewExpr(Expr::Kind::kCompare, start);
    PLINTH_RETURN_IF_ERROR(Adopt(cmp.get(), std::move(first)));
    for (;;) {
      static const std::set<std::string> kOps = {"==", "!=", "<", "<=", ">", ">="};
      std::string op;
      if (Cur().type == Tok::kOp && kOps.count(Cur().text)) {
        op = Cur().text;
        ++pos_;
      } else if (IsName("in")) {
        op = "in";
        ++pos_;
      } else if (IsName("not") && Peek().type == Tok::kName && Peek().text == "in") {
        op = "not in";
        pos_ += 2;
      } else {
        break;
      }
      PLINTH_ASSIGN_OR_RETURN(ExprPtr rhs, Math1());
      cmp->ops.push_back(op);
      PLINTH_RETURN_IF_ERROR(Adopt(cmp.get(), std::move(rhs)));
    }
    if (cmp->ops.empty()) return std::move(cmp->args[0]);
    return cmp;
  }

  absl::StatusOr<ExprPtr> Math1() { return BinaryChain({"+", "-"}, false, &Parser::Concat); }

  absl::StatusOr<ExprPtr> Concat() {
    const Token& start = Cur();
    PLINTH_ASSIGN_OR_RETURN(ExprPtr first, Math2());
    if (!IsOp("~")) return first;
    auto c = NewExpr(Expr::Kind::kConcat, start);
    PLINTH_RETURN_IF_ERROR(Adopt(c.get(), std::move(first)));
    while (IsOp("~")) {
      ++pos_;
      PLINTH_ASSIGN_OR_RETURN(ExprPtr next, Math2());
      PLINTH_RETURN_IF_ERROR(Adopt(c.get(), std::move(next)));
    }
    return c;
  }

  absl::StatusOr<ExprPtr> Math2() { return BinaryChain({"*", "/", "//", "%"}, false, &Parser::Pow); }
  absl::StatusOr<ExprPtr> Pow() { return BinaryChain({"**"}, false, &Parser::UnaryWithFilter); }
  absl::StatusOr<ExprPtr> UnaryWithFilter() { return Unary(true); }

  absl::StatusOr<ExprPtr> BinaryChain(const std::set<std::string>& ops, bool names,
                                      absl::StatusOr<ExprPtr> (Parser::*next)()) {
    PLINTH_ASSIGN_OR_RETURN(ExprPtr left, (this->*next)());
    for (;;) {
      const Token& c = Cur();
      bool match = names ? (c.type == Tok::kName && ops.count(c.text))
                         : (c.type == Tok::kOp && ops.count(c.text));
      if (!match) return left;
      auto b = NewExpr(Expr::Kind::kBinary, c);
      b->name = c.text;
      ++pos_;
      PLINTH_ASSIGN_OR_RETURN(ExprPtr right, (this->*next)());
      PLINTH_RETURN_IF_ERROR(Adopt(b.get(), std::move(left)));
      PLINTH_RETURN_IF_ERROR(Adopt(b.get(), std::move(right)));
      left = std::move(b);
    }
  }

  absl::StatusOr<ExprPtr> Unary(bool with_filter) {
    if (++depth_ > kMaxDepth) return Fail(Cur(), "expression nested too deeply");
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      auto u = NewExpr(Expr::Kind::kUnary, Cur());
      u->name = Cur().text;
      ++pos_;
      PLINTH_ASSIGN_OR_RETURN(ExprPtr operand, Unary(false));
      PLINTH_RETURN_IF_ERROR(Adopt(u.get(), std::move(operand)));
      node = std::move(u);
    } else {
      PLINTH_ASSIGN_OR_RETURN(node, Primary());
    }
    PLINTH_ASSIGN_OR_RETURN(node, Postfix(std::move(node)));
    if (with_filter) {
      PLINTH_ASSIGN_OR_RETURN(node, FilterExpr(std::move(node)));
    }
    --depth_;
    return node;
  }

  absl::StatusOr<ExprPtr> Primary() {
    const Token& tok = Cur();
    switch (tok.type) {
      case Tok::kName: {
        ++pos_;
        if (tok.text == "true" || tok.text == "True") return Const(tok, Value::Bool(true));
        if (tok.text == "false" || tok.text == "False") return Const(tok, Value::Bool(false));
        if (tok.text == "none" || tok.text == "None") return Const(tok, Value::None());
        auto n = NewExpr(Expr::Kind::kName, tok);
        n->name = tok.text;
        return n;
      }
      case Tok::kString: {
        std::string s = tok.text;
        ++pos_;
        while (Cur().type == Tok::kString) s += Cur().text, ++pos_;
        return Const(tok, Value::String(std::move(s)));
      }
      case Tok::kInt:
        ++pos_;
        return Const(tok, Value::Int(tok.int_value));
      case Tok::kFloat:
        ++pos_;
        return Const(tok, Value::Float(tok.float_value));
      case Tok::kOp:
        if (tok.text == "(") {
          ++pos_;
          PLINTH_ASSIGN_OR_RETURN(ExprPtr e, Tuple(true, /*explicit_parens=*/true));
          PLINTH_RETURN_IF_ERROR(ExpectOp(")"));
          return e;
        }
        if (tok.text == "[") {
          ++pos_;
          auto l = NewExpr(Expr::Kind::kList, tok);
          while (!IsOp("]")) {
            if (!l->args.empty()) PLINTH_RETURN_IF_ERROR(ExpectOp(","));
            if (IsOp("]")) break;
            PLINTH_ASSIGN_OR_RETURN(ExprPtr item, Expression(true));
            PLINTH_RETURN_IF_ERROR(Adopt(l.get(), std::move(item)));
          }
          ++pos_;
          return l;
        }
        if (tok.text == "{") {
          ++pos_;
          auto d = NewExpr(Expr::Kind::kDict, tok);
          while (!IsOp("}")) {
            if (!d->args.empty()) PLINTH_RETURN_IF_ERROR(ExpectOp(","));
            if (IsOp("}")) break;
            PLINTH_ASSIGN_OR_RETURN(ExprPtr key, Expression(true));
            PLINTH_RETURN_IF_ERROR(ExpectOp(":"));
            PLINTH_ASSIGN_OR_RETURN(ExprPtr value, Expression(true));
            PLINTH_RETURN_IF_ERROR(Adopt(d.get(), std::move(key)));
            PLINTH_RETURN_IF_ERROR(Adopt(d.get(), std::move(value)));
          }
          ++pos_;
          return d;
        }
        break;
      default:
        break;
    }
    return Fail(tok, tok.type == Tok::kVarEnd || tok.type == Tok::kBlockEnd || tok.type == Tok::kEof
                         ? std::string("expected an expression")
                         : absl::StrCat("unexpected \"", tok.text, "\""));
  }

  absl::StatusOr<ExprPtr> Postfix(ExprPtr node) {
    for (;;) {
      if (IsOp(".")) {
        const Token& dot = Cur();
        ++pos_;
        const Token& attr = Cur();
        if (attr.type == Tok::kName) {
          auto g = NewExpr(Expr::Kind::kGetattr, dot);
          g->name = attr.text;
          PLINTH_RETURN_IF_ERROR(Adopt(g.get(), std::move(node)));
          node = std::move(g);
          ++pos_;
        } else if (attr.type == Tok::kInt) {
          auto g = NewExpr(Expr::Kind::kGetitem, dot);
          PLINTH_RETURN_IF_ERROR(Adopt(g.get(), std::move(node)));
          PLINTH_RETURN_IF_ERROR(Adopt(g.get(), Const(attr, Value::Int(attr.int_value))));
          node = std::move(g);
          ++pos_;
        } else {
          return Fail(attr, "expected an attribute name after \".\"");
        }
      } else if (IsOp("[")) {
        PLINTH_ASSIGN_OR_RETURN(node, Subscript(std::move(node)));
      } else if (IsOp("(")) {
        PLINTH_ASSIGN_OR_RETURN(node, Call(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> Subscript(ExprPtr node) {
    const Token& open = Cur();
    ++pos_;
    std::vector<ExprPtr> parts(3);
    int part = 0;
    bool slice = false;
    for (;;) {
      if (IsOp("]")) break;
      if (IsOp(":")) {
        slice = true;
        if (++part > 2) return Fail(Cur(), "too many \":\" in slice");
        ++pos_;
        continue;
      }
      if (parts[part]) return Fail(Cur(), "expected \"]\"");
      PLINTH_ASSIGN_OR_RETURN(parts[part], Expression(true));
    }
    ++pos_;
    if (!slice) {
      if (!parts[0]) return Fail(open, "expected an index inside \"[]\"");
      auto g = NewExpr(Expr::Kind::kGetitem, open);
      PLINTH_RETURN_IF_ERROR(Adopt(g.get(), std::move(node)));
      PLINTH_RETURN_IF_ERROR(Adopt(g.get(), std::move(parts[0])));
      return g;
    }
    auto s = NewExpr(Expr::Kind::kSlice, open);
    PLINTH_RETURN_IF_ERROR(Adopt(s.get(), std::move(node)));
    for (auto& p : parts) PLINTH_RETURN_IF_ERROR(Adopt(s.get(), std::move(p)));
    return s;
  }

  absl::Status CallArgs(Expr* target) {
    PLINTH_RETURN_IF_ERROR(ExpectOp("("));
    bool first = true;
    while (!IsOp(")")) {
      if (!first) PLINTH_RETURN_IF_ERROR(ExpectOp(","));
      first = false;
      if (IsOp(")")) break;
      if (Cur().type == Tok::kName && Peek().type == Tok::kOp && Peek().text == "=") {
        std::string key = Cur().text;
        pos_ += 2;
        PLINTH_ASSIGN_OR_RETURN(ExprPtr v, Expression(true));
        PLINTH_RETURN_IF_ERROR(Adopt(target, std::move(v), std::move(key)));
      } else {
        if (!target->kwargs.empty()) return Fail(Cur(), "positional argument after keyword argument");
        PLINTH_ASSIGN_OR_RETURN(ExprPtr v, Expression(true));
        PLINTH_RETURN_IF_ERROR(Adopt(target, std::move(v)));
      }
    }
    ++pos_;
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> Call(ExprPtr callee) {
    auto c = NewExpr(Expr::Kind::kCall, Cur());
    PLINTH_RETURN_IF_ERROR(Adopt(c.get(), std::move(callee)));
    PLINTH_RETURN_IF_ERROR(CallArgs(c.get()));
    return c;
  }

  absl::StatusOr<ExprPtr> FilterExpr(ExprPtr node) {
    for (;;) {
      if (IsOp("|")) {
        ++pos_;
        const Token& name = Cur();
        if (name.type != Tok::kName) return Fail(name, "expected a filter name after \"|\"");
        // As Jinja2, an unknown filter is an error when the template is
        // compiled, even in a branch that never runs.
        if (!HasFilter(name.text)) return Fail(name, absl::StrCat("no filter named '", name.text, "'"));
        auto f = NewExpr(Expr::Kind::kFilter, name);
        f->name = name.text;
        ++pos_;
        PLINTH_RETURN_IF_ERROR(Adopt(f.get(), std::move(node)));
        if (IsOp("(")) PLINTH_RETURN_IF_ERROR(CallArgs(f.get()));
        node = std::move(f);
      } else if (IsName("is")) {
        ++pos_;
        bool negated = false;
        if (IsName("not")) {
          negated = true;
          ++pos_;
        }
        const Token& name = Cur();
        if (name.type != Tok::kName) return Fail(name, "expected a test name after \"is\"");
        if (!HasTest(name.text)) return Fail(name, absl::StrCat("no test named '", name.text, "'"));
        auto t = NewExpr(Expr::Kind::kTest, name);
        t->name = name.text;
        t->negated = negated;
        ++pos_;
        PLINTH_RETURN_IF_ERROR(Adopt(t.get(), std::move(node)));
        const Token& c = Cur();
        if (IsOp("(")) {
          PLINTH_RETURN_IF_ERROR(CallArgs(t.get()));
        } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt ||
                    c.type == Tok::kFloat || IsOp("[") || IsOp("{")) &&
                   !IsName("else") && !IsName("or") && !IsName("and")) {
          if (IsName("is")) return Fail(c, "tests cannot be chained with \"is\"");
          PLINTH_ASSIGN_OR_RETURN(ExprPtr arg, Primary());
          PLINTH_ASSIGN_OR_RETURN(arg, Postfix(std::move(arg)));
          PLINTH_RETURN_IF_ERROR(Adopt(t.get(), std::move(arg)));
        }
        node = std::move(t);
      } else if (IsOp("(")) {
        PLINTH_ASSIGN_OR_RETURN(node, Call(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // --- helpers ---------------------------------------------------------

  const Token& Cur() const { return t_[std::min(pos_, t_.size() - 1)]; }
  const Token& Peek() const { return t_[std::min(pos_ + 1, t_.size() - 1)]; }
  bool IsOp(const char* op) const { return Cur().type == Tok::kOp && Cur().text == op; }
  bool IsName(const char* n) const { return Cur().type == Tok::kName && Cur().text == n; }

  absl::Status Expect(Tok type, const char* text, const char* what) {
    if (Cur().type != type) {
      return Fail(Cur(), absl::StrCat("expected \"", text, "\" (", what, "), got ", Describe(Cur())));
    }
    ++pos_;
    return absl::OkStatus();
  }

  absl::Status ExpectOp(const char* op) {
    if (!IsOp(op)) return Fail(Cur(), absl::StrCat("expected \"", op, "\", got ", Describe(Cur())));
    ++pos_;
    return absl::OkStatus();
  }

  static std::string Describe(const Token& t) {
    switch (t.type) {
      case Tok::kEof: return "end of template";
      case Tok::kVarEnd: return "\"}}\"";
      case Tok::kBlockEnd: return "\"%}\"";
      case Tok::kString: return "a string";
      case Tok::kData: return "template text";
      default: return absl::StrCat("\"", t.text, "\"");
    }
  }

  absl::Status Fail(const Token& t, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ":", t.line, ":", t.col, ": ", what));
  }

  static std::unique_ptr<Node> NewNode(Node::Kind kind, const Token& t) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = t.line;
    n->col = t.col;
    return n;
  }

  static ExprPtr NewExpr(Expr::Kind kind, const Token& t) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = t.line;
    e->col = t.col;
    return e;
  }

  // Attaches a child (an argument, or a keyword argument when `keyword` is
  // set) and keeps the parent's height. Chains the parser builds in a loop
  // (a.b.c..., 1+1+1..., x|f|g...) are refused past kMaxHeight, so that no
  // walk of the tree (rendering, destruction) recurses without a bound.
  absl::Status Adopt(Expr* parent, ExprPtr child, std::string keyword = {}) {
    if (child) {
      parent->height = std::max(parent->height, child->height + 1);
      if (parent->height > kMaxHeight) {
        return absl::InvalidArgumentError(absl::StrCat(
            name_, ":", parent->line, ":", parent->col, ": expression nested too deeply (more than ",
            kMaxHeight, " levels of operators, attributes, calls or filters)"));
      }
    }
    if (keyword.empty()) {
      parent->args.push_back(std::move(child));
    } else {
      parent->kwargs.emplace_back(std::move(keyword), std::move(child));
    }
    return absl::OkStatus();
  }

  static ExprPtr Const(const Token& t, Value v) {
    auto e = NewExpr(Expr::Kind::kConst, t);
    e->value = std::move(v);
    return e;
  }

  const std::vector<Token>& t_;
  const std::string& name_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<Body> Parse(const std::vector<Token>& tokens, const std::string& name) {
  return Parser(tokens, name).Template();
}

}  // namespace plinth::chart
