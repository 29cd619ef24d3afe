-- A console token is bound to the user it was issued to (besides its server and expiry) and
-- is redeemed once by the console proxy. Tokens issued before this carry no user: they are
-- dropped (they lived ten minutes at most).
DELETE FROM console_tokens;
ALTER TABLE console_tokens ADD COLUMN user_id text NOT NULL DEFAULT '';
