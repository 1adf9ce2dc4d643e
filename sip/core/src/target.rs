//! RFC 3263 server location: ordering NAPTR, SRV and address records into the list of targets to try.
