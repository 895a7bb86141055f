fn main() {
    println!("bridgewatch: not yet");
}
