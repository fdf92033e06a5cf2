//! The `myha` command: the manager service and the DBA command-line tool.
fn main() {
    println!("myha {}", env!("CARGO_PKG_VERSION"));
}
