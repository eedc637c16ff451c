#include "plinth/store/migrations.h"

namespace plinth::store {

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
      {1, "cloud resources, their revisions, and the audit log", R"sql(
CREATE TABLE cloud_resources (
  id           TEXT PRIMARY KEY,
  org          TEXT NOT NULL,
  env          TEXT NOT NULL,
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  api_version  TEXT NOT NULL,
  manifest     TEXT NOT NULL,          -- JSON: apiVersion, kind, metadata, spec
  labels       TEXT NOT NULL DEFAULT '{}',  -- JSON copy of metadata.labels, for selectors
  outputs      TEXT,                   -- JSON status.outputs, set by stack jobs
  version      INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,       -- microseconds since the epoch
  created_by   TEXT NOT NULL,
  updated_at   INTEGER NOT NULL,
  updated_by   TEXT NOT NULL,
  UNIQUE (org, env, kind, name)
);
CREATE INDEX cloud_resources_by_kind ON cloud_resources (kind, org, env, name);

-- Kept after the resource is deleted, so history stays readable by id.
CREATE TABLE cloud_resource_revisions (
  resource_id  TEXT NOT NULL,
  version      INTEGER NOT NULL,
  action       TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  org          TEXT NOT NULL,
  env          TEXT NOT NULL,
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  manifest     TEXT NOT NULL,
  actor        TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (resource_id, version)
);

CREATE TABLE audit_events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at     INTEGER NOT NULL,
  actor          TEXT NOT NULL,
  action         TEXT NOT NULL,        -- e.g. cloud_resource.create
  target_type    TEXT NOT NULL,
  target_id      TEXT NOT NULL,
  target_name    TEXT NOT NULL,
  before_version INTEGER,
  after_version  INTEGER
);
CREATE INDEX audit_events_by_target ON audit_events (target_type, target_id, id);
)sql"},
      {2, "infra charts", R"sql(
CREATE TABLE infra_charts (
  name         TEXT NOT NULL,
  version      TEXT NOT NULL,
  seq          INTEGER NOT NULL,          -- push order, for "newest"
  description  TEXT NOT NULL,
  files        TEXT NOT NULL,             -- JSON [{path, content}], sorted by path
  created_at   INTEGER NOT NULL,
  created_by   TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX infra_charts_by_seq ON infra_charts (seq);
)sql"},
      {3, "stack jobs, their events, deployed state and sealed sensitive outputs", R"sql(
ALTER TABLE cloud_resources ADD COLUMN deployed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cloud_resources ADD COLUMN sealed_outputs TEXT;  -- SecretBox-sealed JSON of sensitive outputs

CREATE TABLE stack_jobs (
  id                TEXT PRIMARY KEY,
  seq               INTEGER NOT NULL UNIQUE,   -- submission order (FIFO)
  resource_id       TEXT NOT NULL,
  org               TEXT NOT NULL,
  env               TEXT NOT NULL,
  kind              TEXT NOT NULL,
  name              TEXT NOT NULL,
  operation         TEXT NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'awaiting_approval', 'succeeded',
                                                   'failed', 'cancelled', 'interrupted')),
  options           TEXT NOT NULL DEFAULT '{}',
  engine            TEXT NOT NULL DEFAULT '',
  engine_version    TEXT NOT NULL DEFAULT '',
  module_source     TEXT NOT NULL DEFAULT '',
  module_revision   TEXT NOT NULL DEFAULT '',
  connection_id     TEXT NOT NULL DEFAULT '',
  connection_reason TEXT NOT NULL DEFAULT '',
  steps             TEXT NOT NULL DEFAULT '[]',
  summary           TEXT,
  resources         TEXT NOT NULL DEFAULT '[]',
  diagnostics       TEXT NOT NULL DEFAULT '[]',
  outputs           TEXT,
  error             TEXT NOT NULL DEFAULT '',
  pgid              INTEGER NOT NULL DEFAULT 0,   -- process group of the running step, for crash recovery
  cancel_requested  INTEGER NOT NULL DEFAULT 0,
  log_bytes         INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  created_by        TEXT NOT NULL,
  started_at        INTEGER,
  ended_at          INTEGER
);
CREATE INDEX stack_jobs_by_resource ON stack_jobs (resource_id, seq);
CREATE INDEX stack_jobs_by_state ON stack_jobs (state, seq);

-- Consecutive output lines of one stream and step share a row: the row's
-- seq is its first line's, and it covers seq .. seq + lines - 1 (text holds
-- the lines joined by newlines). Typed events and state changes are one row
-- each. Storing output in blocks is what lets a job capture >100 MB/s.
CREATE TABLE stack_job_events (
  job_id  TEXT NOT NULL REFERENCES stack_jobs (id) ON DELETE CASCADE,
  seq     INTEGER NOT NULL,
  lines   INTEGER NOT NULL DEFAULT 1,
  at      INTEGER NOT NULL,
  type    TEXT NOT NULL,          -- stdout, stderr, system, event, state
  step    TEXT NOT NULL DEFAULT '',
  text    TEXT NOT NULL,
  data    TEXT,                   -- JSON of a typed event
  PRIMARY KEY (job_id, seq)
);
)sql"},
      {4, "connections and their defaults", R"sql(
CREATE TABLE connections (
  id          TEXT PRIMARY KEY,
  org         TEXT NOT NULL,
  name        TEXT NOT NULL,
  provider    TEXT NOT NULL,
  fields      TEXT NOT NULL DEFAULT '{}',   -- JSON of non-secret fields
  secrets     TEXT NOT NULL DEFAULT '',     -- SecretBox-sealed JSON of secret fields
  secret_names TEXT NOT NULL DEFAULT '[]',
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  updated_by  TEXT NOT NULL,
  UNIQUE (org, name)
);
CREATE TABLE connection_defaults (
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,              -- '' for the org-wide default
  provider      TEXT NOT NULL,
  connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  PRIMARY KEY (org, env, provider)
);
)sql"},
  };
  return *migrations;
}

}  // namespace plinth::store
