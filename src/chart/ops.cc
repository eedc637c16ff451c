// Python's arithmetic and comparison operators over template values.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "builtins.h"
#include "plinth/core/status_macros.h"

namespace plinth::chart {
namespace {

absl::Status TypeError(const std::string& op, const Value& a, const Value& b) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for ", op, ": '",
                                                 a.TypeName(), "' and '", b.TypeName(), "'"));
}

bool IsIntLike(const Value& v) { return v.is_int() || v.is_bool(); }

absl::StatusOr<Value> Repeat(const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    if (n > 0 && seq.string_value().size() * n > (64u << 20)) {
      return absl::InvalidArgumentError("string repetition too large");
    }
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.string_value();
    return Value::String(std::move(out));
  }
  if (n > 0 && seq.list().size() * n > 10'000'000) return absl::InvalidArgumentError("list repetition too large");
  Value::List out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
  return Value::MakeList(std::move(out), seq.is_tuple());
}

absl::Status Overflow() { return absl::InvalidArgumentError("integer overflow"); }

// The first `n` code points of UTF-8 text.
absl::string_view FirstCodePoints(absl::string_view s, size_t n) {
  size_t i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && n-- == 0) break;
  }
  return s.substr(0, i);
}

// Pads a converted value to `width` code points as Python's % does: left
// with "-", zeros after the sign with "0" (numbers only), else spaces.
std::string Pad(std::string body, size_t width, bool left, bool zero) {
  size_t have = CodePointCount(body);
  if (have >= width) return body;
  size_t fill = width - have;
  if (left) return body + std::string(fill, ' ');
  if (zero) {
    size_t sign = !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
    if (body.compare(sign, 2, "0x") == 0) sign += 2;
    return body.substr(0, sign) + std::string(fill, '0') + body.substr(sign);
  }
  return std::string(fill, ' ') + body;
}

// Python's str % args for %s %r %d %i %x %f %e %g %%, with flags, width and
// precision. Widths are real: "%1000000000s" builds a string that size,
// which the render's memory limit refuses.
absl::StatusOr<Value> Format(const std::string& fmt, const Value& args) {
  Value::List items = args.is_tuple() ? args.list() : Value::List{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    size_t j = i + 1;
    std::string flags;
    while (j < fmt.size() && std::string("-+ 0#").find(fmt[j]) != std::string::npos) flags += fmt[j++];
    auto number = [&](int64_t* n) -> absl::Status {
      *n = 0;
      while (j < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[j]))) {
        *n = *n * 10 + (fmt[j++] - '0');
        if (*n > std::numeric_limits<int32_t>::max()) return absl::InvalidArgumentError("width too big");
      }
      return absl::OkStatus();
    };
    int64_t width = 0, precision = -1;
    PLINTH_RETURN_IF_ERROR(number(&width));
    if (j < fmt.size() && fmt[j] == '.') {
      ++j;
      PLINTH_RETURN_IF_ERROR(number(&precision));
      if (precision > 1000) return absl::InvalidArgumentError("precision too big (at most 1000)");
    }
    if (j >= fmt.size()) return absl::InvalidArgumentError("incomplete format");
    char conv = fmt[j];
    i = j;
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (next >= items.size()) return absl::InvalidArgumentError("not enough arguments for format string");
    const Value& v = items[next++];
    const bool left = flags.find('-') != std::string::npos;
    const bool zero = flags.find('0') != std::string::npos && !left;
    std::string body;
    switch (conv) {
      case 's':
      case 'r':
        body = conv == 's' ? v.Str() : v.Repr();
        if (precision >= 0) body = std::string(FirstCodePoints(body, static_cast<size_t>(precision)));
        out += Pad(std::move(body), static_cast<size_t>(width), left, false);
        continue;
      case 'd':
      case 'i':
      case 'x':
      case 'f':
      case 'e':
      case 'g':
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("unsupported format character '", std::string(1, conv), "'"));
    }
    const bool integer = conv == 'd' || conv == 'i' || conv == 'x';
    if (!v.is_number()) {
      return absl::InvalidArgumentError(absl::StrCat("%", std::string(1, conv), " format: a ",
                                                     integer ? "number" : "real number", " is required, not ",
                                                     v.TypeName()));
    }
    // snprintf converts (flags and precision, never the width, so that the
    // buffer holds any result: 1000 digits of precision and 309 of a double).
    std::string spec = "%";
    for (char f : flags) {
      if (f != '-' && f != '0') spec += f;
    }
    if (precision >= 0) absl::StrAppend(&spec, ".", precision);
    char buf[1400];
    if (integer) {
      long long n = static_cast<long long>(v.is_float() ? std::trunc(v.float_value()) : v.int_value());
      if (conv == 'x' && n < 0) {
        // Python: -255 is "-ff", not the two's complement.
        std::snprintf(buf, sizeof(buf), (spec + "llx").c_str(), static_cast<unsigned long long>(-(n + 1)) + 1);
        out += Pad(absl::StrCat("-", buf), static_cast<size_t>(width), left, zero);
        continue;
      }
      std::snprintf(buf, sizeof(buf), (spec + "ll" + (conv == 'x' ? "x" : "d")).c_str(), n);
    } else {
      std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), v.AsDouble());
    }
    out += Pad(buf, static_cast<size_t>(width), left, zero);
  }
  if (next < items.size()) return absl::InvalidArgumentError("not all arguments converted during string formatting");
  return Value::String(std::move(out));
}

}  // namespace

