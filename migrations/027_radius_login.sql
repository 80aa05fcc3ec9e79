-- Remote access over RADIUS (issue 18): a gateway's login finds the account by its username
-- alone, whatever directory holds it; the unique index is (directory, username), which a
-- look-up by username cannot use, so every login would read the whole table.
CREATE INDEX accounts_username ON accounts (username);
