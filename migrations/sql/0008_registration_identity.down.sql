DROP INDEX registrations_aor_binding_id_key;
ALTER TABLE registrations DROP COLUMN registered_at, DROP COLUMN binding_id;
