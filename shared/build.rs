//! Rebuilds the crate when a migration is added or changed: `db.rs` embeds them.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
