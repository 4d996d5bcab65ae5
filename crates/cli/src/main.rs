fn main() {
    println!("reelsmith");
}
