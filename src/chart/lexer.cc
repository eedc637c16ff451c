#include "lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace plinth::chart {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Jinja2 normalises \r\n and \r to \n, then drops one trailing newline.
std::string Normalize(absl::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string source, const std::string& name) : src_(std::move(source)), name_(name) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool lstrip = false;
    while (pos <= src_.size()) {
      size_t start = FindTagStart(pos);
      std::string data = src_.substr(pos, start - pos);
      if (lstrip) {
        size_t k = 0;
        while (k < data.size() && IsSpace(data[k])) ++k;
        data.erase(0, k);
        lstrip = false;
      }
      if (start + 2 < src_.size() && src_[start + 2] == '-') {
        while (!data.empty() && IsSpace(data.back())) data.pop_back();
      }
      if (!data.empty()) Emit(Tok::kData, data, pos);
      if (start >= src_.size()) break;
      char kind = src_[start + 1];
      size_t body = start + 2;
      if (body < src_.size() && (src_[body] == '-' || src_[body] == '+')) ++body;
      if (kind == '#') {
        size_t end = src_.find("#}", body);
        if (end == std::string::npos) return Error(start, "unclosed comment: expected \"#}\"");
        lstrip = end > body && src_[end - 1] == '-';
        pos = end + 2;
        continue;
      }
      bool block = kind == '%';
      Emit(block ? Tok::kBlockBegin : Tok::kVarBegin, block ? "{%" : "{{", start);
      size_t first_token = tokens_.size();
      auto end = Inside(body, block, &lstrip);
      if (!end.ok()) return end.status();
      pos = *end;
      // {% raw %} ... {% endraw %}: everything in between is data.
      if (block && tokens_.size() == first_token + 2 && tokens_[first_token].type == Tok::kName &&
          tokens_[first_token].text == "raw") {
        tokens_.resize(first_token - 1);
        auto raw_end = Raw(pos, &lstrip);
        if (!raw_end.ok()) return raw_end.status();
        pos = *raw_end;
      }
    }
    Emit(Tok::kEof, "", src_.size());
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return src_.size();
  }

  // Tokens of one {{ }} or {% %}; returns the position after the closer.
  absl::StatusOr<size_t> Inside(size_t pos, bool block, bool* lstrip) {
    std::vector<char> brackets;
    const char* closer = block ? "%}" : "}}";
    for (;;) {
      while (pos < src_.size() && IsSpace(src_[pos])) ++pos;
      if (pos >= src_.size()) {
        return Error(pos, absl::StrCat("unexpected end of template: expected \"", closer, "\""));
      }
      if (brackets.empty()) {
        if (src_.compare(pos, 3, std::string("-") + closer) == 0) {
          Emit(block ? Tok::kBlockEnd : Tok::kVarEnd, closer, pos);
          *lstrip = true;
          return pos + 3;
        }
        if (src_.compare(pos, 2, closer) == 0) {
          Emit(block ? Tok::kBlockEnd : Tok::kVarEnd, closer, pos);
          return pos + 2;
        }
      }
      char c = src_[pos];
      if (absl::ascii_isalpha(c) || c == '_') {
        size_t e = pos;
        while (e < src_.size() && (absl::ascii_isalnum(src_[e]) || src_[e] == '_')) ++e;
        Emit(Tok::kName, src_.substr(pos, e - pos), pos);
        pos = e;
      } else if (absl::ascii_isdigit(c)) {
        auto next = Number(pos);
        if (!next.ok()) return next.status();
        pos = *next;
      } else if (c == '\'' || c == '"') {
        auto next = String(pos);
        if (!next.ok()) return next.status();
        pos = *next;
      } else {
        static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~",
                                     "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
        const char* op = nullptr;
        for (const char* o : kOps) {
          if (src_.compare(pos, std::char_traits<char>::length(o), o) == 0) {
            op = o;
            break;
          }
        }
        if (op == nullptr) {
          return Error(pos, absl::StrCat("unexpected character \"", std::string(1, c), "\""));
        }
        std::string o(op);
        if (o == "(" || o == "[" || o == "{") {
          brackets.push_back(o[0]);
        } else if (o == ")" || o == "]" || o == "}") {
          char want = o == ")" ? '(' : o == "]" ? '[' : '{';
          if (brackets.empty() || brackets.back() != want) {
            return Error(pos, absl::StrCat("unexpected \"", o, "\""));
          }
          brackets.pop_back();
        }
        Emit(Tok::kOp, o, pos);
        pos += o.size();
      }
    }
  }

  absl::StatusOr<size_t> Raw(size_t pos, bool* lstrip) {
    for (size_t search = pos;;) {
      size_t open = src_.find("{%", search);
      if (open == std::string::npos) return Error(pos, "unclosed raw block: expected \"{% endraw %}\"");
      size_t p = open + 2;
      bool strip_before = p < src_.size() && src_[p] == '-';
      if (strip_before) ++p;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      p += 6;
      while (p < src_.size() && IsSpace(src_[p])) ++p;
      bool strip_after = p < src_.size() && src_[p] == '-';
      if (strip_after) ++p;
      if (src_.compare(p, 2, "%}") != 0) {
        search = open + 2;
        continue;
      }
      std::string data = src_.substr(pos, open - pos);
      if (*lstrip) {
        size_t k = 0;
        while (k < data.size() && IsSpace(data[k])) ++k;
        data.erase(0, k);
      }
      if (strip_before) {
        while (!data.empty() && IsSpace(data.back())) data.pop_back();
      }
      if (!data.empty()) Emit(Tok::kData, data, pos);
      *lstrip = strip_after;
      return p + 2;
    }
  }

  absl::StatusOr<size_t> Number(size_t pos) {
    auto digits = [&](size_t p) {
      // (\d+_)*\d+
      size_t e = p;
      while (e < src_.size() && (absl::ascii_isdigit(src_[e]) ||
                                 (src_[e] == '_' && e + 1 < src_.size() && absl::ascii_isdigit(src_[e + 1]) && e > p))) {
        ++e;
      }
      return e;
    };
    size_t e = digits(pos);
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && absl::ascii_isdigit(src_[e + 1])) {
      e = digits(e + 1);
      is_float = true;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && absl::ascii_isdigit(src_[x])) {
        e = digits(x);
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = pos; i < e; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    Token t;
    t.text = text;
    errno = 0;
    if (is_float) {
      t.type = Tok::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = Tok::kInt;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) return Error(pos, "integer literal out of range");
    }
    Position(pos, &t);
    tokens_.push_back(std::move(t));
    return e;
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Python "unicode-escape" decoding of the literal's body, as Jinja2 does.
  absl::StatusOr<size_t> String(size_t pos) {
    char quote = src_[pos];
    std::string out;
    size_t i = pos + 1;
    for (; i < src_.size() && src_[i] != quote; ++i) {
      char c = src_[i];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (++i >= src_.size()) break;
      char e = src_[i];
      auto hex = [&](int n) -> int64_t {
        uint32_t v = 0;
        for (int k = 1; k <= n; ++k) {
          if (i + k >= src_.size() || !absl::ascii_isxdigit(src_[i + k])) return -1;
          char h = src_[i + k];
          v = v * 16 + (absl::ascii_isdigit(h) ? h - '0' : absl::ascii_tolower(h) - 'a' + 10);
        }
        i += n;
        return v;
      };
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          int64_t v = hex(e == 'x' ? 2 : e == 'u' ? 4 : 8);
          if (v < 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            return Error(i, absl::StrCat("invalid \\", std::string(1, e), " escape in string literal"));
          }
          AppendUtf8(out, static_cast<uint32_t>(v));
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = e - '0';
            for (int k = 0; k < 2 && i + 1 < src_.size() && src_[i + 1] >= '0' && src_[i + 1] <= '7'; ++k) {
              v = v * 8 + (src_[++i] - '0');
            }
            AppendUtf8(out, v);
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    if (i >= src_.size()) return Error(pos, "unterminated string literal");
    Token t;
    t.type = Tok::kString;
    t.text = std::move(out);
    Position(pos, &t);
    tokens_.push_back(std::move(t));
    return i + 1;
  }

  void Position(size_t pos, Token* t) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
    size_t line = it - line_starts_.begin();
    t->line = static_cast<int>(line);
    t->col = static_cast<int>(pos - line_starts_[line - 1] + 1);
  }

  void Emit(Tok type, std::string text, size_t pos) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    Position(std::min(pos, src_.size()), &t);
    tokens_.push_back(std::move(t));
  }

  absl::Status Error(size_t pos, absl::string_view what) const {
    Token t;
    Position(std::min(pos, src_.size()), &t);
    return absl::InvalidArgumentError(absl::StrCat(name_, ":", t.line, ":", t.col, ": ", what));
  }

  std::string src_;
  const std::string& name_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Lex(absl::string_view source, const std::string& name) {
  return Lexer(Normalize(source), name).Run();
}

}  // namespace plinth::chart
