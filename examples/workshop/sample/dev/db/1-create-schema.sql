-- Runs once, when the database starts with an empty data directory.
CREATE TABLE items (
  id         SERIAL PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO items (name) VALUES ('Learn how containers work'), ('Run the integration tests');
