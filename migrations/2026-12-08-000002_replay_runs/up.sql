-- A replay starts a new run of a delivery's retry schedule: `run_from` is the number of
-- attempts made before the current run began (0 for the first run), so the schedule's
-- delays count from there while attempt numbers continue.
ALTER TABLE deliveries ADD COLUMN run_from integer NOT NULL DEFAULT 0;
