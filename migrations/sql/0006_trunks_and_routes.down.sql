DROP TRIGGER aliases_not_emergency_number ON aliases;
DROP TABLE emergency_numbers;
DROP FUNCTION emergency_numbers_refuse_alias();
DROP FUNCTION aliases_refuse_emergency_number();
DROP TABLE outbound_route_trunks;
DROP TABLE outbound_routes;
DROP TABLE trunks;
