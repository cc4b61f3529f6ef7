-- Failed authentications per client address or login and per one-minute window, for
-- rate limiting. Old windows are pruned by the cron trigger.
CREATE TABLE auth_failures (
  key    TEXT NOT NULL,
  slot   INTEGER NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (key, slot)
);
