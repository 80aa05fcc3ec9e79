-- Remote access over RADIUS (issue 18): every login updates its factor (the try counted, then
-- the count back to zero) and its YubiKey (the OTP's counter), none of them an indexed
-- column. With full pages most of those updates found no room beside the row and wrote a
-- new version elsewhere, with an entry in each of the table's indexes (measured: 21% of the
-- key updates and 61% of the factor updates were heap-only). Room left in each page lets
-- PostgreSQL keep the new version on the row's page, without touching an index. New pages
-- keep it from now on; existing ones once rewritten (VACUUM FULL, CLUSTER).
ALTER TABLE authenticators SET (fillfactor = 70);
ALTER TABLE yubikeys SET (fillfactor = 50);
