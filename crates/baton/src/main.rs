//! The `baton` command line.

fn main() {
    println!("baton");
}
