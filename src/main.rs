fn main() {
    println!("cordon {}", env!("CARGO_PKG_VERSION"));
}
