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
      {5, "infra projects, their revisions, infra pipelines, gates and flow control", R"sql(
-- The project that owns a resource (NULL: none), and the digest of the
-- manifest last deployed successfully (pipelines skip unchanged resources).
ALTER TABLE cloud_resources ADD COLUMN project_id TEXT;
ALTER TABLE cloud_resources ADD COLUMN deployed_digest TEXT NOT NULL DEFAULT '';
CREATE INDEX cloud_resources_by_project ON cloud_resources (project_id);

CREATE TABLE infra_projects (
  id            TEXT PRIMARY KEY,
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,
  name          TEXT NOT NULL,
  revision      INTEGER NOT NULL,
  chart_name    TEXT NOT NULL,
  chart_version TEXT NOT NULL,
  chart_source  TEXT NOT NULL,            -- stored or inline
  settings      TEXT NOT NULL DEFAULT '{}',
  version       INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  created_by    TEXT NOT NULL,
  updated_at    INTEGER NOT NULL,
  updated_by    TEXT NOT NULL,
  UNIQUE (org, env, name)
);
CREATE INDEX infra_projects_by_chart ON infra_projects (chart_name, chart_version);

-- Kept with the project; deleted with it.
CREATE TABLE infra_project_revisions (
  project_id    TEXT NOT NULL REFERENCES infra_projects (id) ON DELETE CASCADE,
  revision      INTEGER NOT NULL,
  chart_name    TEXT NOT NULL,
  chart_version TEXT NOT NULL,
  chart_files   TEXT NOT NULL,            -- JSON [{path, content}]: the chart as copied
  vals          TEXT NOT NULL,            -- JSON: the user's values
  manifests     TEXT NOT NULL,            -- JSON array, metadata.id filled in
  graph         TEXT NOT NULL,            -- JSON (graph::Graph::ToJson)
  diff          TEXT NOT NULL,
  rollback_of   INTEGER NOT NULL DEFAULT 0,
  actor         TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (project_id, revision)
);

CREATE TABLE infra_pipelines (
  id            TEXT PRIMARY KEY,
  seq           INTEGER NOT NULL,
  project_id    TEXT NOT NULL,
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,
  project_name  TEXT NOT NULL,
  revision      INTEGER NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('deploy', 'undeploy')),
  trigger       TEXT NOT NULL,
  state         TEXT NOT NULL,
  preview_only  INTEGER NOT NULL DEFAULT 0,
  purge_after   INTEGER NOT NULL DEFAULT 0,
  gate          TEXT NOT NULL DEFAULT '',
  max_parallel  INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  planned       INTEGER NOT NULL DEFAULT 0,  -- nodes computed (at start)
  notes         TEXT NOT NULL DEFAULT '[]',
  error         TEXT NOT NULL DEFAULT '',
  change        INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  created_by    TEXT NOT NULL,
  started_at    INTEGER,
  ended_at      INTEGER
);
CREATE UNIQUE INDEX infra_pipelines_by_seq ON infra_pipelines (seq);
CREATE INDEX infra_pipelines_by_project ON infra_pipelines (project_id, seq);
CREATE INDEX infra_pipelines_by_state ON infra_pipelines (state, seq);

CREATE TABLE infra_pipeline_nodes (
  pipeline_id   TEXT NOT NULL REFERENCES infra_pipelines (id) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,
  env           TEXT NOT NULL,
  kind          TEXT NOT NULL,
  name          TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  layer         INTEGER NOT NULL,
  operation     TEXT NOT NULL,
  upstream      TEXT NOT NULL DEFAULT '[]',
  state         TEXT NOT NULL,
  job_id        TEXT NOT NULL DEFAULT '',
  gate          TEXT NOT NULL DEFAULT '',
  awaiting      TEXT NOT NULL DEFAULT '',
  gate_approved INTEGER NOT NULL DEFAULT 0,
  summary       TEXT,
  attempts      INTEGER NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT '',
  started_at    INTEGER,
  ended_at      INTEGER,
  PRIMARY KEY (pipeline_id, idx)
);

CREATE TABLE infra_pipeline_decisions (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline_id   TEXT NOT NULL REFERENCES infra_pipelines (id) ON DELETE CASCADE,
  node          INTEGER NOT NULL,           -- -1: the pipeline's gate
  target        TEXT NOT NULL,
  stage         TEXT NOT NULL,              -- gate or plan
  approved      INTEGER NOT NULL,
  actor         TEXT NOT NULL,
  comment       TEXT NOT NULL,
  created_at    INTEGER NOT NULL
);
CREATE INDEX infra_pipeline_decisions_by_pipeline ON infra_pipeline_decisions (pipeline_id, id);

