#include "plinth/store/postgres.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plinth/core/logging.h"

namespace plinth::store {
namespace {

constexpr Oid kInt8Oid = 20;

// SQLSTATE classes and codes (PostgreSQL's appendix A).
absl::Status ErrorOf(const PGresult* res, PGconn* conn, absl::string_view what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = absl::StrCat("postgres: ", what, ": ",
                                     absl::StripTrailingAsciiWhitespace(res ? PQresultErrorMessage(res) : PQerrorMessage(conn)));
  std::string code = state ? state : "";
  if (code == "23505") return absl::AlreadyExistsError(message);
  if (code == "40001" || code == "40P01") return absl::AbortedError(message);  // serialization failure, deadlock
  if (code == "53100") return absl::ResourceExhaustedError(message);         // disk full
  if (code.empty() || absl::StartsWith(code, "08") || absl::StartsWith(code, "57P") || PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(message);  // the connection, or the server going away
  }
  return absl::InternalError(message);
}

class PgConnection;

// PostgreSQL's text holds valid UTF-8 without NUL bytes (and libpq sends
// parameters as C strings): a NUL or a byte that starts no valid sequence
// becomes U+FFFD, as a reader of the log would see it anyway. SQLite keeps
// such bytes as they are; engine output is the only place they come from.
std::string ValidText(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && c != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {
      // No overlong forms, no surrogates, nothing past U+10FFFF.
      uint32_t cp = len == 2 ? ((c & 0x1F) << 6) | (p[i + 1] & 0x3F)
                  : len == 3 ? ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F)
                             : ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
      ok = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ||
           (len == 4 && cp >= 0x10000 && cp <= 0x10FFFF);
    }
    if (ok) {
      out.append(in.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// A statement prepared on the server, once per connection.
struct Prepared {
  std::string name;
  uint64_t generation = 0;  // of the connection it was prepared on
};

class PgStatement final : public Statement {
 public:
  PgStatement(PgConnection* conn, std::string sql, int params) : conn_(conn), sql_(std::move(sql)), params_(params) {}
  ~PgStatement() override { Clear(); }

  void Bind(int index, absl::string_view text) override { Set(index, ValidText(text), 0); }
  void Bind(int index, int64_t value) override { Set(index, std::to_string(value), kInt8Oid); }
  void BindNull(int index) override { Set(index, std::nullopt, 0); }
  absl::StatusOr<bool> Step() override;
  std::string ColumnText(int index) const override {
    return std::string(PQgetvalue(result_, row_, index), PQgetlength(result_, row_, index));
  }
  int64_t ColumnInt64(int index) const override {
    const char* v = PQgetvalue(result_, row_, index);
    if (v[0] == 't' && v[1] == '\0') return 1;  // a boolean expression
    if (v[0] == 'f' && v[1] == '\0') return 0;
    return std::strtoll(v, nullptr, 10);
  }
  bool ColumnIsNull(int index) const override { return PQgetisnull(result_, row_, index) != 0; }
  void Reset() override {
    Clear();
    values_.clear();
    types_.clear();
  }

 private:
  void Set(int index, std::optional<std::string> value, Oid type) {
    if (index < 1) return;
    if (values_.size() < static_cast<size_t>(index)) {
      values_.resize(index);
      types_.resize(index, 0);
    }
    values_[index - 1] = std::move(value);
    types_[index - 1] = type;
  }
  void Clear() {
    if (result_ != nullptr) PQclear(result_);
    result_ = nullptr;
    row_ = -1;
  }

  PgConnection* conn_;
  std::string sql_;
  int params_;  // as many as the SQL has: unbound ones are NULL, as in SQLite
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
  PGresult* result_ = nullptr;
  int row_ = -1;
  Prepared prepared_;
};

class PgConnection final : public Connection {
 public:
  PgConnection(PGconn* conn, std::string url, bool read_only)
      : conn_(conn), url_(std::move(url)), read_only_(read_only) {}
  ~PgConnection() override {
    cache_.clear();
    PQfinish(conn_);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  Statement& Prepare(const std::string& sql) override {
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
      it->second->Reset();
      return *it->second;
    }
    int params = 0;
    std::string numbered = NumberPlaceholders(sql, &params);
    auto [inserted, _] = cache_.emplace(sql, std::make_unique<PgStatement>(this, std::move(numbered), params));
    return *inserted->second;
  }

  absl::Status Exec(const std::string& sql) override {
    const bool begin = absl::StartsWith(sql, "BEGIN");
    const bool end = sql == "COMMIT" || sql == "ROLLBACK";
    if (begin) in_tx_ = false;  // a new transaction may start on a new connection
    absl::Status usable = Usable();
    if (end) in_tx_ = false;
    if (!usable.ok()) return usable;
    PGresult* res = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    absl::Status out = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? absl::OkStatus() : ErrorOf(res, conn_, "exec");
    if (out.ok()) changes_ = std::atoi(PQcmdTuples(res));
    PQclear(res);
    if (begin && out.ok()) in_tx_ = true;
    return out;
  }

  void ResetAll() override {
    for (auto& [sql, st] : cache_) st->Reset();
  }
  int Changes() const override { return changes_; }

  // Runs one statement; `res` is set on success.
  absl::Status Run(const std::string& sql, const std::vector<std::optional<std::string>>& values,
                   const std::vector<Oid>& types, Prepared* prepared, PGresult** res) {
    if (absl::Status u = Usable(); !u.ok()) return u;
    std::vector<const char*> params;
    params.reserve(values.size());
    for (const auto& v : values) params.push_back(v ? v->c_str() : nullptr);
    std::vector<int> lengths;
    lengths.reserve(values.size());
    for (const auto& v : values) lengths.push_back(v ? static_cast<int>(v->size()) : 0);
    const int n = static_cast<int>(values.size());
    auto send = [&]() -> PGresult* {
      if (prepared->generation != generation_) {
        std::string name = absl::StrCat("p", ++prepared_count_);
        PGresult* p = PQprepare(conn_, name.c_str(), sql.c_str(), n, types.empty() ? nullptr : types.data());
        if (PQresultStatus(p) != PGRES_COMMAND_OK) return p;
        PQclear(p);
        prepared->name = name;
        prepared->generation = generation_;
      }
      return PQexecPrepared(conn_, prepared->name.c_str(), n, params.data(), lengths.data(), nullptr, 0);
    };
    PGresult* r = send();
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && read_only_ && !in_tx_ && PQstatus(conn_) != CONNECTION_OK) {
      // A reader's connection found broken (the server restarted since its
      // last use): a read outside a transaction changes nothing, so it is
      // sent again once on a new connection rather than failed.
      PQclear(r);
      if (absl::Status u = Usable(); !u.ok()) return u;
      r = send();
      st = PQresultStatus(r);
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      absl::Status s = ErrorOf(r, conn_, sql.substr(0, 80));
      PQclear(r);
      return s;
    }
    changes_ = std::atoi(PQcmdTuples(r));
    *res = r;
    return absl::OkStatus();
  }

  // The session's settings, on a new connection and after a reconnect.
  absl::Status Setup() {
    std::string sql = "SET TIME ZONE 'UTC'; SET client_min_messages = warning; SET synchronous_commit = on";
    if (read_only_) sql += "; SET default_transaction_read_only = on";
    PGresult* res = PQexec(conn_, sql.c_str());
    absl::Status s = PQresultStatus(res) == PGRES_COMMAND_OK ? absl::OkStatus() : ErrorOf(res, conn_, "session setup");
    PQclear(res);
    return s;
  }

 private:
  // Reconnects a connection that broke, but never inside a transaction:
  // what follows would run outside it (and commit piecemeal), so the
  // transaction fails instead, whole. Statements cached on the old
  // connection hold no server-side state (they are sent with their text).
  absl::Status Usable() {
    if (PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    if (in_tx_) {
      return absl::UnavailableError(
          absl::StrCat("postgres: the connection to ", RedactedUrl(url_), " broke inside a transaction"));
    }
    PQreset(conn_);
    ++generation_;  // statements prepared on the old session are gone
    if (PQstatus(conn_) != CONNECTION_OK) {
      return absl::UnavailableError(absl::StrCat("postgres: cannot reach ", RedactedUrl(url_), ": ",
                                                 absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn_))));
    }
    return Setup();
  }

  PGconn* conn_;
  std::string url_;
  bool read_only_;
  bool in_tx_ = false;  // between a BEGIN that worked and COMMIT or ROLLBACK
  uint64_t generation_ = 1;  // grows with every reconnect
  uint64_t prepared_count_ = 0;
  int changes_ = 0;
  std::map<std::string, std::unique_ptr<PgStatement>> cache_;
};

absl::StatusOr<bool> PgStatement::Step() {
  if (result_ == nullptr) {
    if (values_.size() < static_cast<size_t>(params_)) {
      values_.resize(params_);
      types_.resize(params_, 0);
    }
    PGresult* res = nullptr;
    absl::Status s = conn_->Run(sql_, values_, types_, &prepared_, &res);
    if (!s.ok()) return s;
    result_ = res;
    row_ = 0;
  } else {
    ++row_;
  }
  return row_ < PQntuples(result_);
}

}  // namespace

bool IsPostgresUrl(absl::string_view url) {
  return absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://");
}

std::string RedactedUrl(absl::string_view url) {
  // scheme://user:password@host -> scheme://user:***@host
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == absl::string_view::npos || at == absl::string_view::npos || at < scheme) return std::string(url);
  absl::string_view userinfo = url.substr(scheme + 3, at - scheme - 3);
  size_t colon = userinfo.find(':');
  if (colon == absl::string_view::npos) return std::string(url);
  return absl::StrCat(url.substr(0, scheme + 3), userinfo.substr(0, colon), ":***", url.substr(at));
}

