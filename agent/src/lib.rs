//! tessera's search, learning and scenario running, and the `tessera` command's logic.
