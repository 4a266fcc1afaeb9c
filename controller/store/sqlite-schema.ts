/**
 * The SQLite schema as numbered migrations: the database's `user_version` says how many have run.
 * Migrations are append-only; a shipped one is never edited.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    groups TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;

  CREATE TABLE requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN
      ('pending', 'approved', 'dispatched', 'completed', 'failed', 'denied', 'expired')),
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    environment TEXT NOT NULL,
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    ticket TEXT,
    approvals_required INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    jti TEXT UNIQUE,
    kid TEXT,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    denied_by TEXT,
    denial_reason TEXT
  ) STRICT;
  CREATE INDEX requests_by_status ON requests (status, expires_at);

  CREATE TABLE approvals (
    request_id TEXT NOT NULL REFERENCES requests (id),
    subject TEXT NOT NULL,
    at INTEGER NOT NULL,
    note TEXT,
    PRIMARY KEY (request_id, subject)
  ) STRICT;
  CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
  CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;

  -- The audit trail. UNIQUE prev_hash keeps the chain linear even if two writers race.
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL,
    reason TEXT,
    ticket TEXT,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
  ) STRICT;
  CREATE INDEX audit_by_request ON audit (request_id);
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
  `,
  // 2: artifacts (issue 5). A request records how its result leaves the agent and, once stored, its
  // artifact. Artifact rows are never deleted: retention deletes the bytes and stamps deleted_at, so
  // the chain of custody outlives the object.
  `
  ALTER TABLE requests ADD COLUMN output_mode TEXT NOT NULL DEFAULT 'inline'
    CHECK (output_mode IN ('inline', 'stream', 's3'));
  ALTER TABLE requests ADD COLUMN artifact_id TEXT;

  CREATE TABLE artifacts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    subject TEXT NOT NULL,
    environment TEXT NOT NULL,
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    digest_source TEXT NOT NULL CHECK (digest_source IN ('controller', 'agent-reported')),
    store TEXT NOT NULL,
    location TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
  ) STRICT;
  CREATE INDEX artifacts_by_age ON artifacts (environment, created_at) WHERE deleted_at IS NULL;
  CREATE TRIGGER artifacts_no_delete BEFORE DELETE ON artifacts
    BEGIN SELECT RAISE(ABORT, 'artifact records are kept; retention stamps deleted_at'); END;
  `,
  // 3: governance (issue 6). Break-glass requests and their reviews. A review is closed once, never
  // deleted; closing sets closed_at/closed_by/note together.
  `
  ALTER TABLE requests ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1));
  CREATE INDEX requests_break_glass ON requests (subject, created_at) WHERE break_glass = 1;

  CREATE TABLE reviews (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    environment TEXT NOT NULL,
    reason TEXT NOT NULL,
    ticket TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER,
    closed_by TEXT,
    note TEXT,
    overdue_at INTEGER,
    CHECK ((closed_at IS NULL) = (closed_by IS NULL) AND (closed_at IS NULL) = (note IS NULL))
  ) STRICT;
  CREATE INDEX reviews_open ON reviews (opened_at) WHERE closed_at IS NULL;
  CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
    BEGIN SELECT RAISE(ABORT, 'reviews are kept'); END;
  `,
  // 4: signed audit checkpoints (issue 7). Each says "record seq has this hash", signed with the
  // controller's audit key; they are never changed or deleted.
  `
  CREATE TABLE audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    time TEXT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL
  ) STRICT;
  CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
  CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
  `,
  // fleet (issue 8): enrollment tokens, enrolled agents, collections (one approval for many
  // targets; each target's request is linked in collection_requests) and trigger cooldowns.
  `
  CREATE TABLE enroll_tokens (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;

  CREATE TABLE enrolled_agents (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    url TEXT NOT NULL,
    labels TEXT NOT NULL,
    actions TEXT NOT NULL,
    enroll_token_id TEXT NOT NULL REFERENCES enroll_tokens (id),
    session_hash TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE collections (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN
      ('pending', 'approved', 'running', 'completed', 'stopped', 'denied', 'expired')),
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    selector TEXT NOT NULL,
    environment TEXT NOT NULL,
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    ticket TEXT,
    output_mode TEXT NOT NULL CHECK (output_mode IN ('inline', 'stream')),
    targets TEXT NOT NULL,
    targets_digest TEXT NOT NULL,
    max_concurrency INTEGER NOT NULL,
    max_errors TEXT,
    error_budget INTEGER NOT NULL,
    approvals_required INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    trigger TEXT,
    summary TEXT,
    denied_by TEXT,
    denial_reason TEXT
  ) STRICT;
  CREATE INDEX collections_by_status ON collections (status, expires_at);

  CREATE TABLE collection_approvals (
    collection_id TEXT NOT NULL REFERENCES collections (id),
    subject TEXT NOT NULL,
    at INTEGER NOT NULL,
    note TEXT,
    PRIMARY KEY (collection_id, subject)
  ) STRICT;
  CREATE TRIGGER collection_approvals_no_update BEFORE UPDATE ON collection_approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
  CREATE TRIGGER collection_approvals_no_delete BEFORE DELETE ON collection_approvals
    BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;

  CREATE TABLE collection_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id TEXT NOT NULL REFERENCES collections (id),
    target TEXT NOT NULL,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    UNIQUE (collection_id, target)
  ) STRICT;

  CREATE TABLE trigger_firings (
    key TEXT PRIMARY KEY,
    fired_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 5: entitlement at every step (issue 16, finding F1). A request and a collection keep the groups
  // and the credential their requester filed them with (JSON), so approval and dispatch apply the
  // filing rule again to the policy and credentials in force then.
  `
  ALTER TABLE requests ADD COLUMN requester TEXT;
  ALTER TABLE collections ADD COLUMN requester TEXT;
  `,
  // 6: only legal state transitions (issue 23, finding 5). A request or collection moves along its
  // state machine only, never back; what was filed (who, what, where, params, reason) never changes;
  // the approvals it needs are raised, never lowered; and pending -> approved needs the approval rows.
  // Whoever can write the tables can still forge a legal move: the dispatcher checks the approvals on
  // the audit chain before it signs (controller/requests/chain-approvals.ts).
  `
  -- A collection's approval records are looked up by event before its targets are signed.
  CREATE INDEX audit_by_event ON audit (event);

  CREATE TRIGGER requests_legal_update BEFORE UPDATE ON requests
  WHEN NEW.id IS NOT OLD.id OR NEW.subject IS NOT OLD.subject OR NEW.action IS NOT OLD.action
    OR NEW.target IS NOT OLD.target OR NEW.environment IS NOT OLD.environment
    OR NEW.params IS NOT OLD.params OR NEW.reason IS NOT OLD.reason OR NEW.ticket IS NOT OLD.ticket
    OR NEW.output_mode IS NOT OLD.output_mode OR NEW.break_glass IS NOT OLD.break_glass
    OR NEW.created_at IS NOT OLD.created_at OR NEW.requester IS NOT OLD.requester
    OR NEW.approvals_required < OLD.approvals_required
    OR (OLD.jti IS NOT NULL AND NEW.jti IS NOT OLD.jti)
    OR NOT (NEW.status = OLD.status AND OLD.status IN ('pending', 'approved')
      OR OLD.status = 'pending' AND NEW.status IN ('approved', 'denied', 'expired', 'failed')
      OR OLD.status = 'approved' AND NEW.status IN ('dispatched', 'failed')
      OR OLD.status = 'dispatched' AND NEW.status IN ('completed', 'failed'))
    OR (OLD.status = 'pending' AND NEW.status = 'approved'
      AND (SELECT COUNT(*) FROM approvals WHERE request_id = NEW.id) < NEW.approvals_required)
  BEGIN SELECT RAISE(ABORT, 'requests move only along their state machine (issue 23, finding 5)'); END;

  CREATE TRIGGER collections_legal_update BEFORE UPDATE ON collections
  WHEN NEW.id IS NOT OLD.id OR NEW.subject IS NOT OLD.subject OR NEW.action IS NOT OLD.action
    OR NEW.selector IS NOT OLD.selector OR NEW.environment IS NOT OLD.environment
    OR NEW.params IS NOT OLD.params OR NEW.reason IS NOT OLD.reason OR NEW.ticket IS NOT OLD.ticket
    OR NEW.output_mode IS NOT OLD.output_mode OR NEW.targets IS NOT OLD.targets
    OR NEW.targets_digest IS NOT OLD.targets_digest OR NEW.created_at IS NOT OLD.created_at
    OR NEW.requester IS NOT OLD.requester OR NEW.approvals_required < OLD.approvals_required
    OR NOT (NEW.status = OLD.status AND OLD.status IN ('pending', 'approved', 'running')
      OR OLD.status = 'pending' AND NEW.status IN ('approved', 'denied', 'expired')
      OR OLD.status = 'approved' AND NEW.status IN ('running', 'denied')
      OR OLD.status = 'running' AND NEW.status IN ('completed', 'stopped'))
    OR (OLD.status = 'pending' AND NEW.status = 'approved'
      AND (SELECT COUNT(*) FROM collection_approvals WHERE collection_id = NEW.id) < NEW.approvals_required)
  BEGIN SELECT RAISE(ABORT, 'collections move only along their state machine (issue 23, finding 5)'); END;
  `,
  // 7: agent identity and signed answers (issue 21). An enrolled agent's pinned public key and an
  // operator's allowance to rotate it; the agent's signature kept with an inline result and with an
  // artifact (with the key it verified with), so the result can be checked later, offline.
  `
  ALTER TABLE enrolled_agents ADD COLUMN public_key TEXT;
  ALTER TABLE enrolled_agents ADD COLUMN key_rotation TEXT;
  ALTER TABLE requests ADD COLUMN answer_signature TEXT;
  ALTER TABLE artifacts ADD COLUMN agent_signature TEXT;
  ALTER TABLE artifacts ADD COLUMN agent_key TEXT;
  `,
];
