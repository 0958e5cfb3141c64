import type { Migration } from './migration.js';

/**
 * The key modes `existing` and `claim` (issue 6): a job's key-mode options, claim identities, and which
 * device carries which claim, so that a leaked claim can be revoked and every device holding it found.
 */
export const claimsAndKeyOptions: Migration = {
  version: 3,
  name: 'claims and key-mode options',
  sql: `
-- JSON (src/api/jobs.ts JobKeyOptions): e.g. for existing certificates, whether one without a registered
-- CA is accepted and whether the device must prove possession of its key.
ALTER TABLE jobs ADD COLUMN key_options TEXT NOT NULL DEFAULT '{}';

-- Claim identities (aws-iot-spec.md 3): a certificate (key_origin 'claim') every device of a claim job
-- receives. The key stays in the key store (purpose 'claim'): only its label and id are here.
CREATE TABLE claims (
  certificate_id TEXT PRIMARY KEY REFERENCES certificates(id),
  name           TEXT NOT NULL UNIQUE,
  key_label      TEXT NOT NULL,
  key_id         TEXT NOT NULL,
  created_at     TEXT NOT NULL
);

-- Devices carrying a claim. The row is written in the transaction before the claim goes to the device,
-- so a device whose write failed half-way is listed too: after a leak, every device that may hold the
-- claim is found. record_id is the latest attempt that wrote it.
CREATE TABLE claim_carriers (
  certificate_id TEXT NOT NULL REFERENCES claims(certificate_id),
  driver         TEXT NOT NULL,
  device_id      TEXT NOT NULL,
  job_id         INTEGER NOT NULL REFERENCES jobs(id),
  record_id      INTEGER NOT NULL REFERENCES provisioning_records(id),
  recorded_at    TEXT NOT NULL,
  PRIMARY KEY (certificate_id, driver, device_id)
) WITHOUT ROWID;
CREATE INDEX claim_carriers_by_device ON claim_carriers(driver, device_id);
`,
};
