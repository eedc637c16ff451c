#include "plinth/store/copy_store.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "plinth/core/secret_box.h"
#include "plinth/core/status_macros.h"

namespace plinth::store {
namespace {

struct Column {
  std::string name;
  bool integer = false;
  bool identity_always = false;  // PostgreSQL GENERATED ALWAYS
  bool identity = false;
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::set<std::string> refers_to;  // foreign keys
};

absl::Status Each(Statement& st, const std::function<void()>& row) {
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool more, st.Step());
    if (!more) return absl::OkStatus();
    row();
  }
}

// The store's tables (but the migrations' own), their columns and what they refer to.
absl::StatusOr<std::vector<Table>> TablesOf(Database& db) {
  std::vector<Table> out;
  PLINTH_RETURN_IF_ERROR(db.ReadSnapshot([&](Connection& c) -> absl::Status {
    const bool pg = c.dialect() == Dialect::kPostgres;
    std::vector<std::string> names;
    Statement& tables = c.Prepare(
        pg ? "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
             "AND table_type = 'BASE TABLE' AND table_name != 'schema_migrations' ORDER BY table_name"
           : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
             "AND name != 'schema_migrations' ORDER BY name");
    PLINTH_RETURN_IF_ERROR(Each(tables, [&] { names.push_back(tables.ColumnText(0)); }));
    for (const std::string& name : names) {
      Table t;
      t.name = name;
      Statement& cols = c.Prepare(
          pg ? "SELECT column_name, data_type, is_identity, COALESCE(identity_generation, '') "
               "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? "
               "ORDER BY ordinal_position"
             : "SELECT name, type, 'NO', '' FROM pragma_table_info(?) ORDER BY cid");
      cols.Bind(1, name);
      PLINTH_RETURN_IF_ERROR(Each(cols, [&] {
        Column col;
        col.name = cols.ColumnText(0);
        std::string type = cols.ColumnText(1);
        col.integer = type == "bigint" || type == "integer" || type == "INTEGER" || type == "BIGINT";
        col.identity = cols.ColumnText(2) == "YES";
        col.identity_always = cols.ColumnText(3) == "ALWAYS";
        t.columns.push_back(col);
      }));
      Statement& fks = c.Prepare(
          pg ? "SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints tc "
               "JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name "
               "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = ?"
             : "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)");
      fks.Bind(1, name);
      PLINTH_RETURN_IF_ERROR(Each(fks, [&] {
        if (fks.ColumnText(0) != name) t.refers_to.insert(fks.ColumnText(0));
      }));
      out.push_back(std::move(t));
    }
    return absl::OkStatus();
  }));
  // A table after the tables it refers to.
  std::vector<Table> ordered;
  std::set<std::string> placed;
  while (ordered.size() < out.size()) {
    bool progress = false;
    for (const Table& t : out) {
      if (placed.count(t.name)) continue;
      if (std::all_of(t.refers_to.begin(), t.refers_to.end(), [&](const std::string& r) { return placed.count(r) > 0; })) {
        ordered.push_back(t);
        placed.insert(t.name);
        progress = true;
      }
    }
    if (!progress) return absl::InternalError("the store's foreign keys form a cycle");
  }
  return ordered;
}