absl::StatusOr<std::unique_ptr<Connection>> OpenPostgres(const std::string& url, bool read_only) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? std::string(absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn))) : "out of memory";
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", RedactedUrl(url), ": ", why));
  }
  auto c = std::make_unique<PgConnection>(conn, url, read_only);
  absl::Status s = c->Setup();
  if (!s.ok()) return s;
  return std::unique_ptr<Connection>(std::move(c));
}

std::string NumberPlaceholders(absl::string_view sql, int* count) {
  std::string out;
  out.reserve(sql.size() + 16);
  int highest = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char ch = sql[i];
    if (ch == '\'' || ch == '"') {
      // A quoted literal or identifier, with doubled quotes inside.
      size_t end = i + 1;
      while (end < sql.size()) {
        if (sql[end] == ch) {
          if (end + 1 < sql.size() && sql[end + 1] == ch) {
            end += 2;
            continue;
          }
          break;
        }
        ++end;
      }
      absl::StrAppend(&out, sql.substr(i, end - i + 1));
      i = end;
      continue;
    }
    if (ch == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      size_t end = sql.find('\n', i);
      if (end == absl::string_view::npos) end = sql.size();
      absl::StrAppend(&out, sql.substr(i, end - i));
      i = end - 1;
      continue;
    }
    if (ch != '?') {
      out += ch;
      continue;
    }
    size_t j = i + 1;
    while (j < sql.size() && absl::ascii_isdigit(sql[j])) ++j;
    int n = 0;
    if (j > i + 1 && absl::SimpleAtoi(sql.substr(i + 1, j - i - 1), &n)) {
      highest = std::max(highest, n);
    } else {
      n = ++highest;
    }
    absl::StrAppend(&out, "$", n);
    i = j - 1;
  }
  if (count != nullptr) *count = highest;
  return out;
}

}  // namespace plinth::store
