import type { Migration } from './migration.js';

/**
 * The whole registry of design.md section 4, including tables that later modules fill.
 * Conventions: names are AWS names where AWS has the concept (things, certificates, policies,
 * templates); timestamps are ISO 8601 UTC text; JSON columns hold canonical JSON text; enums
 * that mirror AWS are upper case (certificate status), the station's own are lower case.
 * Private keys, PINs and passphrases never appear in any column (design.md 4, 11).
 */
export const initialSchema: Migration = {
  version: 1,
  name: 'initial schema',
  sql: `
-- Thing types (aws-iot-spec.md 1, 5): a thing has at most one; a deprecated type takes no new things.
CREATE TABLE thing_types (
  name                  TEXT PRIMARY KEY,
  description           TEXT,
  searchable_attributes TEXT NOT NULL DEFAULT '[]', -- JSON array of attribute names (at most 3)
  deprecated_at         TEXT,                        -- NULL while the type is usable
  created_at            TEXT NOT NULL
);

-- Things, keyed by their unique name as in AWS IoT. version increments on every update (UpdateThing).
CREATE TABLE things (
  name            TEXT PRIMARY KEY,
  thing_type_name TEXT REFERENCES thing_types(name),
  version         INTEGER NOT NULL DEFAULT 1,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

-- A thing's attributes, one row each, so that equality search on (name, value) is an index lookup.
CREATE TABLE thing_attributes (
  thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (thing_name, name)
) WITHOUT ROWID;

-- Static thing groups: a tree of depth at most 7 (aws-iot-spec.md 5). root_name is the top of the
-- group's hierarchy (itself for a top-level group) so "one group per hierarchy" is a lookup.
CREATE TABLE thing_groups (
  name        TEXT PRIMARY KEY,
  parent_name TEXT REFERENCES thing_groups(name),
  root_name   TEXT NOT NULL,
  depth       INTEGER NOT NULL CHECK (depth BETWEEN 1 AND 7),
  description TEXT,
  created_at  TEXT NOT NULL
);
CREATE INDEX thing_groups_by_parent ON thing_groups(parent_name);

-- Direct membership of things in groups (at most 10 groups per thing, enforced by the module).
CREATE TABLE thing_group_members (
  group_name TEXT NOT NULL REFERENCES thing_groups(name),
  thing_name TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,
  added_at   TEXT NOT NULL,
  PRIMARY KEY (group_name, thing_name)
) WITHOUT ROWID;
CREATE INDEX thing_group_members_by_thing ON thing_group_members(thing_name);

-- CA certificates that sign device certificates. id is the SHA-256 of the DER, lower-case hex.
-- The signing key stays in the key store: only its label/id are here. external = 1 when the CA was
-- imported without a key we control (we only verify against it).
CREATE TABLE ca_certificates (
  id          TEXT PRIMARY KEY CHECK (length(id) = 64),
  name        TEXT NOT NULL UNIQUE,
  pem         TEXT NOT NULL,
  subject     TEXT NOT NULL,
  serial_hex  TEXT NOT NULL,
  not_before  TEXT NOT NULL,
  not_after   TEXT NOT NULL,
  key_label   TEXT,
  key_id      TEXT,
  status      TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
  external    INTEGER NOT NULL DEFAULT 0 CHECK (external IN (0, 1)),
  created_at  TEXT NOT NULL
);

-- Templates (aws-iot-spec.md 1): name 1-36 [0-9A-Za-z_-]; bodies are versioned.
CREATE TABLE templates (
  name            TEXT PRIMARY KEY,
  description     TEXT,
  template_type   TEXT NOT NULL DEFAULT 'FLEET_PROVISIONING' CHECK (template_type IN ('FLEET_PROVISIONING', 'JITP')),
  default_version INTEGER NOT NULL DEFAULT 1, -- a row of template_versions
  enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE TABLE template_versions (
  template_name TEXT NOT NULL REFERENCES templates(name) ON DELETE CASCADE,
  version       INTEGER NOT NULL CHECK (version >= 1),
  body          TEXT NOT NULL, -- the template JSON as the user gave it
  created_at    TEXT NOT NULL,
  PRIMARY KEY (template_name, version)
) WITHOUT ROWID;

-- Work orders: which template (name + version), where the per-device parameters come from, which
-- driver and CA, how keys are made, and how many certificates may be issued at most. The CHECK
-- makes the quota a database invariant: issuing past it fails the transaction. next_sequence and
-- next_list_row hand out sequence numbers and list rows atomically (a crash never reuses one).
CREATE TABLE jobs (
  id                   INTEGER PRIMARY KEY AUTOINCREMENT,
  label                TEXT NOT NULL,
  template_name        TEXT NOT NULL,
  template_version     INTEGER NOT NULL,
  parameter_source     TEXT NOT NULL DEFAULT '{}', -- JSON ParameterSource (src/api/jobs.ts)
  driver               TEXT NOT NULL,              -- device family driver id (hardware/drivers) or auto
  ca_id                TEXT REFERENCES ca_certificates(id),
  key_mode             TEXT NOT NULL CHECK (key_mode IN ('csr', 'inject', 'existing', 'claim')),
  quota                INTEGER CHECK (quota IS NULL OR quota >= 0), -- NULL: no limit
  issued_count         INTEGER NOT NULL DEFAULT 0 CHECK (quota IS NULL OR issued_count <= quota),
  validity_days        INTEGER NOT NULL DEFAULT 3650 CHECK (validity_days > 0),
  next_sequence        INTEGER,                    -- NULL when the job has no sequence parameter
  next_list_row        INTEGER NOT NULL DEFAULT 0, -- index of the next list row handed out in order
  claim_certificate_id TEXT REFERENCES certificates(id), -- claim jobs: the certificate every device gets
  status               TEXT NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'active', 'paused', 'completed', 'cancelled')),
  created_by           TEXT NOT NULL,
  created_at           TEXT NOT NULL,
  started_at           TEXT,
  finished_at          TEXT,
  FOREIGN KEY (template_name, template_version) REFERENCES template_versions(template_name, version)
);
CREATE INDEX jobs_by_status ON jobs(status);

-- Device certificates. id is the SHA-256 of the DER, lower-case hex (what AWS shows as certificateId).
-- key_origin: device = key generated on the device (CSR), hsm-injected = generated in the key store
-- and written to the device, external = certificate registered from outside, claim = fleet claim cert.
CREATE TABLE certificates (
  id                TEXT PRIMARY KEY CHECK (length(id) = 64),
  ca_id             TEXT REFERENCES ca_certificates(id),
  pem               TEXT NOT NULL,
  subject           TEXT NOT NULL,
  serial_hex        TEXT NOT NULL,
  not_before        TEXT NOT NULL,
  not_after         TEXT NOT NULL,
  status            TEXT NOT NULL
                      CHECK (status IN ('ACTIVE', 'INACTIVE', 'REVOKED', 'PENDING_ACTIVATION')),
  key_origin        TEXT NOT NULL CHECK (key_origin IN ('device', 'hsm-injected', 'external', 'claim')),
  revoked_at        TEXT,
  revocation_reason TEXT,
  job_id            INTEGER REFERENCES jobs(id),
  created_at        TEXT NOT NULL
);
CREATE INDEX certificates_by_ca_serial ON certificates(ca_id, serial_hex);
CREATE INDEX certificates_by_job ON certificates(job_id);
CREATE INDEX certificates_by_status ON certificates(status);

-- IoT policies (aws-iot-spec.md 4, 5): versioned documents, one default version.
CREATE TABLE policies (
  name            TEXT PRIMARY KEY,
  default_version INTEGER NOT NULL DEFAULT 1, -- a row of policy_versions
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE TABLE policy_versions (
  policy_name TEXT NOT NULL REFERENCES policies(name) ON DELETE CASCADE,
  version     INTEGER NOT NULL CHECK (version >= 1),
  document    TEXT NOT NULL, -- the policy JSON text as given
  created_at  TEXT NOT NULL,
  PRIMARY KEY (policy_name, version)
) WITHOUT ROWID;

-- AttachPolicy: policy <-> certificate.
CREATE TABLE policy_certificates (
  policy_name    TEXT NOT NULL REFERENCES policies(name),
  certificate_id TEXT NOT NULL REFERENCES certificates(id),
  attached_at    TEXT NOT NULL,
  PRIMARY KEY (policy_name, certificate_id)
) WITHOUT ROWID;
CREATE INDEX policy_certificates_by_certificate ON policy_certificates(certificate_id);

-- AttachThingPrincipal: thing <-> certificate. No cascade: a thing with certificates attached
-- cannot be deleted (detach first), as in AWS IoT.
CREATE TABLE thing_principals (
  thing_name     TEXT NOT NULL REFERENCES things(name),
  certificate_id TEXT NOT NULL REFERENCES certificates(id),
  principal_type TEXT NOT NULL DEFAULT 'NON_EXCLUSIVE_THING'
                   CHECK (principal_type IN ('EXCLUSIVE_THING', 'NON_EXCLUSIVE_THING')),
  attached_at    TEXT NOT NULL,
  PRIMARY KEY (thing_name, certificate_id)
) WITHOUT ROWID;
CREATE INDEX thing_principals_by_certificate ON thing_principals(certificate_id);

-- Physical devices: the identity a driver reads (driver + device_id, e.g. nrf91 + IMEI) is unique
-- and maps to at most one thing; a thing belongs to at most one device.
CREATE TABLE devices (
  driver        TEXT NOT NULL,
  device_id     TEXT NOT NULL,
  thing_name    TEXT REFERENCES things(name) ON DELETE SET NULL,
  first_seen_at TEXT NOT NULL,
  last_seen_at  TEXT NOT NULL,
  PRIMARY KEY (driver, device_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX devices_by_thing ON devices(thing_name) WHERE thing_name IS NOT NULL;

-- Operators who log in (design.md 11); the role decides what the Station lets them do.
CREATE TABLE operators (
  name        TEXT PRIMARY KEY,
  role        TEXT NOT NULL CHECK (role IN ('technician', 'quality', 'admin')),
  created_at  TEXT NOT NULL,
  disabled_at TEXT
);

-- One row per device attempt. thing_name and certificate_id are history, not references: the record
-- outlives a deleted thing. resolved_parameters and resources (JSON, keyed by the template's logical
-- names) let the upload replay what was created (aws-iot-spec.md 9). States (design.md 8):
-- IN_PROGRESS until the registry transaction, ISSUED once the identity exists in the registry,
-- PROVISIONED when written and verified; FAILED names its step; ABANDONED when recovery found an
-- attempt that never reached the registry. resumes_record_id links an attempt to the one it finishes.
CREATE TABLE provisioning_records (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id              INTEGER NOT NULL REFERENCES jobs(id),
  port                TEXT NOT NULL,
  driver              TEXT,
  device_id           TEXT,
  thing_name          TEXT,
  certificate_id      TEXT,
  operator_name       TEXT,
  state               TEXT NOT NULL DEFAULT 'IN_PROGRESS'
                        CHECK (state IN ('IN_PROGRESS', 'ISSUED', 'PROVISIONED', 'FAILED', 'ABANDONED')),
  step_reached        TEXT,
  error_code          TEXT,
  error_message       TEXT,
  resolved_parameters TEXT, -- JSON
  resources           TEXT, -- JSON
  resumes_record_id   INTEGER REFERENCES provisioning_records(id),
  started_at          TEXT NOT NULL,
  finished_at         TEXT
);
CREATE INDEX provisioning_records_by_job ON provisioning_records(job_id, state);
CREATE INDEX provisioning_records_by_device ON provisioning_records(driver, device_id);
CREATE INDEX provisioning_records_by_thing ON provisioning_records(thing_name);

-- Every pipeline step of a record, in order, with its outcome and timing.
CREATE TABLE record_steps (
  record_id   INTEGER NOT NULL REFERENCES provisioning_records(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  step        TEXT NOT NULL,
  outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'skipped')),
  started_at  TEXT NOT NULL,
  duration_ms REAL NOT NULL,
  detail      TEXT, -- JSON or text; never secrets
  PRIMARY KEY (record_id, seq)
) WITHOUT ROWID;

-- Append-only audit log (src/registry/audit.ts): each row's hash covers its content and the previous
-- row's hash. The triggers stop ordinary writes; verify() catches anyone who drops them.
CREATE TABLE audit_log (
  seq       INTEGER PRIMARY KEY,
  at        TEXT NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  subject   TEXT NOT NULL,
  details   TEXT NOT NULL, -- canonical JSON
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
CREATE INDEX audit_log_by_subject ON audit_log(subject, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Pending uploads (design.md 9), written in the same transaction as the change they carry.
-- UNIQUE (kind, subject): replaying a change never queues it twice.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT NOT NULL,   -- e.g. thing, certificate, policy-attachment
  subject         TEXT NOT NULL,   -- the thing name, certificate id, ...
  payload         TEXT NOT NULL,   -- JSON
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT,
  next_attempt_at TEXT,
  created_at      TEXT NOT NULL,
  sent_at         TEXT,
  UNIQUE (kind, subject)
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE sent_at IS NULL;
`,
};
