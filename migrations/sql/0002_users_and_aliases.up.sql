-- Users and the names and numbers that reach them.

CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A domain with users cannot be deleted: removing every user of a campus takes an explicit decision.
    domain_id bigint NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    name text NOT NULL CONSTRAINT users_name_shape CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    display_name text NOT NULL DEFAULT ''
        CONSTRAINT users_display_name_shape CHECK (length(display_name) <= 128 AND display_name !~ '[[:cntrl:]]'),
    email text CONSTRAINT users_email_shape CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    department text,
    user_class_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain_id, id),
    -- A class in use cannot be deleted; move its users to another class first.
    FOREIGN KEY (domain_id, user_class_id) REFERENCES user_classes (domain_id, id) ON DELETE RESTRICT
);

CREATE UNIQUE INDEX users_domain_name_key ON users (domain_id, lower(name));
CREATE INDEX users_user_class_id ON users (user_class_id);

COMMENT ON TABLE users IS 'A person (or a role such as a help desk) who has lines and can be called.';
COMMENT ON COLUMN users.name IS
    'Login name, unique per domain ignoring case, e.g. alice. Dialable only through an alias of the same text.';
COMMENT ON COLUMN users.display_name IS 'Name shown to callees, e.g. Alice Cueba; empty when none.';
COMMENT ON COLUMN users.email IS 'Where voicemail and notices go; NULL when none.';
COMMENT ON COLUMN users.department IS 'Organisational unit, for directories and reports; NULL when none.';
COMMENT ON COLUMN users.user_class_id IS 'The user''s class, which says what the user may call.';

CREATE TABLE aliases (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain_id bigint NOT NULL,
    user_id bigint NOT NULL,
    alias text NOT NULL CONSTRAINT aliases_alias_shape CHECK (
        alias ~ '^[0-9]{1,15}$' OR (alias ~ '^[A-Za-z0-9._-]{1,64}$' AND alias ~ '[A-Za-z]')
    ),
    kind text NOT NULL GENERATED ALWAYS AS (CASE WHEN alias ~ '^[0-9]+$' THEN 'extension' ELSE 'name' END) STORED,
    -- The user's domain, enforced: an alias reaches a user of its own domain only.
    FOREIGN KEY (domain_id, user_id) REFERENCES users (domain_id, id) ON DELETE CASCADE
);

-- The per-call lookup: dialled string -> user, within the domain of the request URI.
CREATE UNIQUE INDEX aliases_domain_alias_key ON aliases (domain_id, lower(alias));
CREATE INDEX aliases_user_id ON aliases (user_id);

COMMENT ON TABLE aliases IS
    'A string a caller dials to reach a user: an extension such as 4711 or a name such as alice.cueba. Unique '
    'per domain ignoring case, so a dialled string resolves to at most one user; never an emergency number.';
COMMENT ON COLUMN aliases.alias IS
    'Up to 15 digits (an extension, or a direct-dial number as digits), or a name of letters, digits, '
    '''.'', ''_'' and ''-'' with at least one letter, so names and extensions never look alike.';
COMMENT ON COLUMN aliases.kind IS 'extension (all digits) or name; derived from alias.';
