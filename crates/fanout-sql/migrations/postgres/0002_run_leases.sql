-- fanout session store, schema 2: run leases (durable runs).
--
-- The process running a run holds its lease and renews it; a run whose newest state is
-- 'running' and whose lease has expired (or that has none) was left by a process that is gone:
-- it is interrupted, and may be resumed. The one table whose rows are rewritten: a lease
-- coordinates processes, it is not part of a run's record. No foreign key: a run is claimed
-- before its row is stored, so it is never seen running without a lease. `expires_at` is in
-- nanoseconds since the Unix epoch, by the database's clock.
CREATE TABLE fanout_run_leases (
    run_id     TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
