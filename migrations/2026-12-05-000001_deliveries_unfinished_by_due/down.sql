DROP INDEX IF EXISTS deliveries_unfinished_by_due_idx;
