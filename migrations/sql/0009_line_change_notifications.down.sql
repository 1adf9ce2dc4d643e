DROP TRIGGER domains_realm_changed ON domains;
DROP FUNCTION domains_notify_realm_changed();
DROP TRIGGER lines_changed ON lines;
DROP FUNCTION lines_notify_changed();
