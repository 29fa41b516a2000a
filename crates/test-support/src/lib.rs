//! Real metric stores for tests: placeholder until the harness lands.
