DROP TABLE source_rejections;
DROP TABLE sources;
ALTER TABLE webhooks DROP COLUMN envelope;
