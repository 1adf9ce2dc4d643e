-- Kamailio's view of Carillon's database, for the load benchmark (bench/proxy-load.sh): a schema of its own in
-- Carillon's database, holding Kamailio's `version` and `location` tables (usrloc write-through, the layout of
-- Kamailio 5.6's usrloc-create.sql) and a `subscriber` view over Carillon's lines, so that both servers
-- authenticate the same users against the same HA1 values. The role `kamailio` finds these first on its
-- search_path. Run as a superuser in Carillon's database, after `carillon migrate` and `carillon seed-demo`.

CREATE ROLE kamailio LOGIN PASSWORD 'kamailio';
CREATE SCHEMA kamailio AUTHORIZATION kamailio;
ALTER ROLE kamailio SET search_path = kamailio;
GRANT USAGE ON SCHEMA public TO kamailio;
GRANT SELECT ON public.lines, public.domains TO kamailio;

SET search_path = kamailio;

CREATE TABLE version (
    id SERIAL PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_table_name_idx UNIQUE (table_name)
);
INSERT INTO version (table_name, table_version) VALUES ('version', 1), ('subscriber', 7), ('location', 9),
    ('location_attrs', 1);

-- auth_db reads username, domain and ha1 (calculate_ha1 off). The username is lower-cased as Carillon compares
-- it, which also lets the lookup use Carillon's index on lower(username).
CREATE VIEW subscriber AS
    SELECT l.id::integer AS id, lower(l.username) AS username, d.name AS domain, ''::text AS password,
           l.ha1_md5 AS ha1, ''::text AS ha1b
    FROM public.lines l JOIN public.domains d ON d.id = l.domain_id;

CREATE TABLE location (
    id SERIAL PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q REAL DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INTEGER DEFAULT 1 NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    cflags INTEGER DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INTEGER DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    server_id INTEGER DEFAULT 0 NOT NULL,
    connection_id INTEGER DEFAULT 0 NOT NULL,
    keepalive INTEGER DEFAULT 0 NOT NULL,
    partition INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT location_ruid_idx UNIQUE (ruid)
);
CREATE INDEX location_account_contact_idx ON location (username, domain, contact);
CREATE INDEX location_expires_idx ON location (expires);
CREATE INDEX location_connection_idx ON location (server_id, connection_id);

CREATE TABLE location_attrs (
    id SERIAL PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    aname VARCHAR(64) DEFAULT '' NOT NULL,
    atype INTEGER DEFAULT 0 NOT NULL,
    avalue VARCHAR(512) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL
);

ALTER TABLE version OWNER TO kamailio;
ALTER TABLE location OWNER TO kamailio;
ALTER TABLE location_attrs OWNER TO kamailio;
ALTER VIEW subscriber OWNER TO kamailio;
