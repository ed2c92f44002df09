//! Docs that are generated from code must match the code.

#[test]
fn docs_modules_md_is_generated_from_the_registry() {
    let expected = hlprov::cli::modules_markdown();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/modules.md");
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(actual == expected, "docs/modules.md is out of date: run `cargo run -- modules --markdown > docs/modules.md`");
}
