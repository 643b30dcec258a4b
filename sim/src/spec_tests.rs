//! Unit tests of hardware spec reading: generators, routing, pipeline order.
