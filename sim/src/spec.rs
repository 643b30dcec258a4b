//! Hardware spec
