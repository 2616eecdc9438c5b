-- CONTRACT §15: a subscription delivers to an HTTP endpoint (destination NULL, target_url
-- set) or to another destination (destination set, target_url NULL). The destination holds
-- its connection settings, credentials included; reads mask them.
ALTER TABLE subscriptions ADD COLUMN destination jsonb;
ALTER TABLE subscriptions ALTER COLUMN target_url DROP NOT NULL;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_one_destination
    CHECK ((destination IS NULL) = (target_url IS NOT NULL));
