fn main() {
    println!("myha {}", env!("CARGO_PKG_VERSION"));
}
