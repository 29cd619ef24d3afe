-- slow on purpose: widens the window in which concurrent migrators would collide
SELECT pg_sleep(0.3);

CREATE TABLE items (
    id      bigserial PRIMARY KEY,
    name    text NOT NULL UNIQUE,
    size    integer NOT NULL CHECK (size >= 0),
    props   jsonb NOT NULL DEFAULT '{}'
);