CREATE TABLE flow_control_policies (
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,              -- '' at org scope
  kind          TEXT NOT NULL,              -- '' at org and env scope
  name          TEXT NOT NULL,
  policy        TEXT NOT NULL,              -- JSON
  updated_at    INTEGER NOT NULL,
  updated_by    TEXT NOT NULL,
  PRIMARY KEY (org, env, kind, name)
);
)sql"},
      {6, "Git-based projects: their source, the commit of each revision and pipeline, webhook deliveries", R"sql(
-- {} for a chart project; for a Git project {url, branch, path, connection,
-- webhookSecret (SecretBox-sealed, base64), parentId, pullRequest}.
ALTER TABLE infra_projects ADD COLUMN git TEXT NOT NULL DEFAULT '{}';
ALTER TABLE infra_project_revisions ADD COLUMN commit_sha TEXT NOT NULL DEFAULT '';
ALTER TABLE infra_pipelines ADD COLUMN commit_sha TEXT NOT NULL DEFAULT '';
-- A pull request's plan of the project: the manifests it plans (JSON array),
-- instead of its revision's; '' for every other pipeline.
ALTER TABLE infra_pipelines ADD COLUMN manifests TEXT NOT NULL DEFAULT '';

-- One row per accepted webhook delivery (signature checked): the audit of
-- what came in and what it did, and what makes a repeated delivery id a no-op.
CREATE TABLE webhook_deliveries (
  provider      TEXT NOT NULL,              -- github or gitlab
  delivery_id   TEXT NOT NULL,
  event         TEXT NOT NULL,
  repo_url      TEXT NOT NULL,
  ref           TEXT NOT NULL,
  commit_sha    TEXT NOT NULL,
  result        TEXT NOT NULL,              -- what plinth did, in words
  pipelines     TEXT NOT NULL DEFAULT '[]', -- JSON: ids of the pipelines it started
  work          TEXT NOT NULL DEFAULT '',   -- JSON of what is still to be done; '' once done
  received_at   INTEGER NOT NULL,
  PRIMARY KEY (provider, delivery_id)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_at);
CREATE INDEX webhook_deliveries_unfinished ON webhook_deliveries (work) WHERE work != '';
)sql"},
      {7, "Planton resource names: the slug of every cloud resource's name", R"sql(
-- Names may now hold '.', '_' and spaces; engines and state keys use the slug
-- (plinth_slug, registered on every connection), and two names of one
-- org/env/kind with the same slug are refused.
ALTER TABLE cloud_resources ADD COLUMN slug TEXT NOT NULL DEFAULT '';
UPDATE cloud_resources SET slug = plinth_slug(name);
CREATE INDEX cloud_resources_by_slug ON cloud_resources (org, env, kind, slug);
)sql"},
      {8, "Facts about the data dir itself: which secret key sealed it", R"sql(
-- secret_key_id: SecretBox::KeyId() of the key the sealed values need;
-- plinthd refuses to start with another key, or with none.
CREATE TABLE plinth_meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql"},
      {9, "Runner pools, their tokens (hashes only) and bindings, and the runners that registered", R"sql(
CREATE TABLE runner_pools (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL
);
-- secret_hash: SHA-256 hex of the token's secret part; the secret itself is
-- shown once, when the token is created, and stored nowhere.
CREATE TABLE runner_pool_tokens (
  id          TEXT PRIMARY KEY,
  pool        TEXT NOT NULL REFERENCES runner_pools (name),
  description TEXT NOT NULL DEFAULT '',
  secret_hash TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL,
  revoked_at  INTEGER,
  revoked_by  TEXT
);
CREATE INDEX runner_pool_tokens_by_pool ON runner_pool_tokens (pool);
CREATE TABLE runner_pool_bindings (
  id             TEXT PRIMARY KEY,
  pool           TEXT NOT NULL REFERENCES runner_pools (name),
  org            TEXT NOT NULL,
  env            TEXT NOT NULL DEFAULT '',
  label_selector TEXT NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  created_by     TEXT NOT NULL,
  UNIQUE (org, env, label_selector)
);
CREATE TABLE runners (
  id             TEXT PRIMARY KEY,
  pool           TEXT NOT NULL,
  name           TEXT NOT NULL,
  version        TEXT NOT NULL DEFAULT '',
  max_jobs       INTEGER NOT NULL DEFAULT 0,
  engines        TEXT NOT NULL DEFAULT '[]',
  connections    TEXT NOT NULL DEFAULT '[]',
  address        TEXT NOT NULL DEFAULT '',
  token_id       TEXT NOT NULL DEFAULT '',
  connected_at   INTEGER,
  last_heartbeat INTEGER,
  UNIQUE (pool, name)
);
INSERT INTO runner_pools (name, description, created_at, created_by)
  VALUES ('local', 'the runner built into plinthd', 0, 'plinthd');
)sql"},
      {10, "runner-held connections, the runner a job is leased to, and engine state kept by plinthd", R"sql(
ALTER TABLE connections ADD COLUMN runner_held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stack_jobs ADD COLUMN runner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE stack_jobs ADD COLUMN runner_name TEXT NOT NULL DEFAULT '';
ALTER TABLE stack_jobs ADD COLUMN runner_pool TEXT NOT NULL DEFAULT '';
ALTER TABLE stack_jobs ADD COLUMN lease_generation INTEGER NOT NULL DEFAULT 0;
CREATE TABLE state_versions (
  resource_id TEXT NOT NULL,
  version     INTEGER NOT NULL,
  format      TEXT NOT NULL,
  serial      INTEGER NOT NULL DEFAULT 0,
  lineage     TEXT NOT NULL DEFAULT '',
  size_bytes  INTEGER NOT NULL,
  sha256      TEXT NOT NULL,
  sealed      BLOB NOT NULL,
  job_id      TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (resource_id, version)
);
CREATE TABLE state_locks (
  resource_id TEXT PRIMARY KEY,
  lock_id     TEXT NOT NULL,
  info        TEXT NOT NULL,
  job_id      TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL
);
)sql"},
      {11, "Cloud Ops audit, and grants of identities on scopes", R"sql(
CREATE TABLE cloud_ops_audit (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at  INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  mode        TEXT NOT NULL,        -- developer or admin
  target      TEXT NOT NULL,        -- ORG/ENV/KIND/NAME or the connection ORG/NAME
  connection  TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  operation   TEXT NOT NULL,        -- logs, exec, get, apply, delete ...
  object      TEXT NOT NULL,        -- what it touched (Kind/name, pods, the command's first word)
  runner      TEXT NOT NULL,
  code        TEXT NOT NULL,        -- OK or the error's code
  message     TEXT NOT NULL
);
CREATE INDEX cloud_ops_audit_by_time ON cloud_ops_audit (id);
CREATE TABLE grants (
  id          TEXT PRIMARY KEY,
  identity    TEXT NOT NULL,
  role        TEXT NOT NULL,        -- viewer, operator, admin, use
  scope       TEXT NOT NULL,        -- ORG, ORG/ENV, ORG/ENV/KIND/NAME, or connection ORG/NAME for use
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL,
  UNIQUE (identity, role, scope)
);
CREATE INDEX grants_by_identity ON grants (identity);
)sql"},
  };
  return *migrations;
}

