//! Rules of the code's shape, checked over the sources.
//!
//! Channel kinds are plugins: outside the kind registry (`src/channels/registry.rs`) and the
//! adapter crates, no module names a kind. The hub asks the kind (`ChannelKind`) for what it
//! needs instead of matching on the name — so a new kind is one crate and one registration line.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Files that may hold a kind's name as a word with another meaning, and what it means there.
const OTHER_MEANINGS: &[(&str, &str)] = &[
    ("src/store/migrate.rs", "migration names (0003 email, 0005 telegram)"),
    ("src/policy/transform.rs", "the JSON field names of the views (`email`, `phone`)"),
    ("src/team/import.rs", "the CSV column names of a team import"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The kinds the adapters define (`pub const KIND: &str = "…"`).
fn kind_names() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("adapters"), &mut files);
    let mut kinds: Vec<String> = files
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|line| line.trim().strip_prefix("pub const KIND: &str = \"").and_then(|rest| rest.strip_suffix("\";")).map(str::to_owned))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The code of a file without its test module and comments.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("read source");
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with("//")).map(|(i, l)| (i + 1, l.to_owned())).collect()
}

/// Whether the literal at `at` in `line` names a field (an input field in an error, a JSON key).
fn names_a_field(line: &str, at: usize, literal: &str) -> bool {
    let before = line[..at].trim_end();
    let after = &line[at + literal.len()..];
    before.ends_with("field:") || before.ends_with("invalid(") || before.ends_with("err(line,") || after.starts_with(':')
}

#[test]
fn only_the_registry_and_the_adapters_name_channel_kinds() {
    let kinds = kind_names();
    assert!(kinds.len() >= 4, "the adapters define their kinds: {kinds:?}");
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    let mut found = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(ROOT).expect("inside the repository").to_string_lossy().replace('\\', "/");
        if relative == "src/channels/registry.rs" || OTHER_MEANINGS.iter().any(|(f, _)| *f == relative) {
            continue;
        }
        for (number, line) in code_lines(file) {
            for kind in &kinds {
                let literal = format!("\"{kind}\"");
                for (at, _) in line.match_indices(&literal) {
                    if !names_a_field(&line, at, &literal) {
                        found.push(format!("{relative}:{number}: {}", line.trim()));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "channel kinds named outside the registry (ask the kind instead):\n{}", found.join("\n"));
}

/// The top-level areas of `src/` (a directory or a file, `lib.rs` and `main.rs` aside) and, for
/// each, the areas its code names (`crate::area` in code, not in comments or test modules).
fn area_dependencies() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = Path::new(ROOT).join("src");
    let areas: Vec<String> = std::fs::read_dir(&src)
        .expect("read src")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs").filter(|n| *n != "lib" && *n != "main").map(str::to_owned)
            }
        })
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut deps: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = areas.iter().map(|a| (a.clone(), Default::default())).collect();
    for file in files {
        let relative = file.strip_prefix(&src).expect("inside src").to_string_lossy().replace('\\', "/");
        let top = relative.split('/').next().unwrap_or_default();
        let area = top.strip_suffix(".rs").unwrap_or(top).to_owned();
        if !areas.contains(&area) {
            continue;
        }
        let code: String = code_lines(&file).into_iter().map(|(_, l)| l + "\n").collect();
        let mut named = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                named.extend(group.split(',').filter_map(|part| part.trim().split("::").next()).map(|s| s.trim().to_owned()));
            } else {
                named.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
            }
        }
        for other in named {
            if other != area && areas.contains(&other) {
                deps.get_mut(&area).expect("known area").insert(other);
            }
        }
    }
    deps
}

#[test]
fn the_areas_of_src_depend_on_each_other_without_cycles() {
    let deps = area_dependencies();
    let on_api: Vec<&String> = deps.iter().filter(|(_, d)| d.contains("api")).map(|(a, _)| a).collect();
    assert!(on_api.is_empty(), "the API depends on everything and nothing on it; these name it: {on_api:?}");
    // Depth-first search for a cycle, reporting the path.
    fn visit<'a>(
        area: &'a str,
        deps: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|a| *a == area) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(area.to_owned());
            return Some(cycle);
        }
        if done.contains(area) {
            return None;
        }
        path.push(area);
        for next in &deps[area] {
            if let Some(cycle) = visit(next, deps, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(area);
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for area in deps.keys() {
        if let Some(cycle) = visit(area, &deps, &mut Vec::new(), &mut done) {
            panic!("areas depend on each other in a cycle: {}", cycle.join(" → "));
        }
    }
}
