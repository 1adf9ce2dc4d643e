-- Every change of a line (created, its secret or username changed, deleted) is announced on the channel
-- `carillon_line_changed` with the line's lower-case digest username, so that a proxy serving credentials from
-- memory drops its copy at once, on every node. A change of a domain's realm is announced as '*': every copy goes.

CREATE FUNCTION lines_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('carillon_line_changed', lower(OLD.username));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('carillon_line_changed', lower(NEW.username));
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION lines_notify_changed() IS
    'Announces a changed line on channel carillon_line_changed (payload: its lower-case username).';

CREATE TRIGGER lines_changed AFTER INSERT OR UPDATE OR DELETE ON lines
    FOR EACH ROW EXECUTE FUNCTION lines_notify_changed();

CREATE FUNCTION domains_notify_realm_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('carillon_line_changed', '*');
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION domains_notify_realm_changed() IS
    'Announces on channel carillon_line_changed (payload *) that every line of a domain may have changed.';

CREATE TRIGGER domains_realm_changed AFTER UPDATE OF realm OR DELETE ON domains
    FOR EACH ROW EXECUTE FUNCTION domains_notify_realm_changed();
