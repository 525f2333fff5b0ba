//! Health checks: TCP connect, `option httpchk`, `tcp-check` scripts, rise/fall, `track`.