absl::StatusOr<Value> BinaryOp(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  bool numbers = a.is_number() && b.is_number();
  bool ints = IsIntLike(a) && IsIntLike(b);
  int64_t x = a.int_value(), y = b.int_value(), r = 0;
  if (op == "+") {
    if (ints) {
      if (__builtin_add_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    }
    if (numbers) return Value::Float(a.AsDouble() + b.AsDouble());
    if (a.is_string() && b.is_string()) return Value::String(a.string_value() + b.string_value());
    if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
      Value::List out = a.list();
      out.insert(out.end(), b.list().begin(), b.list().end());
      return Value::MakeList(std::move(out), a.is_tuple());
    }
    if ((a.is_list() || a.is_tuple()) && (b.is_list() || b.is_tuple())) {
      return absl::InvalidArgumentError(absl::StrCat("can only concatenate ", a.TypeName(), " (not \"",
                                                     b.TypeName(), "\") to ", a.TypeName()));
    }
    return TypeError("+", a, b);
  }
  if (op == "-") {
    if (ints) {
      if (__builtin_sub_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    }
    if (numbers) return Value::Float(a.AsDouble() - b.AsDouble());
    return TypeError("-", a, b);
  }
  if (op == "*") {
    if (ints) {
      if (__builtin_mul_overflow(x, y, &r)) return Overflow();
      return Value::Int(r);
    }
    if (numbers) return Value::Float(a.AsDouble() * b.AsDouble());
    if ((a.is_string() || a.is_sequence()) && IsIntLike(b)) return Repeat(a, y);
    if (IsIntLike(a) && (b.is_string() || b.is_sequence())) return Repeat(b, x);
    return TypeError("*", a, b);
  }
  if (op == "/") {
    if (!numbers) return TypeError("/", a, b);
    if (b.AsDouble() == 0) return absl::InvalidArgumentError("division by zero");
    return Value::Float(a.AsDouble() / b.AsDouble());
  }
  if (op == "//") {
    if (!numbers) return TypeError("//", a, b);
    if (b.AsDouble() == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
    if (ints) {
      if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow();
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
      return Value::Int(q);
    }
    return Value::Float(std::floor(a.AsDouble() / b.AsDouble()));
  }
  if (op == "%") {
    if (a.is_string()) return Format(a.string_value(), b);
    if (!numbers) return TypeError("%", a, b);
    if (b.AsDouble() == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
    if (ints) {
      if (y == -1) return Value::Int(0);
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value::Int(m);
    }
    double m = std::fmod(a.AsDouble(), b.AsDouble());
    if (m != 0 && ((m < 0) != (b.AsDouble() < 0))) m += b.AsDouble();
    if (m == 0) m = std::copysign(0.0, b.AsDouble());
    return Value::Float(m);
  }
  if (op == "**") {
    if (!numbers) return TypeError("** or pow()", a, b);
    if (ints && y >= 0) {
      int64_t result = 1, base = x;
      for (int64_t e = y; e > 0; e >>= 1) {
        if (e & 1) {
          if (__builtin_mul_overflow(result, base, &result)) return Overflow();
        }
        if (e > 1 && __builtin_mul_overflow(base, base, &base)) return Overflow();
      }
      return Value::Int(result);
    }
    if (a.AsDouble() == 0 && b.AsDouble() < 0) {
      return absl::InvalidArgumentError("0.0 cannot be raised to a negative power");
    }
    double p = std::pow(a.AsDouble(), b.AsDouble());
    if (std::isnan(p) && a.AsDouble() < 0) {
      return absl::InvalidArgumentError("a negative number cannot be raised to a fractional power here");
    }
    return Value::Float(p);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown operator ", op));
}

namespace {

// -1, 0, 1, or an error when Python would raise TypeError.
absl::StatusOr<int> Order(const std::string& op, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.int_value() < b.int_value() ? -1 : a.int_value() > b.int_value();
    double x = a.AsDouble(), y = b.AsDouble();
    if (std::isnan(x) || std::isnan(y)) return 2;  // every ordering is false
    return x < y ? -1 : x > y;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.string_value().compare(b.string_value());
    return c < 0 ? -1 : c > 0;
  }
  if ((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) {
    const auto &l = a.list(), &r = b.list();
    for (size_t i = 0; i < l.size() && i < r.size(); ++i) {
      if (l[i].Equals(r[i])) continue;
      auto o = Order(op, l[i], r[i]);
      return o;
    }
    return l.size() < r.size() ? -1 : l.size() > r.size();
  }
  return absl::InvalidArgumentError(absl::StrCat("'", op, "' not supported between instances of '",
                                                 a.TypeName(), "' and '", b.TypeName(), "'"));
}

}  // namespace

absl::StatusOr<bool> CompareOp(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (op == "==") return a.Equals(b);
  if (op == "!=") return !a.Equals(b);
  if (op == "in" || op == "not in") {
    bool found = false;
    if (b.is_string()) {
      if (!a.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat("'in <string>' requires string as left operand, not ", a.TypeName()));
      }
      found = b.string_value().find(a.string_value()) != std::string::npos;
    } else if (b.is_sequence()) {
      for (const auto& item : b.list()) {
        if (item.Equals(a)) {
          found = true;
          break;
        }
      }
    } else if (b.is_dict()) {
      if (a.is_list() || a.is_dict()) {
        return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", a.TypeName(), "'"));
      }
      found = b.Find(a) != nullptr;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("argument of type '", b.TypeName(), "' is not iterable"));
    }
    return op == "in" ? found : !found;
  }
  auto o = Order(op, a, b);
  if (!o.ok()) return o.status();
  if (*o == 2) return false;
  if (op == "<") return *o < 0;
  if (op == "<=") return *o <= 0;
  if (op == ">") return *o > 0;
  if (op == ">=") return *o >= 0;
  return absl::InvalidArgumentError(absl::StrCat("unknown comparison ", op));
}

}  // namespace plinth::chart
