//! The README's "Getting started" is this example: its `main.rs` word for word, and its
//! `Cargo.toml` lines naming the same crates and features as this package's manifest, so that
//! what a new user pastes is what the tests build and run.

use std::collections::BTreeMap;

const README: &str = include_str!("../../../README.md");
const MAIN: &str = include_str!("../src/main.rs");
const MANIFEST: &str = include_str!("../Cargo.toml");

/// The fenced code blocks of `text` in `language`.
fn blocks<'a>(text: &'a str, language: &str) -> Vec<&'a str> {
    let fence = format!("```{language}\n");
    text.split(&fence)
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("an unclosed code block")])
        .collect()
}

/// Crate name → features of the `[dependencies]` lines in `toml` (the section only, up to the
/// next header), read line by line: `name = "1"`, `name = { ..., features = ["a", "b"] }`, or
/// `name.workspace = true`.
fn dependencies(toml: &str) -> BTreeMap<String, Vec<String>> {
    let section = toml
        .split("[dependencies]\n")
        .nth(1)
        .expect("a [dependencies] section");
    section
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let name = line
                .split(['=', '.', ' '])
                .next()
                .unwrap()
                .trim()
                .to_owned();
            let features = line
                .split("features = [")
                .nth(1)
                .map(|list| {
                    list[..list.find(']').unwrap()]
                        .split(',')
                        .map(|feature| feature.trim().trim_matches('"').to_owned())
                        .filter(|feature| !feature.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            (name, features)
        })
        .collect()
}

#[test]
fn the_readme_shows_this_main_rs() {
    assert!(
        blocks(README, "rust").contains(&MAIN),
        "README.md's Getting started must show examples/quickstart/src/main.rs as it is"
    );
}

#[test]
fn the_readme_names_the_crates_and_features_this_example_builds_with() {
    let readme = blocks(README, "toml")
        .into_iter()
        .find(|block| block.contains("mcp-auth-runtime"))
        .expect("a toml block with mcp-auth-runtime in the README");
    let mut shown = dependencies(readme);
    let mut built = dependencies(MANIFEST);
    // The workspace gives tokio `macros`.
    for features in [&mut shown, &mut built] {
        if let Some(tokio) = features.get_mut("tokio") {
            tokio.retain(|feature| feature != "macros");
        }
        for list in features.values_mut() {
            list.sort();
        }
    }
    assert_eq!(shown, built);
}
