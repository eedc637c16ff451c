// The template parser: tokens to a syntax tree, following Jinja2's grammar
// and operator precedence.
#ifndef PLINTH_CHART_PARSER_H_
#define PLINTH_CHART_PARSER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ast.h"
#include "lexer.h"

namespace plinth::chart {

// INVALID_ARGUMENT "<name>:<line>:<col>: <what was expected>".
absl::StatusOr<Body> Parse(const std::vector<Token>& tokens, const std::string& name);

}  // namespace plinth::chart

#endif  // PLINTH_CHART_PARSER_H_
