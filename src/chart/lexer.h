// The template lexer: splits Jinja2 source into data and tag tokens, with
// Jinja2's whitespace control ({%- -%} {{- -}} {#- -#}), newline
// normalisation, keep_trailing_newline=False and {% raw %} blocks.
#ifndef PLINTH_CHART_LEXER_H_
#define PLINTH_CHART_LEXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plinth::chart {

enum class Tok { kData, kBlockBegin, kBlockEnd, kVarBegin, kVarEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  std::string text;  // data, name, operator or the decoded string
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;  // 1-based
  int col = 1;   // 1-based
};

// INVALID_ARGUMENT "<name>:<line>:<col>: ..." for unclosed tags, bad
// characters or unterminated strings.
absl::StatusOr<std::vector<Token>> Lex(absl::string_view source, const std::string& name);

}  // namespace plinth::chart

#endif  // PLINTH_CHART_LEXER_H_
