ALTER TABLE deliveries DROP COLUMN run_from;
