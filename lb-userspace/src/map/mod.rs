//! Map files (`key value` per line) used by the `map*` converters and `-M` ACLs, updatable
//! at run time.
