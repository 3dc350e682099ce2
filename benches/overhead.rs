//! Request-path overhead benchmark.

fn main() {}
