//! `cargo run -p postroom-contract` writes the generated contract files; `-- --check` only says whether they
//! are current (exit status 1 if not). See the library's documentation.

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let root = postroom_contract::project_root();
    let files = match postroom_contract::generate(&root) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("postroom-contract: {e}");
            std::process::exit(2);
        }
    };
    let stale: Vec<_> = files.iter().filter(|f| !f.is_current(&root)).collect();
    if check {
        for f in &stale {
            eprintln!("{} is out of date: run `cargo run -p postroom-contract`", f.path);
        }
        std::process::exit(i32::from(!stale.is_empty()));
    }
    for f in stale {
        if let Err(e) = f.write(&root) {
            eprintln!("postroom-contract: cannot write {}: {e}", f.path);
            std::process::exit(2);
        }
        println!("wrote {}", f.path);
    }
}
