//! Tests of the HTTP fetches.
