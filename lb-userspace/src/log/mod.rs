//! Traffic logs (`log ...`, `option tcplog`) and internal events.
