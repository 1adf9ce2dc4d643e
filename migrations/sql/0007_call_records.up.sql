-- Call records: one row per call, with Asterisk's CDR field names so existing billing and reporting tools can
-- read them, plus Carillon's own columns.

CREATE TABLE call_records (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    accountcode text NOT NULL DEFAULT '',
    src text NOT NULL DEFAULT '',
    dst text NOT NULL DEFAULT '',
    dcontext text NOT NULL DEFAULT '',
    clid text NOT NULL DEFAULT '',
    channel text NOT NULL DEFAULT '',
    dstchannel text NOT NULL DEFAULT '',
    start timestamptz NOT NULL,
    answer timestamptz,
    "end" timestamptz NOT NULL,
    -- Derived, so they always agree with the timestamps; rounded to whole seconds as Asterisk does.
    duration integer NOT NULL GENERATED ALWAYS AS (round(extract(epoch FROM ("end" - start)))::integer) STORED,
    billsec integer NOT NULL
        GENERATED ALWAYS AS (coalesce(round(extract(epoch FROM ("end" - answer)))::integer, 0)) STORED,
    disposition text NOT NULL CONSTRAINT call_records_disposition_known
        CHECK (disposition IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED', 'CANCEL')),
    amaflags smallint NOT NULL DEFAULT 3 CONSTRAINT call_records_amaflags_known CHECK (amaflags IN (1, 2, 3)),
    userfield text NOT NULL DEFAULT '',
    uniqueid text NOT NULL UNIQUE CONSTRAINT call_records_uniqueid_not_empty CHECK (uniqueid <> ''),
    linkedid text NOT NULL CONSTRAINT call_records_linkedid_not_empty CHECK (linkedid <> ''),
    peeraccount text NOT NULL DEFAULT '',
    call_id text NOT NULL CONSTRAINT call_records_call_id_not_empty CHECK (call_id <> ''),
    node_id text,
    CONSTRAINT call_records_end_after_start CHECK ("end" >= start),
    CONSTRAINT call_records_answer_within_call CHECK (answer IS NULL OR (answer >= start AND answer <= "end")),
    CONSTRAINT call_records_answered_iff_answer CHECK ((disposition = 'ANSWERED') = (answer IS NOT NULL))
);

CREATE INDEX call_records_start ON call_records (start);
CREATE INDEX call_records_linkedid ON call_records (linkedid);
CREATE INDEX call_records_call_id ON call_records (call_id);

COMMENT ON TABLE call_records IS
    'One row per call (CDR). Column names and meanings follow Asterisk''s CDR; no foreign keys, because a record '
    'outlives the users, trunks and nodes it names.';
COMMENT ON COLUMN call_records.accountcode IS 'Account code of the caller, for billing; empty when none.';
COMMENT ON COLUMN call_records.src IS 'Caller''s number: the calling user''s extension or the incoming caller ID.';
COMMENT ON COLUMN call_records.dst IS 'The number or alias dialled.';
COMMENT ON COLUMN call_records.dcontext IS 'The domain the call was placed in (Asterisk: dialplan context).';
COMMENT ON COLUMN call_records.clid IS 'Caller ID as presented: "Display Name" <number>.';
COMMENT ON COLUMN call_records.channel IS 'The calling side: the caller''s line username, or the trunk name.';
COMMENT ON COLUMN call_records.dstchannel IS 'The answering side: line username or trunk name; empty when unanswered.';
COMMENT ON COLUMN call_records.start IS 'When the INVITE arrived.';
COMMENT ON COLUMN call_records.answer IS 'When the call was answered (2xx); NULL unless disposition is ANSWERED.';
COMMENT ON COLUMN call_records."end" IS 'When the call ended (BYE, CANCEL or final failure).';
COMMENT ON COLUMN call_records.duration IS 'Seconds from start to end.';
COMMENT ON COLUMN call_records.billsec IS 'Seconds from answer to end; 0 when unanswered.';
COMMENT ON COLUMN call_records.disposition IS 'ANSWERED, NO ANSWER, BUSY, FAILED or CANCEL.';
COMMENT ON COLUMN call_records.amaflags IS 'AMA flag as Asterisk numbers it: 1 OMIT, 2 BILLING, 3 DOCUMENTATION.';
COMMENT ON COLUMN call_records.userfield IS 'Free text for site use.';
COMMENT ON COLUMN call_records.uniqueid IS 'Unique id of this record; a second insert with it is ignored.';
COMMENT ON COLUMN call_records.linkedid IS
    'uniqueid of the first record of a chain of related calls (e.g. a transfer); its own uniqueid otherwise.';
COMMENT ON COLUMN call_records.peeraccount IS 'Account code of the called side; empty when none.';
COMMENT ON COLUMN call_records.call_id IS 'SIP Call-ID of the caller''s leg.';
COMMENT ON COLUMN call_records.node_id IS 'The node that handled the call (see nodes.id); NULL when unknown.';
