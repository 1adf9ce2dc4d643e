//! Carillon's PostgreSQL schema and the queries the services share.
