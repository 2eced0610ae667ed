//! `postroomd`: Postroom without a display. See `postroomd --help`.

fn main() {
    std::process::exit(postroom_engine::cli::main());
}
