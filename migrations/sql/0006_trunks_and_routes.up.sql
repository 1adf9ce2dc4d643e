-- Trunks (PSTN gateways and provider SIP trunks), outbound routes (least-cost routing by prefix) and emergency
-- numbers (always routed, never an alias).

CREATE TABLE trunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CONSTRAINT trunks_name_not_empty CHECK (name <> ''),
    kind text NOT NULL CONSTRAINT trunks_kind_known CHECK (kind IN ('gateway', 'provider')),
    host text NOT NULL CONSTRAINT trunks_host_shape CHECK (host ~ '^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$'),
    port integer CONSTRAINT trunks_port_range CHECK (port BETWEEN 1 AND 65535),
    transport text CONSTRAINT trunks_transport_known CHECK (transport IN ('udp', 'tcp', 'tls')),
    auth_username text CONSTRAINT trunks_auth_username_not_empty CHECK (auth_username <> ''),
    auth_realm text CONSTRAINT trunks_auth_realm_not_empty CHECK (auth_realm <> ''),
    auth_ha1_md5 text CONSTRAINT trunks_auth_ha1_md5_hex CHECK (auth_ha1_md5 ~ '^[0-9a-f]{32}$'),
    auth_ha1_sha256 text CONSTRAINT trunks_auth_ha1_sha256_hex CHECK (auth_ha1_sha256 ~ '^[0-9a-f]{64}$'),
    auth_password_sealed bytea CONSTRAINT trunks_auth_password_sealed_envelope CHECK (
        auth_password_sealed IS NULL
        OR CASE WHEN octet_length(auth_password_sealed) >= 29 THEN get_byte(auth_password_sealed, 0) = 1 ELSE false END
    ),
    enabled boolean NOT NULL DEFAULT true,
    -- Either no credentials, or a username with something to answer a challenge with; an HA1 is bound to a realm.
    CONSTRAINT trunks_credentials_complete CHECK (
        (auth_username IS NULL AND auth_realm IS NULL AND auth_ha1_md5 IS NULL AND auth_ha1_sha256 IS NULL
            AND auth_password_sealed IS NULL)
        OR (auth_username IS NOT NULL AND (auth_password_sealed IS NOT NULL
            OR (auth_realm IS NOT NULL AND (auth_ha1_md5 IS NOT NULL OR auth_ha1_sha256 IS NOT NULL))))
    )
);

CREATE UNIQUE INDEX trunks_name_key ON trunks (lower(name));

COMMENT ON TABLE trunks IS
    'A next hop for calls leaving Carillon: a PSTN gateway on the campus network or a provider''s SIP trunk.';
COMMENT ON COLUMN trunks.name IS 'Name for administrators and call records, unique ignoring case.';
COMMENT ON COLUMN trunks.kind IS
    'gateway: a PSTN gateway that trusts the proxy by address; provider: an internet telephony provider''s trunk, '
    'which usually challenges with digest authentication.';
COMMENT ON COLUMN trunks.host IS
    'IP address (IPv6 in brackets) or host name. A name with port NULL is resolved as an RFC 3263 domain (NAPTR, '
    'then SRV records), a name with a port by its A/AAAA records.';
COMMENT ON COLUMN trunks.port IS 'Port; NULL: found by RFC 3263 (SRV, or the transport''s default port).';
COMMENT ON COLUMN trunks.transport IS 'udp, tcp or tls; NULL: chosen by RFC 3263.';
COMMENT ON COLUMN trunks.auth_username IS 'Username the proxy answers the trunk''s challenges with; NULL: none.';
COMMENT ON COLUMN trunks.auth_realm IS 'The realm the HA1 values below were computed for; NULL with no HA1.';
COMMENT ON COLUMN trunks.auth_ha1_md5 IS 'MD5(auth_username:auth_realm:password), lower-case hex; NULL: none.';
COMMENT ON COLUMN trunks.auth_ha1_sha256 IS 'SHA-256(auth_username:auth_realm:password), lower-case hex; NULL: none.';
COMMENT ON COLUMN trunks.auth_password_sealed IS
    'The trunk password, encrypted by Carillon with a key kept outside the database, for providers whose realm '
    'is not known in advance (an HA1 only answers its own realm). Never plaintext: the envelope is version byte '
    '0x01, 12-byte nonce, ciphertext, 16-byte authentication tag (at least 29 bytes, and a printable password '
    'cannot start with byte 0x01). NULL: none.';
COMMENT ON COLUMN trunks.enabled IS 'false takes the trunk out of routing without deleting it.';

CREATE TABLE outbound_routes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix text NOT NULL UNIQUE CONSTRAINT outbound_routes_prefix_digits CHECK (prefix ~ '^[0-9]{0,15}$'),
    category text NOT NULL
        CONSTRAINT outbound_routes_category_known CHECK (category IN ('campus', 'local', 'long_distance', 'international')),
    description text NOT NULL DEFAULT ''
);

COMMENT ON TABLE outbound_routes IS
    'Which trunks carry calls to numbers starting with a prefix. The proxy removes the outside-line prefix first, '
    'takes the route with the longest matching prefix, checks the caller''s class may call its category, then '
    'tries its trunks by priority, then cost, failing over to the next.';
