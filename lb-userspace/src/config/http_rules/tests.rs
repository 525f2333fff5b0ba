//! Tests of HTTP rule parsing.
