/**
 * The PostgreSQL schema as numbered migrations, the same tables as the SQLite schema (see
 * sqlite-schema.ts) with PostgreSQL types. `keyhole_migrations` records the ones that ran. Migrations
 * are append-only; a shipped one is never edited. A migration that changes the SQLite schema gets its
 * PostgreSQL twin here, so both stores keep one behaviour.
 *
 * Times are epoch milliseconds (BIGINT); JSON is kept as TEXT exactly as written, never JSONB, so a
 * stored value reads back byte for byte (JSONB reorders keys and rewrites numbers) and an audit
 * record's `details` stay the canonical JSON its hash was computed over.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    groups TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
  );

  CREATE TABLE requests (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    jti TEXT UNIQUE,
    kid TEXT,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    denied_by TEXT,
    denial_reason TEXT
  );
  CREATE INDEX requests_by_status ON requests (status, expires_at);

  CREATE TABLE approvals (
    request_id TEXT NOT NULL REFERENCES requests (id),
    subject TEXT NOT NULL,
    at BIGINT NOT NULL,
    note TEXT,
    PRIMARY KEY (request_id, subject)
  );

  CREATE FUNCTION keyhole_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
  END;
  $$;
  CREATE TRIGGER approvals_no_change BEFORE UPDATE OR DELETE ON approvals
    FOR EACH ROW EXECUTE FUNCTION keyhole_append_only('approvals are append-only');
  CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION keyhole_append_only('approvals are append-only');

  -- The audit trail. UNIQUE prev_hash keeps the chain linear even if the append lock were bypassed.
  CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL,
    reason TEXT,
    ticket TEXT,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
  );
  CREATE INDEX audit_by_request ON audit (request_id);
  CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION keyhole_append_only('audit records are append-only');
  CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION keyhole_append_only('audit records are append-only');

  -- One row, locked FOR UPDATE by every append: controllers sharing the database take turns at the
  -- chain's tail, so the chain stays one line. Never updated, so locking it writes nothing else.
  CREATE TABLE audit_append_lock (id INTEGER PRIMARY KEY CHECK (id = 1));
  INSERT INTO audit_append_lock (id) VALUES (1);
  `,
  // 2: artifacts (issue 5), as SQLite migration 2.
  `
  ALTER TABLE requests ADD COLUMN output_mode TEXT NOT NULL DEFAULT 'inline'
    CHECK (output_mode IN ('inline', 'stream', 's3'));
  ALTER TABLE requests ADD COLUMN artifact_id TEXT;

  CREATE TABLE artifacts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    subject TEXT NOT NULL,
    environment TEXT NOT NULL,
    agent TEXT NOT NULL,
    action TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    digest_source TEXT NOT NULL CHECK (digest_source IN ('controller', 'agent-reported')),
    store TEXT NOT NULL,
    location TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
  );
  CREATE INDEX artifacts_by_age ON artifacts (environment, created_at) WHERE deleted_at IS NULL;
  CREATE TRIGGER artifacts_no_delete BEFORE DELETE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION keyhole_append_only('artifact records are kept; retention stamps deleted_at');
  `,
  // 3: governance (issue 6), as SQLite migration 3: break-glass requests and their reviews.
  `
  ALTER TABLE requests ADD COLUMN break_glass BOOLEAN NOT NULL DEFAULT false;
  CREATE INDEX requests_break_glass ON requests (subject, created_at) WHERE break_glass;

  CREATE TABLE reviews (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    environment TEXT NOT NULL,
    reason TEXT NOT NULL,
    ticket TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT,
    closed_by TEXT,
    note TEXT,
    overdue_at BIGINT,
    CHECK ((closed_at IS NULL) = (closed_by IS NULL) AND (closed_at IS NULL) = (note IS NULL))
  );
  CREATE INDEX reviews_open ON reviews (opened_at) WHERE closed_at IS NULL;
  CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION keyhole_append_only('reviews are kept');
  `,
  // 4: signed audit checkpoints (issue 7), as SQLite migration 4.
  `
  CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    time TEXT NOT NULL,
    kid TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION keyhole_append_only('audit checkpoints are append-only');
  CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION keyhole_append_only('audit checkpoints are append-only');
  `,
  // fleet (issue 8), as the SQLite fleet migration: enrollment, collections, trigger cooldowns.
  `
  CREATE TABLE enroll_tokens (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
  );

  CREATE TABLE enrolled_agents (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    url TEXT NOT NULL,
    labels TEXT NOT NULL,
    actions TEXT NOT NULL,
    enroll_token_id TEXT NOT NULL REFERENCES enroll_tokens (id),
    session_hash TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
  );

  CREATE TABLE collections (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    trigger TEXT,
    summary TEXT,
    denied_by TEXT,
    denial_reason TEXT
  );
  CREATE INDEX collections_by_status ON collections (status, expires_at);

  CREATE TABLE collection_approvals (
    collection_id TEXT NOT NULL REFERENCES collections (id),
    subject TEXT NOT NULL,
    at BIGINT NOT NULL,
    note TEXT,
    PRIMARY KEY (collection_id, subject)
  );
  CREATE TRIGGER collection_approvals_no_change BEFORE UPDATE OR DELETE ON collection_approvals
    FOR EACH ROW EXECUTE FUNCTION keyhole_append_only('approvals are append-only');

  CREATE TABLE collection_requests (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections (id),
    target TEXT NOT NULL,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    UNIQUE (collection_id, target)
  );

  CREATE TABLE trigger_firings (
    key TEXT PRIMARY KEY,
    fired_at BIGINT NOT NULL
  );
  `,
  // 6: request-rate counters shared by every replica (PostgreSQL only: SQLite runs one controller).
  // Not audited and not append-only: one row per (route, subject), rewritten as windows roll.
  `
  CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL
  );
  `,
  // 7: entitlement at every step (issue 16, finding F1), as SQLite migration 5.
  `
  ALTER TABLE requests ADD COLUMN requester TEXT;
  ALTER TABLE collections ADD COLUMN requester TEXT;
  `,
  // 8: only legal state transitions (issue 23, finding 5), as SQLite migration 6. The runtime role
  // owns neither the tables nor this function, so it cannot disable or drop the triggers
  // (docs/operations.md: two roles).
  `
  -- A collection's approval records are looked up by event before its targets are signed.
  CREATE INDEX audit_by_event ON audit (event);

  CREATE FUNCTION keyhole_legal_request_update() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.subject IS DISTINCT FROM OLD.subject
      OR NEW.action IS DISTINCT FROM OLD.action OR NEW.target IS DISTINCT FROM OLD.target
      OR NEW.environment IS DISTINCT FROM OLD.environment OR NEW.params IS DISTINCT FROM OLD.params
      OR NEW.reason IS DISTINCT FROM OLD.reason OR NEW.ticket IS DISTINCT FROM OLD.ticket
      OR NEW.output_mode IS DISTINCT FROM OLD.output_mode OR NEW.break_glass IS DISTINCT FROM OLD.break_glass
      OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.requester IS DISTINCT FROM OLD.requester
      OR NEW.approvals_required < OLD.approvals_required
      OR (OLD.jti IS NOT NULL AND NEW.jti IS DISTINCT FROM OLD.jti)
      OR NOT (NEW.status = OLD.status AND OLD.status IN ('pending', 'approved')
        OR OLD.status = 'pending' AND NEW.status IN ('approved', 'denied', 'expired', 'failed')
        OR OLD.status = 'approved' AND NEW.status IN ('dispatched', 'failed')
        OR OLD.status = 'dispatched' AND NEW.status IN ('completed', 'failed'))
      OR (OLD.status = 'pending' AND NEW.status = 'approved'
        AND (SELECT COUNT(*) FROM approvals WHERE request_id = NEW.id) < NEW.approvals_required)
    THEN
      RAISE EXCEPTION 'requests move only along their state machine (issue 23, finding 5)';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER requests_legal_update BEFORE UPDATE ON requests
    FOR EACH ROW EXECUTE FUNCTION keyhole_legal_request_update();

  CREATE FUNCTION keyhole_legal_collection_update() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.subject IS DISTINCT FROM OLD.subject
      OR NEW.action IS DISTINCT FROM OLD.action OR NEW.selector IS DISTINCT FROM OLD.selector
      OR NEW.environment IS DISTINCT FROM OLD.environment OR NEW.params IS DISTINCT FROM OLD.params
      OR NEW.reason IS DISTINCT FROM OLD.reason OR NEW.ticket IS DISTINCT FROM OLD.ticket
      OR NEW.output_mode IS DISTINCT FROM OLD.output_mode OR NEW.targets IS DISTINCT FROM OLD.targets
      OR NEW.targets_digest IS DISTINCT FROM OLD.targets_digest
      OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.requester IS DISTINCT FROM OLD.requester
      OR NEW.approvals_required < OLD.approvals_required
      OR NOT (NEW.status = OLD.status AND OLD.status IN ('pending', 'approved', 'running')
        OR OLD.status = 'pending' AND NEW.status IN ('approved', 'denied', 'expired')
        OR OLD.status = 'approved' AND NEW.status IN ('running', 'denied')
        OR OLD.status = 'running' AND NEW.status IN ('completed', 'stopped'))
      OR (OLD.status = 'pending' AND NEW.status = 'approved'
        AND (SELECT COUNT(*) FROM collection_approvals WHERE collection_id = NEW.id) < NEW.approvals_required)
    THEN
      RAISE EXCEPTION 'collections move only along their state machine (issue 23, finding 5)';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER collections_legal_update BEFORE UPDATE ON collections
    FOR EACH ROW EXECUTE FUNCTION keyhole_legal_collection_update();
  `,
  // 9: the trigger functions run with their own search_path, the schema they were created in and
  // then pg_temp (issue 23 attack, N5: the runtime role created a temporary "approvals" table, which
  // an unpinned path searches first, and the count the request trigger read was its rows). Set here
  // rather than in each query, so a later function inherits the habit from this list.
  `
  DO $$
  DECLARE
    fn TEXT;
  BEGIN
    FOREACH fn IN ARRAY ARRAY['keyhole_legal_request_update()', 'keyhole_legal_collection_update()',
      'keyhole_append_only()']
    LOOP
      EXECUTE format('ALTER FUNCTION %I.%s SET search_path = %I, pg_temp', current_schema(), fn,
        current_schema());
    END LOOP;
  END $$;
  `,
  // 10: agent identity and signed answers (issue 21), as SQLite migration 7.
  `
  ALTER TABLE enrolled_agents ADD COLUMN public_key TEXT;
  ALTER TABLE enrolled_agents ADD COLUMN key_rotation TEXT;
  ALTER TABLE requests ADD COLUMN answer_signature TEXT;
  ALTER TABLE artifacts ADD COLUMN agent_signature TEXT;
  ALTER TABLE artifacts ADD COLUMN agent_key TEXT;
  `,
];