COMMENT ON COLUMN outbound_routes.prefix IS 'Leading digits of the number after the outside-line prefix; '''' matches all.';
COMMENT ON COLUMN outbound_routes.category IS
    'Call category a caller''s class must allow: campus, local, long_distance or international.';
COMMENT ON COLUMN outbound_routes.description IS 'What the route is for, for administrators.';

CREATE TABLE outbound_route_trunks (
    route_id bigint NOT NULL REFERENCES outbound_routes (id) ON DELETE CASCADE,
    -- A trunk still used by a route cannot be deleted: take it out of the routes (or disable it) first.
    trunk_id bigint NOT NULL REFERENCES trunks (id) ON DELETE RESTRICT,
    priority smallint NOT NULL DEFAULT 0,
    cost integer NOT NULL DEFAULT 0 CONSTRAINT outbound_route_trunks_cost_not_negative CHECK (cost >= 0),
    strip_digits smallint NOT NULL DEFAULT 0
        CONSTRAINT outbound_route_trunks_strip_range CHECK (strip_digits BETWEEN 0 AND 15),
    prepend text NOT NULL DEFAULT ''
        CONSTRAINT outbound_route_trunks_prepend_shape CHECK (prepend ~ '^[0-9+*#]{0,16}$'),
    PRIMARY KEY (route_id, trunk_id)
);

CREATE INDEX outbound_route_trunks_trunk_id ON outbound_route_trunks (trunk_id);

COMMENT ON TABLE outbound_route_trunks IS 'The trunks of a route, with the digit manipulation each one needs.';
COMMENT ON COLUMN outbound_route_trunks.priority IS 'Lower is tried first.';
COMMENT ON COLUMN outbound_route_trunks.cost IS
    'Relative cost in units the administrator chooses (e.g. tenths of a cent per minute); among equal '
    'priorities the cheaper trunk is tried first.';
COMMENT ON COLUMN outbound_route_trunks.strip_digits IS 'How many leading digits to remove before sending.';
COMMENT ON COLUMN outbound_route_trunks.prepend IS 'What to put in front after stripping, e.g. +1 or 0.';

CREATE TABLE emergency_numbers (
    number text PRIMARY KEY CONSTRAINT emergency_numbers_number_digits CHECK (number ~ '^[0-9]{1,15}$'),
    -- The emergency gateway cannot be deleted while an emergency number routes to it.
    trunk_id bigint NOT NULL REFERENCES trunks (id) ON DELETE RESTRICT,
    dial_as text NOT NULL CONSTRAINT emergency_numbers_dial_as_digits CHECK (dial_as ~ '^[0-9]{1,15}$'),
    description text NOT NULL DEFAULT ''
);

CREATE INDEX emergency_numbers_trunk_id ON emergency_numbers (trunk_id);

COMMENT ON TABLE emergency_numbers IS
    'Numbers that reach emergency services, e.g. 911, 9911 (911 after the outside-line prefix) and 933 (address '
    'test). The proxy routes them first: without a prefix, without waiting for authentication, regardless of '
    'the caller''s user class (Kari''s law). No alias of any domain may equal one (enforced by triggers).';
COMMENT ON COLUMN emergency_numbers.number IS 'What the caller dials.';
COMMENT ON COLUMN emergency_numbers.trunk_id IS 'The emergency gateway the call goes to.';
COMMENT ON COLUMN emergency_numbers.description IS 'What the number is for, for administrators.';
COMMENT ON COLUMN emergency_numbers.dial_as IS 'The number sent to the gateway, e.g. 911 for a dialled 9911.';

-- Aliases and emergency numbers live in different tables, so their disjointness is kept by a trigger on each
-- side. Both take the same transaction-scoped advisory lock, so two concurrent writes cannot both pass.
CREATE FUNCTION aliases_refuse_emergency_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('carillon.dial_plan'));
    IF EXISTS (SELECT 1 FROM emergency_numbers WHERE number = NEW.alias) THEN
        RAISE EXCEPTION 'alias % is an emergency number', NEW.alias
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'aliases_not_emergency_number';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER aliases_not_emergency_number BEFORE INSERT OR UPDATE OF alias ON aliases
    FOR EACH ROW EXECUTE FUNCTION aliases_refuse_emergency_number();

CREATE FUNCTION emergency_numbers_refuse_alias() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('carillon.dial_plan'));
    IF EXISTS (SELECT 1 FROM aliases WHERE alias = NEW.number) THEN
        RAISE EXCEPTION 'emergency number % is an alias', NEW.number
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'emergency_numbers_not_alias';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER emergency_numbers_not_alias BEFORE INSERT OR UPDATE OF number ON emergency_numbers
    FOR EACH ROW EXECUTE FUNCTION emergency_numbers_refuse_alias();

COMMENT ON FUNCTION aliases_refuse_emergency_number() IS 'Keeps aliases and emergency numbers disjoint.';
COMMENT ON FUNCTION emergency_numbers_refuse_alias() IS 'Keeps aliases and emergency numbers disjoint.';