// What the checksum covers: every column but the surrogate rowid, by name.
std::vector<std::string> ChecksumColumns(const Table& t) {
  std::vector<std::string> names;
  for (const Column& c : t.columns) {
    if (c.name != "rowid") names.push_back(c.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t RowHash(const Statement& st, size_t n) {
  std::string canonical;
  for (size_t i = 0; i < n; ++i) {
    if (st.ColumnIsNull(static_cast<int>(i))) {
      canonical += "N;";
    } else {
      std::string v = st.ColumnText(static_cast<int>(i));
      absl::StrAppend(&canonical, v.size(), ":", v, ";");
    }
  }
  uint64_t h = 0;
  (void)absl::SimpleHexAtoi(core::Sha256Hex(canonical).substr(0, 16), &h);
  return h;
}

absl::StatusOr<CopyReport::Table> Summarize(Connection& c, const Table& t) {
  std::vector<std::string> cols = ChecksumColumns(t);
  CopyReport::Table out;
  out.name = t.name;
  Statement& st = c.Prepare(absl::StrCat("SELECT ", absl::StrJoin(cols, ", "), " FROM ", t.name));
  uint64_t sum = 0;
  PLINTH_RETURN_IF_ERROR(Each(st, [&] {
    sum += RowHash(st, cols.size());
    ++out.rows;
  }));
  out.checksum = absl::StrFormat("%016x", sum);
  return out;
}

constexpr int kChunk = 1000;

}  // namespace

absl::StatusOr<CopyReport> SummarizeStore(Database& db) {
  PLINTH_ASSIGN_OR_RETURN(std::vector<Table> tables, TablesOf(db));
  CopyReport report;
  PLINTH_RETURN_IF_ERROR(db.ReadSnapshot([&](Connection& c) -> absl::Status {
    for (const Table& t : tables) {
      PLINTH_ASSIGN_OR_RETURN(CopyReport::Table s, Summarize(c, t));
      report.tables.push_back(s);
    }
    return absl::OkStatus();
  }));
  return report;
}

absl::StatusOr<CopyReport> CopyStore(Database& from, Database& to) {
  if (from.SchemaVersion() != to.SchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat("the source is at schema version ", from.SchemaVersion(),
                                                      " and the target at ", to.SchemaVersion(),
                                                      ": start both with this plinthd once first"));
  }
  PLINTH_ASSIGN_OR_RETURN(std::vector<Table> source, TablesOf(from));
  PLINTH_ASSIGN_OR_RETURN(std::vector<Table> target, TablesOf(to));
  std::map<std::string, const Table*> target_by_name;
  for (const Table& t : target) target_by_name[t.name] = &t;
  for (const Table& t : source) {
    if (!target_by_name.count(t.name)) {
      return absl::FailedPreconditionError(absl::StrCat("table ", t.name, ": not in the target store"));
    }
  }
  // The target must be empty but for the built-in runner pool.
  PLINTH_RETURN_IF_ERROR(to.ReadSnapshot([&](Connection& c) -> absl::Status {
    for (const Table& t : target) {
      Statement& st = c.Prepare(absl::StrCat("SELECT COUNT(*) FROM ", t.name,
                                             t.name == "runner_pools" ? " WHERE name != 'local'" : ""));
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (row && st.ColumnInt64(0) > 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the target store is not empty (table ", t.name, " has ", st.ColumnInt64(0),
            " rows): migrate into a new, empty database"));
      }
    }
    return absl::OkStatus();
  }));

  const bool source_sqlite = from.dialect() == Dialect::kSqlite;
  PLINTH_RETURN_IF_ERROR(to.Write([&](Connection& out) -> absl::Status {
    const bool pg = out.dialect() == Dialect::kPostgres;
    // The built-in pool comes from the source like everything else.
    for (auto t = target.rbegin(); t != target.rend(); ++t) {
      Statement& clear = out.Prepare(absl::StrCat("DELETE FROM ", t->name));
      PLINTH_RETURN_IF_ERROR(clear.Run());
    }
    for (const Table& st : source) {
      const Table& tt = *target_by_name.at(st.name);
      std::set<std::string> in_source;
      for (const Column& c : st.columns) in_source.insert(c.name);
      // The target's columns, read from the source (SQLite's implicit
      // rowid where the target has it as a column).
      std::vector<const Column*> cols;
      std::vector<std::string> select;
      bool overriding = false;
      for (const Column& c : tt.columns) {
        if (in_source.count(c.name)) {
          select.push_back(c.name);
        } else if (c.name == "rowid" && source_sqlite) {
          select.push_back("rowid");
        } else {
          continue;  // filled by its default
        }
        cols.push_back(&c);
        overriding |= c.identity_always;
      }
      std::vector<std::string> names, marks;
      for (const Column* c : cols) {
        names.push_back(c->name);
        marks.push_back("?");
      }
      Statement& insert = out.Prepare(absl::StrCat("INSERT INTO ", tt.name, " (", absl::StrJoin(names, ", "), ") ",
                                                   overriding && pg ? "OVERRIDING SYSTEM VALUE " : "", "VALUES (",
                                                   absl::StrJoin(marks, ", "), ")"));
      // Chunks of the source, by its rowid (SQLite) or all at once.
      int64_t after = -1;
      for (;;) {
        int copied = 0;
        PLINTH_RETURN_IF_ERROR(from.ReadSnapshot([&](Connection& in) -> absl::Status {
          Statement& read = in.Prepare(
              source_sqlite ? absl::StrCat("SELECT ", absl::StrJoin(select, ", "), ", rowid FROM ", st.name,
                                           " WHERE rowid > ? ORDER BY rowid LIMIT ", kChunk)
                            : absl::StrCat("SELECT ", absl::StrJoin(select, ", "), " FROM ", st.name));
          if (source_sqlite) read.Bind(1, after);
          for (;;) {
            PLINTH_ASSIGN_OR_RETURN(bool row, read.Step());
            if (!row) break;
            insert.Reset();
            for (size_t i = 0; i < cols.size(); ++i) {
              int idx = static_cast<int>(i);
              if (read.ColumnIsNull(idx)) {
                insert.BindNull(idx + 1);
              } else if (cols[i]->integer) {
                insert.Bind(idx + 1, read.ColumnInt64(idx));
              } else {
                insert.Bind(idx + 1, read.ColumnText(idx));
              }
            }
            PLINTH_RETURN_IF_ERROR(insert.Run());
            if (source_sqlite) after = read.ColumnInt64(static_cast<int>(cols.size()));
            ++copied;
          }
          return absl::OkStatus();
        }));
        if (!source_sqlite || copied < kChunk) break;
      }
      // Identity columns go on after the copied values.
      for (const Column* c : cols) {
        if (!c->identity || !pg) continue;
        Statement& seq = out.Prepare(absl::StrCat(
            "SELECT setval(pg_get_serial_sequence('", tt.name, "', '", c->name, "'), GREATEST(COALESCE(MAX(",
            c->name, "), 0), 1), COALESCE(MAX(", c->name, "), 0) > 0) FROM ", tt.name));
        PLINTH_RETURN_IF_ERROR(seq.Run());
      }
    }
    return absl::OkStatus();
  }));

  // Both sides, table by table.
  PLINTH_ASSIGN_OR_RETURN(CopyReport a, SummarizeStore(from));
  PLINTH_ASSIGN_OR_RETURN(CopyReport b, SummarizeStore(to));
  std::map<std::string, CopyReport::Table> copied;
  for (const auto& t : b.tables) copied[t.name] = t;
  CopyReport report;
  for (const Table& t : target) {
    auto src = std::find_if(a.tables.begin(), a.tables.end(), [&](const auto& x) { return x.name == t.name; });
    const CopyReport::Table& dst = copied[t.name];
    if (src != a.tables.end() && (src->rows != dst.rows || src->checksum != dst.checksum)) {
      return absl::DataLossError(absl::StrCat("table ", t.name, ": ", src->rows, " rows (checksum ", src->checksum,
                                              ") in the source, ", dst.rows, " (", dst.checksum,
                                              ") in the target after the copy"));
    }
    report.tables.push_back(dst);
  }
  return report;
}

}  // namespace plinth::store
