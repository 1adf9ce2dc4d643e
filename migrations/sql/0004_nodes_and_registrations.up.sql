-- Nodes (running Carillon servers) and registrations (the contact bindings of RFC 3261 §10).

CREATE TABLE nodes (
    id text PRIMARY KEY CONSTRAINT nodes_id_shape CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    version text NOT NULL,
    schema_version bigint NOT NULL,
    address text NOT NULL CONSTRAINT nodes_address_not_empty CHECK (address <> ''),
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

COMMENT ON TABLE nodes IS 'A running Carillon server process, so nodes can find each other and stale ones show.';
COMMENT ON COLUMN nodes.id IS 'Chosen by configuration, stable across restarts, e.g. proxy-1.';
COMMENT ON COLUMN nodes.version IS 'Carillon version the node runs.';
COMMENT ON COLUMN nodes.schema_version IS 'Latest migration version the node''s code knows.';
COMMENT ON COLUMN nodes.address IS 'SIP URI where other nodes reach this one, e.g. sip:10.0.0.5:5060;transport=tcp.';
COMMENT ON COLUMN nodes.started_at IS 'When the node (re)started.';
COMMENT ON COLUMN nodes.heartbeat_at IS 'Last time the node said it is alive.';

CREATE TABLE registrations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A deleted line must stop receiving calls at once.
    line_id bigint NOT NULL REFERENCES lines (id) ON DELETE CASCADE,
    aor text NOT NULL CONSTRAINT registrations_aor_shape CHECK (aor ~ '^sips?:[^[:space:]]+$'),
    contact_uri text NOT NULL CONSTRAINT registrations_contact_uri_not_empty CHECK (contact_uri <> ''),
    q_thousandths smallint CONSTRAINT registrations_q_range CHECK (q_thousandths BETWEEN 0 AND 1000),
    received_ip inet NOT NULL,
    received_port integer NOT NULL
        CONSTRAINT registrations_received_port_range CHECK (received_port BETWEEN 1 AND 65535),
    transport text NOT NULL
        CONSTRAINT registrations_transport_known CHECK (transport IN ('udp', 'tcp', 'tls', 'sctp', 'ws', 'wss')),
    local_ip inet NOT NULL,
    local_port integer NOT NULL CONSTRAINT registrations_local_port_range CHECK (local_port BETWEEN 1 AND 65535),
    path text[] NOT NULL DEFAULT '{}',
    instance_id text CONSTRAINT registrations_instance_id_not_empty CHECK (instance_id <> ''),
    reg_id integer CONSTRAINT registrations_reg_id_range CHECK (reg_id >= 1),
    call_id text NOT NULL CONSTRAINT registrations_call_id_not_empty CHECK (call_id <> ''),
    cseq bigint NOT NULL CONSTRAINT registrations_cseq_range CHECK (cseq BETWEEN 0 AND 4294967295),
    expires_at timestamptz NOT NULL,
    user_agent text,
    -- When a node is removed its flows are gone; the binding stays usable through received_ip/port.
    node_id text REFERENCES nodes (id) ON DELETE SET NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- RFC 5626 §4.2: reg-id is meaningful only together with +sip.instance.
    CONSTRAINT registrations_reg_id_needs_instance CHECK (reg_id IS NULL OR instance_id IS NOT NULL)
);

-- One binding per contact of an AOR (RFC 3261 §10.3 step 7); also the index of the per-call AOR lookup.
CREATE UNIQUE INDEX registrations_aor_contact_key ON registrations (aor, contact_uri);
-- One binding per flow of an AOR (RFC 5626 §6): a new registration of the same instance and reg-id replaces it.
CREATE UNIQUE INDEX registrations_aor_flow_key ON registrations (aor, instance_id, reg_id) WHERE reg_id IS NOT NULL;
CREATE INDEX registrations_expires_at ON registrations (expires_at);
CREATE INDEX registrations_line_id ON registrations (line_id);
CREATE INDEX registrations_node_id ON registrations (node_id) WHERE node_id IS NOT NULL;

COMMENT ON TABLE registrations IS
    'A contact bound to an address of record by REGISTER (RFC 3261 §10), written through by the registrar so '
    'bindings survive restarts and other nodes can see them.';
COMMENT ON COLUMN registrations.line_id IS 'The line whose credentials authenticated the REGISTER.';
COMMENT ON COLUMN registrations.aor IS 'Address of record in the registrar''s canonical form, e.g. sip:4000@campus.test.';
COMMENT ON COLUMN registrations.contact_uri IS 'The Contact URI as registered (without the header''s parameters).';
COMMENT ON COLUMN registrations.q_thousandths IS 'The Contact q-value times 1000 (q=0.5 is 500); NULL when absent.';
COMMENT ON COLUMN registrations.received_ip IS 'Source address of the REGISTER (where a NATed phone is reachable).';
COMMENT ON COLUMN registrations.received_port IS 'Source port of the REGISTER.';
COMMENT ON COLUMN registrations.transport IS
    'Transport the REGISTER arrived on, lower case: udp, tcp, tls, sctp, ws or wss.';
COMMENT ON COLUMN registrations.local_ip IS 'Local address of the socket that received the REGISTER.';
COMMENT ON COLUMN registrations.local_port IS 'Local port of the socket that received the REGISTER.';
COMMENT ON COLUMN registrations.path IS 'Path header URIs in the order received (RFC 3327); empty when none.';
COMMENT ON COLUMN registrations.instance_id IS 'The +sip.instance Contact parameter (RFC 5626 §4.1); NULL when absent.';
COMMENT ON COLUMN registrations.reg_id IS 'The reg-id Contact parameter (RFC 5626 §4.2); NULL when absent.';
COMMENT ON COLUMN registrations.call_id IS 'Call-ID of the REGISTER that last refreshed the binding (RFC 3261 §10.3).';
COMMENT ON COLUMN registrations.cseq IS 'CSeq number of that REGISTER; a refresh with the same Call-ID must be higher.';
COMMENT ON COLUMN registrations.expires_at IS 'When the binding lapses unless refreshed.';
COMMENT ON COLUMN registrations.user_agent IS 'User-Agent header of the REGISTER; NULL when absent.';
COMMENT ON COLUMN registrations.node_id IS
    'The node holding the flow (the connection or the socket) the phone registered over: requests to this '
    'contact leave through that node. NULL when no node holds it.';
COMMENT ON COLUMN registrations.updated_at IS 'When the binding was last written.';
