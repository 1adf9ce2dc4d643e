//! Building requests and responses.

/// Builds a request.
#[derive(Debug)]
pub struct RequestBuilder;

/// Builds a response.
#[derive(Debug)]
pub struct ResponseBuilder;
