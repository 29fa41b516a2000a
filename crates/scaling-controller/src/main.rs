//! `sextant-controller`: placeholder main until the decision core lands.
fn main() {}
