//! Load-balancing algorithms (`balance ...`, `hash-type ...`).
