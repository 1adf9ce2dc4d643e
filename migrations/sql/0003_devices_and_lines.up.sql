-- Devices (phones) and lines (the SIP accounts they register), with digest credentials stored only as HA1.

CREATE TABLE devices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    label text NOT NULL DEFAULT '',
    model text,
    mac_address macaddr UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain_id, id)
);

COMMENT ON TABLE devices IS
    'A phone, hardware or soft, that registers one or more lines. It outlives the users of its lines: the phone '
    'on a desk stays when its user leaves.';
COMMENT ON COLUMN devices.label IS 'Where or what it is, for administrators, e.g. Room 204 desk phone.';
COMMENT ON COLUMN devices.model IS 'Vendor and model, for provisioning; NULL when unknown.';
COMMENT ON COLUMN devices.mac_address IS 'Hardware address, for provisioning; NULL for softphones.';

CREATE TABLE lines (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id bigint NOT NULL,
    user_id bigint NOT NULL,
    device_id bigint NOT NULL,
    username text NOT NULL CONSTRAINT lines_username_shape CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    ha1_md5 text NOT NULL CONSTRAINT lines_ha1_md5_hex CHECK (ha1_md5 ~ '^[0-9a-f]{32}$'),
    ha1_sha256 text NOT NULL CONSTRAINT lines_ha1_sha256_hex CHECK (ha1_sha256 ~ '^[0-9a-f]{64}$'),
    ha1_sha512_256 text CONSTRAINT lines_ha1_sha512_256_hex CHECK (ha1_sha512_256 ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A line dies with its user (it must stop receiving the user's calls) and with its device.
    FOREIGN KEY (domain_id, user_id) REFERENCES users (domain_id, id) ON DELETE CASCADE,
    FOREIGN KEY (domain_id, device_id) REFERENCES devices (domain_id, id) ON DELETE CASCADE
);

-- The per-request lookup: digest username (+ realm -> domain) -> credentials.
CREATE UNIQUE INDEX lines_domain_username_key ON lines (domain_id, lower(username));
CREATE INDEX lines_user_id ON lines (user_id);
CREATE INDEX lines_device_id ON lines (device_id);

COMMENT ON TABLE lines IS
    'A SIP account of a user on a device: its own digest username and random secret. The secret itself is never '
    'stored, only HA1 = H(username:realm:secret) per hash function (RFC 7616 §3.4.2); there is no column a '
    'plaintext secret could go in, and the HA1 columns accept only lower-case hex of the right length.';
COMMENT ON COLUMN lines.username IS
    'Digest username and user part of the line''s address of record (sip:username@domain); unique per domain '
    'ignoring case.';
COMMENT ON COLUMN lines.ha1_md5 IS 'MD5(username:realm:secret), lower-case hex; answers MD5 and MD5-sess.';
COMMENT ON COLUMN lines.ha1_sha256 IS
    'SHA-256(username:realm:secret), lower-case hex; answers SHA-256 and SHA-256-sess.';
COMMENT ON COLUMN lines.ha1_sha512_256 IS
    'SHA-512/256(username:realm:secret), lower-case hex; NULL when the line does not offer SHA-512-256.';
