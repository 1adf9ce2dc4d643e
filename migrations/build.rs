fn main() {
    // sqlx::migrate! embeds the files of sql/; a new file there must rebuild the crate.
    println!("cargo:rerun-if-changed=sql");
}
