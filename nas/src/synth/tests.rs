//! Tests of synthesis against the abstract semantics.
