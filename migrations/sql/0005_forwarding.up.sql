-- Per-user call forwarding, do-not-disturb and sequential ringing ("ring desk, then mobile").

CREATE TABLE forwarding (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    do_not_disturb boolean NOT NULL DEFAULT false,
    unconditional_target text CONSTRAINT forwarding_unconditional_not_empty CHECK (unconditional_target <> ''),
    busy_target text CONSTRAINT forwarding_busy_not_empty CHECK (busy_target <> ''),
    no_answer_target text CONSTRAINT forwarding_no_answer_not_empty CHECK (no_answer_target <> ''),
    no_answer_delay_seconds integer NOT NULL DEFAULT 20
        CONSTRAINT forwarding_no_answer_delay_range CHECK (no_answer_delay_seconds BETWEEN 1 AND 600),
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE forwarding IS
    'How calls to a user are forwarded; read per call, so a change applies to the next call without a restart. '
    'No row means no forwarding. Order: unconditional forward, then do-not-disturb (busy, or the busy target), '
    'then the user''s sequential_ring_steps (or all registered lines at once when there are none), then the busy '
    'or no-answer target. A target is what a caller could dial (extension, alias, outside number with its prefix) '
    'or a SIP URI.';
COMMENT ON COLUMN forwarding.do_not_disturb IS 'Treat the user as busy without ringing any line.';
COMMENT ON COLUMN forwarding.unconditional_target IS 'Forward every call here without ringing; NULL: off.';
COMMENT ON COLUMN forwarding.busy_target IS 'Forward here when every line is busy (486) or on DND; NULL: off.';
COMMENT ON COLUMN forwarding.no_answer_target IS 'Forward here when nobody answers in time; NULL: off.';
COMMENT ON COLUMN forwarding.no_answer_delay_seconds IS
    'How long the user''s lines ring before the no-answer forward (when there are no sequential ring steps).';
COMMENT ON COLUMN forwarding.updated_at IS 'When the settings were last written.';

CREATE TABLE sequential_ring_steps (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    step smallint NOT NULL CONSTRAINT sequential_ring_steps_step_positive CHECK (step >= 1),
    target text CONSTRAINT sequential_ring_steps_target_not_empty CHECK (target <> ''),
    ring_seconds integer NOT NULL CONSTRAINT sequential_ring_steps_ring_range CHECK (ring_seconds BETWEEN 1 AND 600),
    PRIMARY KEY (user_id, step)
);

COMMENT ON TABLE sequential_ring_steps IS
    'Where a call to the user rings, one step after another in step order, each for ring_seconds (sequential '
    'forking, RFC 3261 §16.6), e.g. step 1 the desk lines for 15 s, step 2 a mobile number for 20 s.';
COMMENT ON COLUMN sequential_ring_steps.step IS 'Order of the step, lowest first.';
COMMENT ON COLUMN sequential_ring_steps.target IS
    'NULL rings every registered contact of the user''s own lines; otherwise a forward target (see forwarding).';
COMMENT ON COLUMN sequential_ring_steps.ring_seconds IS 'How long this step rings before the next one starts.';