const std::vector<Migration>& PostgresMigrations() {
  // PostgreSQL starts at SQLite's newest schema: migration 11 here creates
  // what SQLite's 1 to 11 built (INTEGER is BIGINT, AUTOINCREMENT an
  // identity column, webhook deliveries' implicit rowid a column). A new
  // migration is added to both lists with the same number.
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
      {11, "the schema of SQLite's migrations 1 to 11", R"sql(
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
  version      BIGINT NOT NULL,
  created_at   BIGINT NOT NULL,       -- microseconds since the epoch
  created_by   TEXT NOT NULL,
  updated_at   BIGINT NOT NULL,
  updated_by   TEXT NOT NULL, deployed BIGINT NOT NULL DEFAULT 0, sealed_outputs TEXT, project_id TEXT, deployed_digest TEXT NOT NULL DEFAULT '', slug TEXT NOT NULL DEFAULT '',
  UNIQUE (org, env, kind, name)
);
CREATE INDEX cloud_resources_by_kind ON cloud_resources (kind, org, env, name);
CREATE TABLE cloud_resource_revisions (
  resource_id  TEXT NOT NULL,
  version      BIGINT NOT NULL,
  action       TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  org          TEXT NOT NULL,
  env          TEXT NOT NULL,
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  manifest     TEXT NOT NULL,
  actor        TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (resource_id, version)
);
CREATE TABLE audit_events (
  id             BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  created_at     BIGINT NOT NULL,
  actor          TEXT NOT NULL,
  action         TEXT NOT NULL,        -- e.g. cloud_resource.create
  target_type    TEXT NOT NULL,
  target_id      TEXT NOT NULL,
  target_name    TEXT NOT NULL,
  before_version BIGINT,
  after_version  BIGINT
);
CREATE INDEX audit_events_by_target ON audit_events (target_type, target_id, id);
CREATE TABLE infra_charts (
  name         TEXT NOT NULL,
  version      TEXT NOT NULL,
  seq          BIGINT NOT NULL,          -- push order, for "newest"
  description  TEXT NOT NULL,
  files        TEXT NOT NULL,             -- JSON [{path, content}], sorted by path
  created_at   BIGINT NOT NULL,
  created_by   TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX infra_charts_by_seq ON infra_charts (seq);
CREATE TABLE stack_jobs (
  id                TEXT PRIMARY KEY,
  seq               BIGINT NOT NULL UNIQUE,   -- submission order (FIFO)
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
  pgid              BIGINT NOT NULL DEFAULT 0,   -- process group of the running step, for crash recovery
  cancel_requested  BIGINT NOT NULL DEFAULT 0,
  log_bytes         BIGINT NOT NULL DEFAULT 0,
  created_at        BIGINT NOT NULL,
  created_by        TEXT NOT NULL,
  started_at        BIGINT,
  ended_at          BIGINT
, runner_id TEXT NOT NULL DEFAULT '', runner_name TEXT NOT NULL DEFAULT '', runner_pool TEXT NOT NULL DEFAULT '', lease_generation BIGINT NOT NULL DEFAULT 0);
CREATE INDEX stack_jobs_by_resource ON stack_jobs (resource_id, seq);
CREATE INDEX stack_jobs_by_state ON stack_jobs (state, seq);
CREATE TABLE stack_job_events (
  job_id  TEXT NOT NULL REFERENCES stack_jobs (id) ON DELETE CASCADE,
  seq     BIGINT NOT NULL,
  lines   BIGINT NOT NULL DEFAULT 1,
  at      BIGINT NOT NULL,
  type    TEXT NOT NULL,          -- stdout, stderr, system, event, state
  step    TEXT NOT NULL DEFAULT '',
  text    TEXT NOT NULL,
  data    TEXT,                   -- JSON of a typed event
  PRIMARY KEY (job_id, seq)
);
CREATE TABLE connections (
  id          TEXT PRIMARY KEY,
  org         TEXT NOT NULL,
  name        TEXT NOT NULL,
  provider    TEXT NOT NULL,
  fields      TEXT NOT NULL DEFAULT '{}',   -- JSON of non-secret fields
  secrets     TEXT NOT NULL DEFAULT '',     -- SecretBox-sealed JSON of secret fields
  secret_names TEXT NOT NULL DEFAULT '[]',
  created_at  BIGINT NOT NULL,
  created_by  TEXT NOT NULL,
  updated_at  BIGINT NOT NULL,
  updated_by  TEXT NOT NULL, runner_held BIGINT NOT NULL DEFAULT 0,
  UNIQUE (org, name)
);
CREATE TABLE connection_defaults (
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,              -- '' for the org-wide default
  provider      TEXT NOT NULL,
  connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  PRIMARY KEY (org, env, provider)
);
CREATE INDEX cloud_resources_by_project ON cloud_resources (project_id);
CREATE TABLE infra_projects (
  id            TEXT PRIMARY KEY,
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,
  name          TEXT NOT NULL,
  revision      BIGINT NOT NULL,
  chart_name    TEXT NOT NULL,
  chart_version TEXT NOT NULL,
  chart_source  TEXT NOT NULL,            -- stored or inline
  settings      TEXT NOT NULL DEFAULT '{}',
  version       BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  created_by    TEXT NOT NULL,
  updated_at    BIGINT NOT NULL,
  updated_by    TEXT NOT NULL, git TEXT NOT NULL DEFAULT '{}',
  UNIQUE (org, env, name)
);
CREATE INDEX infra_projects_by_chart ON infra_projects (chart_name, chart_version);
CREATE TABLE infra_project_revisions (
  project_id    TEXT NOT NULL REFERENCES infra_projects (id) ON DELETE CASCADE,
  revision      BIGINT NOT NULL,
  chart_name    TEXT NOT NULL,
  chart_version TEXT NOT NULL,
  chart_files   TEXT NOT NULL,            -- JSON [{path, content}]: the chart as copied
  vals          TEXT NOT NULL,            -- JSON: the user's values
  manifests     TEXT NOT NULL,            -- JSON array, metadata.id filled in
  graph         TEXT NOT NULL,            -- JSON (graph::Graph::ToJson)
  diff          TEXT NOT NULL,
  rollback_of   BIGINT NOT NULL DEFAULT 0,
  actor         TEXT NOT NULL,
  created_at    BIGINT NOT NULL, commit_sha TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (project_id, revision)
);
CREATE TABLE infra_pipelines (
  id            TEXT PRIMARY KEY,
  seq           BIGINT NOT NULL,
  project_id    TEXT NOT NULL,
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,
  project_name  TEXT NOT NULL,
  revision      BIGINT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('deploy', 'undeploy')),
  trigger       TEXT NOT NULL,
  state         TEXT NOT NULL,
  preview_only  BIGINT NOT NULL DEFAULT 0,
  purge_after   BIGINT NOT NULL DEFAULT 0,
  gate          TEXT NOT NULL DEFAULT '',
  max_parallel  BIGINT NOT NULL DEFAULT 0,
  cancel_requested BIGINT NOT NULL DEFAULT 0,
  planned       BIGINT NOT NULL DEFAULT 0,  -- nodes computed (at start)
  notes         TEXT NOT NULL DEFAULT '[]',
  error         TEXT NOT NULL DEFAULT '',
  change        BIGINT NOT NULL DEFAULT 0,
  created_at    BIGINT NOT NULL,
  created_by    TEXT NOT NULL,
  started_at    BIGINT,
  ended_at      BIGINT
, commit_sha TEXT NOT NULL DEFAULT '', manifests TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX infra_pipelines_by_seq ON infra_pipelines (seq);
CREATE INDEX infra_pipelines_by_project ON infra_pipelines (project_id, seq);
CREATE INDEX infra_pipelines_by_state ON infra_pipelines (state, seq);
CREATE TABLE infra_pipeline_nodes (
  pipeline_id   TEXT NOT NULL REFERENCES infra_pipelines (id) ON DELETE CASCADE,
  idx           BIGINT NOT NULL,
  env           TEXT NOT NULL,
  kind          TEXT NOT NULL,
  name          TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  layer         BIGINT NOT NULL,
  operation     TEXT NOT NULL,
  upstream      TEXT NOT NULL DEFAULT '[]',
  state         TEXT NOT NULL,
  job_id        TEXT NOT NULL DEFAULT '',
  gate          TEXT NOT NULL DEFAULT '',
  awaiting      TEXT NOT NULL DEFAULT '',
  gate_approved BIGINT NOT NULL DEFAULT 0,
  summary       TEXT,
  attempts      BIGINT NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT '',
  started_at    BIGINT,
  ended_at      BIGINT,
  PRIMARY KEY (pipeline_id, idx)
);
CREATE TABLE infra_pipeline_decisions (
  id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  pipeline_id   TEXT NOT NULL REFERENCES infra_pipelines (id) ON DELETE CASCADE,
  node          BIGINT NOT NULL,           -- -1: the pipeline's gate
  target        TEXT NOT NULL,
  stage         TEXT NOT NULL,              -- gate or plan
  approved      BIGINT NOT NULL,
  actor         TEXT NOT NULL,
  comment       TEXT NOT NULL,
  created_at    BIGINT NOT NULL
);
CREATE INDEX infra_pipeline_decisions_by_pipeline ON infra_pipeline_decisions (pipeline_id, id);
CREATE TABLE flow_control_policies (
  org           TEXT NOT NULL,
  env           TEXT NOT NULL,              -- '' at org scope
  kind          TEXT NOT NULL,              -- '' at org and env scope
  name          TEXT NOT NULL,
  policy        TEXT NOT NULL,              -- JSON
  updated_at    BIGINT NOT NULL,
  updated_by    TEXT NOT NULL,
  PRIMARY KEY (org, env, kind, name)
);
CREATE TABLE webhook_deliveries (
  provider      TEXT NOT NULL,              -- github or gitlab
  delivery_id   TEXT NOT NULL,
  event         TEXT NOT NULL,
  repo_url      TEXT NOT NULL,
  ref           TEXT NOT NULL,
  commit_sha    TEXT NOT NULL,
  result        TEXT NOT NULL,              -- what plinth did, in words
  pipelines     TEXT NOT NULL DEFAULT '[]', -- JSON: ids of the pipelines it started
  work          TEXT NOT NULL DEFAULT '',   -- JSON of what is still to be done; '' once done
  received_at   BIGINT NOT NULL,
  rowid         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,  -- SQLite's implicit rowid: arrival order
  PRIMARY KEY (provider, delivery_id)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_at);
CREATE INDEX webhook_deliveries_unfinished ON webhook_deliveries (work) WHERE work != '';
CREATE INDEX cloud_resources_by_slug ON cloud_resources (org, env, kind, slug);
CREATE TABLE plinth_meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE runner_pools (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL,
  created_by  TEXT NOT NULL
);
CREATE TABLE runner_pool_tokens (
  id          TEXT PRIMARY KEY,
  pool        TEXT NOT NULL REFERENCES runner_pools (name),
  description TEXT NOT NULL DEFAULT '',
  secret_hash TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  created_by  TEXT NOT NULL,
  revoked_at  BIGINT,
  revoked_by  TEXT
);
CREATE INDEX runner_pool_tokens_by_pool ON runner_pool_tokens (pool);
CREATE TABLE runner_pool_bindings (
  id             TEXT PRIMARY KEY,
  pool           TEXT NOT NULL REFERENCES runner_pools (name),
  org            TEXT NOT NULL,
  env            TEXT NOT NULL DEFAULT '',
  label_selector TEXT NOT NULL DEFAULT '',
  created_at     BIGINT NOT NULL,
  created_by     TEXT NOT NULL,
  UNIQUE (org, env, label_selector)
);
CREATE TABLE runners (
  id             TEXT PRIMARY KEY,
  pool           TEXT NOT NULL,
  name           TEXT NOT NULL,
  version        TEXT NOT NULL DEFAULT '',
  max_jobs       BIGINT NOT NULL DEFAULT 0,
  engines        TEXT NOT NULL DEFAULT '[]',
  connections    TEXT NOT NULL DEFAULT '[]',
  address        TEXT NOT NULL DEFAULT '',
  token_id       TEXT NOT NULL DEFAULT '',
  connected_at   BIGINT,
  last_heartbeat BIGINT,
  UNIQUE (pool, name)
);
CREATE TABLE state_versions (
  resource_id TEXT NOT NULL,
  version     BIGINT NOT NULL,
  format      TEXT NOT NULL,
  serial      BIGINT NOT NULL DEFAULT 0,
  lineage     TEXT NOT NULL DEFAULT '',
  size_bytes  BIGINT NOT NULL,
  sha256      TEXT NOT NULL,
  sealed      TEXT NOT NULL,             -- base64, as SecretBox seals (BLOB in SQLite)
  job_id      TEXT NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (resource_id, version)
);
CREATE TABLE state_locks (
  resource_id TEXT PRIMARY KEY,
  lock_id     TEXT NOT NULL,
  info        TEXT NOT NULL,
  job_id      TEXT NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL
);
CREATE TABLE cloud_ops_audit (
  id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  created_at  BIGINT NOT NULL,
  actor       TEXT NOT NULL,
  mode        TEXT NOT NULL,        -- developer or admin
  target      TEXT NOT NULL,        -- ORG/ENV/KIND/NAME or the connection ORG/NAME
  connection  TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  operation   TEXT NOT NULL,        -- logs, exec, get, apply, delete ...
  object      TEXT NOT NULL,        -- what it touched (Kind/name, pods, the command's first word)
  runner      TEXT NOT NULL,
  code        TEXT NOT NULL,        -- OK or the error's code
  message     TEXT NOT NULL
);
CREATE INDEX cloud_ops_audit_by_time ON cloud_ops_audit (id);
CREATE TABLE grants (
  id          TEXT PRIMARY KEY,
  identity    TEXT NOT NULL,
  role        TEXT NOT NULL,        -- viewer, operator, admin, use
  scope       TEXT NOT NULL,        -- ORG, ORG/ENV, ORG/ENV/KIND/NAME, or connection ORG/NAME for use
  created_at  BIGINT NOT NULL,
  created_by  TEXT NOT NULL,
  UNIQUE (identity, role, scope)
);
CREATE INDEX grants_by_identity ON grants (identity);
-- SQLite's migration 9 made the built-in pool.
INSERT INTO runner_pools (name, description, created_at, created_by)
  VALUES ('local', 'the runner built into plinthd', 0, 'plinthd');
)sql"},
  };
  return *migrations;
}

}  // namespace plinth::store
