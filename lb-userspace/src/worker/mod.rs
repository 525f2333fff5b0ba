//! Workers: one single-threaded event loop per core, each with its own SO_REUSEPORT listeners.
