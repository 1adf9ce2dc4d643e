-- Domains and user classes: the SIP domains Carillon serves, and what each group of users may call.
-- Like every migration here, this runs in one transaction (sqlx's default): it applies whole or not at all.

CREATE TABLE domains (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE
        CONSTRAINT domains_name_shape CHECK (name ~ '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$'),
    realm text NOT NULL UNIQUE
        CONSTRAINT domains_realm_shape CHECK (realm <> '' AND position('"' IN realm) = 0 AND position('\' IN realm) = 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE domains IS
    'A SIP domain served by Carillon (the host part of its users'' addresses of record), with its digest realm.';
COMMENT ON COLUMN domains.name IS 'The domain as it appears in SIP URIs, lower case, e.g. campus.test.';
COMMENT ON COLUMN domains.realm IS
    'The digest realm of challenges for this domain (RFC 3261 §22.1); every line''s HA1 values are computed '
    'with it, so changing it invalidates them. Unique, so a (username, realm) pair names one line.';

CREATE TABLE user_classes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    name text NOT NULL CONSTRAINT user_classes_name_not_empty CHECK (name <> ''),
    may_call_internal boolean NOT NULL DEFAULT true,
    may_call_campus boolean NOT NULL DEFAULT true,
    may_call_local boolean NOT NULL DEFAULT false,
    may_call_long_distance boolean NOT NULL DEFAULT false,
    may_call_international boolean NOT NULL DEFAULT false,
    -- Target of the composite foreign key from users, which keeps a user's class in the user's domain.
    UNIQUE (domain_id, id)
);

CREATE UNIQUE INDEX user_classes_domain_name_key ON user_classes (domain_id, lower(name));

COMMENT ON TABLE user_classes IS
    'What a group of users may call, by call category: internal, campus, local, long_distance, international. '
    'Emergency calls (see emergency_numbers) are always allowed by design: there is no column that could deny '
    'them, and the proxy routes emergency numbers before it looks at the caller''s class.';
COMMENT ON COLUMN user_classes.name IS 'Name shown to administrators, unique per domain ignoring case, e.g. staff.';
COMMENT ON COLUMN user_classes.may_call_internal IS 'Calls to users of the same domain.';
COMMENT ON COLUMN user_classes.may_call_campus IS
    'Calls to other domains served by Carillon and to outbound routes of category campus (other systems on site).';
COMMENT ON COLUMN user_classes.may_call_local IS 'Calls through outbound routes of category local.';
COMMENT ON COLUMN user_classes.may_call_long_distance IS 'Calls through outbound routes of category long_distance.';
COMMENT ON COLUMN user_classes.may_call_international IS 'Calls through outbound routes of category international.';
