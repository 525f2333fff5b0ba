//! Stick tables: `stick-table`, tracking (`track-sc0/1/2`), stored counters and rates,
//! and sticky routing (`stick on|match|store-request`). Shared by all workers.

/// A `stick-table` declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCfg {}

/// A `stick on|match|store-request` rule.
#[derive(Debug, Clone)]
pub struct StickRule {}

/// The stick tables of the process and the entries one stream tracks (`sc0`..`sc2`).
#[derive(Debug, Default)]
pub struct Tracking {}
