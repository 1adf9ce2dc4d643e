-- The registrar's identity of a binding and the time it was last registered, so a restarted node serves the same
-- bindings under the same ids and orders contacts of equal q by the same registration times.

ALTER TABLE registrations
    ADD COLUMN binding_id bigint,
    ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();

-- Rows written before this migration have no id: give each one unique within its AOR. The registrar draws new ids
-- at random over 64 bits, so these small numbers are as good as any.
UPDATE registrations r SET binding_id = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY aor ORDER BY id) AS n FROM registrations) AS numbered
WHERE r.id = numbered.id;
-- The rows kept the time of their last write.
UPDATE registrations SET registered_at = updated_at;

ALTER TABLE registrations ALTER COLUMN binding_id SET NOT NULL;

-- The registrar finds a binding by (AOR, id).
CREATE UNIQUE INDEX registrations_aor_binding_id_key ON registrations (aor, binding_id);

COMMENT ON COLUMN registrations.binding_id IS
    'The registrar''s id of the binding, unique within the AOR: its 64 bits as a signed bigint.';
COMMENT ON COLUMN registrations.registered_at IS 'When the binding was last created or refreshed by a REGISTER.';
