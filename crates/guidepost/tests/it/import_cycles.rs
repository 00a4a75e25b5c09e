//! No file imports itself in a loop: inside each crate, the files of `src/` and the
//! imports between them form a graph without a cycle. A cycle means that none of its files
//! can be read, moved or split without the others; the fix is to move what one side takes
//! from the other into a file below both (or into their common parent module), so that
//! the arrows run one way.
//!
//! The graph, read from the text of the sources (no compiler; well under a second):
//! - **Files** are found as rustc finds them: from each crate root (`src/lib.rs`,
//!   `src/main.rs`), following `mod name;` declarations and their `#[path]` attributes.
//! - **An edge A -> B** (two files of one crate) is a path written in A that names B's
//!   module or an item in it: in a `use` (`use crate::x::Item`, `use super::{a, b}`,
//!   `use self::child::f`, `use child::f`) or in the code (`crate::x::f(..)`,
//!   `super::sibling::f(..)`, `child::f(..)`, or `alias::f(..)` where a `use` of A brought
//!   in `alias`). A path goes to the file of its longest prefix that is a module:
//!   `crate::a::b::C` is an edge to `a/b.rs` when `b` is a module, else to `a.rs`. A name
//!   that module only imports (`pub use child::Item`) is followed to where it is defined.
//! - **Not edges**: a path to one of A's own ancestors (`super::Item`, `crate::Item`, a
//!   `use super::*`): a parent module is its children's context, as the crate root is
//!   every module's, and it declares and composes them; `mod child;` itself; anything
//!   under `#[cfg(test)]` (a test may reach anywhere); comments and strings (doc links);
//!   paths into other crates; and the names a glob (`use x::*`) brings in, beyond the
//!   edge to `x`.
//!
//! A cycle is a strongly connected component of two files or more; the failure lists each
//! one with its edges and the names one file takes from the other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::helpers::workspace_root;

#[test]
fn no_file_level_import_cycles_in_any_crate() {
    let root = workspace_root();
    let crates = root.join("crates");
    let mut roots = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap().map(Result::unwrap) {
        for name in ["lib.rs", "main.rs"] {
            let file = entry.path().join("src").join(name);
            if file.is_file() {
                roots.push(file);
            }
        }
    }
    roots.sort();
    assert!(roots.len() >= 10, "found only {roots:?}");
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let mut cycles = Vec::new();
    for crate_root in &roots {
        let graph = Graph::read(crate_root, &read);
        assert!(
            !graph.files.is_empty(),
            "{} has no files",
            crate_root.display()
        );
        cycles.extend(
            graph
                .cycles()
                .into_iter()
                .map(|cycle| describe(&root, &graph, &cycle)),
        );
    }
    assert!(
        cycles.is_empty(),
        "{} file-level import cycles (see this file's doc for what counts as an import):\n\n{}",
        cycles.len(),
        cycles.join("\n")
    );
}

/// The checker on a small crate: what is an edge, what is not, and the cycle it names.
#[test]
fn import_cycles_checker_finds_a_cycle() {
    let crate_with = |c_rs: &'static str| {
        let sources: BTreeMap<PathBuf, &str> = [
            (
                "src/lib.rs",
                "mod a; mod b; mod c;\n#[cfg(test)] mod tests;\npub use a::Thing;",
            ),
            ("src/a.rs", "pub struct Thing; pub fn f() { crate::b::g() }"),
            (
                "src/b/mod.rs",
                "mod inner; use super::c; pub fn g() { c::h() }",
            ),
            (
                "src/b/inner.rs",
                "use super::super::a; use super::g; fn x() { a::f(); g() }",
            ),
            ("src/c.rs", c_rs),
            ("src/tests.rs", "use crate::a; use crate::b; use crate::c;"),
        ]
        .into_iter()
        .map(|(path, text)| (PathBuf::from(path), text))
        .collect();
        Graph::read(Path::new("src/lib.rs"), &|path: &Path| {
            sources.get(path).map(|text| text.to_string())
        })
    };
    let paths = |files: &[&str]| files.iter().map(PathBuf::from).collect::<Vec<_>>();
    // a -> b (crate::b::g), b -> c (use super::c, c::h), inner -> a (super::super::a);
    // inner -> b (use super::g) is to its parent, tests.rs is test code, and a comment or
    // a string names nothing: no cycle.
    let graph = crate_with("/* crate::a::f */ pub fn h() { let _ = \"crate::a\"; }");
    assert_eq!(graph.files.len(), 5, "{:?}", graph.files);
    let edges = |graph: &Graph, from: &str| -> Vec<PathBuf> {
        graph.edges[Path::new(from)].keys().cloned().collect()
    };
    assert_eq!(edges(&graph, "src/b/inner.rs"), paths(&["src/a.rs"]));
    assert!(edges(&graph, "src/c.rs").is_empty());
    assert_eq!(graph.cycles(), Vec::<Vec<PathBuf>>::new());
    // c -> a through the crate root's re-export closes a -> b -> c -> a.
    let graph = crate_with("pub fn h() -> crate::Thing { crate::Thing }");
    let cycle = paths(&["src/a.rs", "src/b/mod.rs", "src/c.rs"]);
    assert_eq!(graph.cycles(), vec![cycle]);
    assert_eq!(
        graph.edges[Path::new("src/c.rs")][Path::new("src/a.rs")],
        BTreeSet::from(["Thing".to_string()])
    );
}

fn describe(root: &Path, graph: &Graph, cycle: &[PathBuf]) -> String {
    let name = |file: &Path| {
        file.strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string()
    };
    let mut text = format!(
        "cycle of {} files: {}\n",
        cycle.len(),
        cycle.iter().map(|f| name(f)).collect::<Vec<_>>().join(", ")
    );
    for from in cycle {
        for (to, names) in &graph.edges[from] {
            if cycle.contains(to) {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                text += &format!("  {} -> {}: {}\n", name(from), name(to), names.join(", "));
            }
        }
    }
    text
}

/// A module path from the crate root: `["upstreams", "scan"]` is `crate::upstreams::scan`.
type ModulePath = Vec<String>;

/// One crate's files and the edges between them, each with the names it takes.
struct Graph {
    files: BTreeSet<PathBuf>,
    edges: BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>,
}

impl Graph {
    fn read(crate_root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Graph {
        // Pass 1: every module, file or inline, and the file it lives in.
        let mut modules = Modules::new();
        let mut file_modules: Vec<(ModulePath, PathBuf)> = Vec::new();
        let mut parsed: BTreeMap<PathBuf, Parsed> = BTreeMap::new();
        let mut pending = vec![(ModulePath::new(), crate_root.to_path_buf())];
        while let Some((module, file)) = pending.pop() {
            let Some(text) = read(&file) else { continue };
            let file_parsed = parsed
                .entry(file.clone())
                .or_insert_with(|| Parsed::new(&tokens(&text)));
            modules.insert(module.clone(), file.clone());
            file_modules.push((module.clone(), file.clone()));
            let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
            let children_dir = match file.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs" | "lib.rs" | "main.rs") => dir.clone(),
                _ => dir.join(file.file_stem().unwrap()),
            };
            for inline in &file_parsed.inline_modules {
                modules.insert([module.clone(), inline.clone()].concat(), file.clone());
            }
            for decl in &file_parsed.declarations {
                let child = [module.clone(), decl.inline.clone(), vec![decl.name.clone()]].concat();
                let child_file = match &decl.path_attribute {
                    Some(path) => dir.join(path),
                    None => {
                        let dir = decl
                            .inline
                            .iter()
                            .fold(children_dir.clone(), |d, m| d.join(m));
                        let flat = dir.join(format!("{}.rs", decl.name));
                        if read(&flat).is_some() {
                            flat
                        } else {
                            dir.join(&decl.name).join("mod.rs")
                        }
                    }
                };
                pending.push((child, child_file));
            }
        }
        // Pass 2: the paths each file writes, resolved to the file of their module.
        let mut graph = Graph {
            files: file_modules.iter().map(|(_, f)| f.clone()).collect(),
            edges: BTreeMap::new(),
        };
        let mut bindings = Bindings::new();
        for (module, file) in &file_modules {
            parsed[file].bind(module, &modules, &mut bindings);
        }
        for (module, file) in &file_modules {
            let edges = graph.edges.entry(file.clone()).or_default();
            for (target, name) in parsed[file].resolve(module, &modules, &bindings) {
                // An ancestor is the module's context, not an import: see the module doc.
                if !module.starts_with(&target) {
                    edges
                        .entry(modules[&target].clone())
                        .or_default()
                        .insert(name);
                }
            }
        }
        graph
    }

    /// The strongly connected components of two files or more (Tarjan), each sorted.
    fn cycles(&self) -> Vec<Vec<PathBuf>> {
        struct Walk<'a> {
            graph: &'a Graph,
            index: BTreeMap<&'a Path, usize>,
            low: BTreeMap<&'a Path, usize>,
            stack: Vec<&'a Path>,
            found: Vec<Vec<PathBuf>>,
        }
        fn visit<'a>(w: &mut Walk<'a>, file: &'a Path) {
            let at = w.index.len();
            w.index.insert(file, at);
            w.low.insert(file, at);
            w.stack.push(file);
            let graph = w.graph;
            for next in graph.edges.get(file).into_iter().flat_map(|e| e.keys()) {
                let next = next.as_path();
                if !w.index.contains_key(next) {
                    visit(w, next);
                    w.low.insert(file, w.low[file].min(w.low[next]));
                } else if w.stack.contains(&next) {
                    w.low.insert(file, w.low[file].min(w.index[next]));
                }
            }
            if w.low[file] == w.index[file] {
                let mut component = Vec::new();
                while let Some(top) = w.stack.pop() {
                    component.push(top.to_path_buf());
                    if top == file {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    w.found.push(component);
                }
            }
        }
        let mut walk = Walk {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            found: Vec::new(),
        };
        for file in &self.files {
            if !walk.index.contains_key(file.as_path()) {
                visit(&mut walk, file);
            }
        }
        walk.found.sort();
        walk.found
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Str(String),
    Punct(char),
}

/// Rust source as tokens, without comments, lifetimes and numbers; string literals keep
/// their raw text (for `#[path = "…"]`).
fn tokens(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                } else if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&c[i..]) {
            // r"…", r#"…"#, br"…" (with any number of #).
            let open = c[i..].iter().position(|&x| x == '"').unwrap() + i + 1;
            let mut end = open;
            while end < c.len() && !(c[end] == '"' && (1..=hashes).all(|k| at(end + k) == '#')) {
                end += 1;
            }
            out.push(Tok::Str(c[open..end.min(c.len())].iter().collect()));
            i = end + 1 + hashes;
        } else if ch == '"' || ((ch == 'b' || ch == 'c') && at(i + 1) == '"') {
            i += if ch == '"' { 1 } else { 2 };
            let start = i;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            out.push(Tok::Str(c[start..i.min(c.len())].iter().collect()));
            i += 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            // A char literal ('x', '\n', b'x') or a lifetime ('a).
            let q = if ch == 'b' { i + 1 } else { i };
            if at(q + 1) == '\\' {
                i = q + 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(q + 2) == '\'' {
                i = q + 3;
            } else {
                i = q + 1;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (ident_char(c[i]) || (c[i] == '.' && at(i + 1).is_ascii_digit())) {
                i += 1;
            }
        } else if ident_char(ch) {
            if ch == 'r' && at(i + 1) == '#' {
                i += 2; // a raw identifier, r#type
            }
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string literal that starts here, if one does.
fn raw_string_start(c: &[char]) -> Option<usize> {
    let rest = match c {
        ['r', rest @ ..] => rest,
        ['b' | 'c', 'r', rest @ ..] => rest,
        _ => return None,
    };
    let hashes = rest.iter().take_while(|&&x| x == '#').count();
    (rest.get(hashes) == Some(&'"')).then_some(hashes)
}

/// `mod name;`, inside the inline modules `inline` of its file.
struct Declaration {
    inline: ModulePath,
    name: String,
    path_attribute: Option<String>,
}

/// A path written in a file, inside the inline modules `inline`; `binding` is the name a
/// `use` gives it.
struct WrittenPath {
    inline: ModulePath,
    segments: Vec<String>,
    binding: Option<String>,
}

/// What one file declares and writes, outside `#[cfg(test)]`.
struct Parsed {
    declarations: Vec<Declaration>,
    inline_modules: Vec<ModulePath>,
    uses: Vec<WrittenPath>,
    paths: Vec<WrittenPath>,
}

impl Parsed {
    fn new(toks: &[Tok]) -> Parsed {
        let mut parsed = Parsed {
            declarations: Vec::new(),
            inline_modules: Vec::new(),
            uses: Vec::new(),
            paths: Vec::new(),
        };
        let ident = |i: usize| match toks.get(i) {
            Some(Tok::Ident(s)) => Some(s.as_str()),
            _ => None,
        };
        let punct = |i: usize, p: char| toks.get(i) == Some(&Tok::Punct(p));
        let mut inline: Vec<(String, usize)> = Vec::new(); // (name, depth inside it)
        let mut depth = 0usize;
        let mut test_only = false;
        let mut path_attribute = None;
        let mut i = 0;
        while i < toks.len() {
            let here: ModulePath = inline.iter().map(|(n, _)| n.clone()).collect();
            if punct(i, '#') && (punct(i + 1, '[') || (punct(i + 1, '!') && punct(i + 2, '['))) {
                let open = if punct(i + 1, '[') { i + 1 } else { i + 2 };
                let close = matching(toks, open);
                let body = &toks[open + 1..close];
                let names: Vec<&str> = body
                    .iter()
                    .filter_map(|t| match t {
                        Tok::Ident(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect();
                if names.first() == Some(&"cfg")
                    && names.contains(&"test")
                    && !names.contains(&"not")
                {
                    test_only = true;
                }
                if let [Tok::Ident(p), Tok::Punct('='), Tok::Str(value)] = body
                    && p == "path"
                {
                    path_attribute = Some(value.clone());
                }
                i = close + 1;
                continue;
            }
            if test_only {
                i = item_end(toks, i);
                test_only = false;
                path_attribute = None;
                continue;
            }
            match &toks[i] {
                Tok::Punct('{' | '(' | '[') => depth += 1,
                Tok::Punct('}' | ')' | ']') => {
                    depth = depth.saturating_sub(1);
                    if inline.last().is_some_and(|(_, d)| *d > depth) {
                        inline.pop();
                    }
                }
                Tok::Ident(word) if word == "mod" && ident(i + 1).is_some() => {
                    let name = ident(i + 1).unwrap().to_string();
                    if punct(i + 2, ';') {
                        parsed.declarations.push(Declaration {
                            inline: here.clone(),
                            name,
                            path_attribute: path_attribute.take(),
                        });
                        i += 3;
                        continue;
                    }
                    if punct(i + 2, '{') {
                        depth += 1;
                        inline.push((name, depth));
                        parsed
                            .inline_modules
                            .push(inline.iter().map(|(n, _)| n.clone()).collect());
                        i += 3;
                        continue;
                    }
                }
                // `pub(in crate::x)` is a visibility, not an import.
                Tok::Ident(word) if word == "pub" && punct(i + 1, '(') => {
                    i = matching(toks, i + 1) + 1;
                    continue;
                }
                Tok::Ident(word) if word == "use" => {
                    let mut at = i + 1;
                    let mut found = Vec::new();
                    use_tree(toks, &mut at, Vec::new(), &mut found);
                    for (segments, binding) in found {
                        parsed.uses.push(WrittenPath {
                            inline: here.clone(),
                            segments,
                            binding,
                        });
                    }
                    while at < toks.len() && !punct(at, ';') {
                        at += 1;
                    }
                    i = at + 1;
                    continue;
                }
                Tok::Ident(first)
                    if toks.get(i + 1) == Some(&Tok::PathSep)
                        && i > 0
                        && toks[i - 1] != Tok::PathSep =>
                {
                    let mut segments = vec![first.clone()];
                    let mut at = i + 1;
                    while toks.get(at) == Some(&Tok::PathSep)
                        && let Some(next) = ident(at + 1)
                    {
                        segments.push(next.to_string());
                        at += 2;
                    }
                    parsed.paths.push(WrittenPath {
                        inline: here.clone(),
                        segments,
                        binding: None,
                    });
                    i = at;
                    continue;
                }
                _ => {}
            }
            path_attribute = None;
            i += 1;
        }
        parsed
    }

    /// Adds the names this file's `use`s bind, when it is module `module`, to `bindings`.
    fn bind(&self, module: &ModulePath, modules: &Modules, bindings: &mut Bindings) {
        for written in &self.uses {
            let here = [module.clone(), written.inline.clone()].concat();
            let (Some(binding), Some(target)) = (
                &written.binding,
                absolute(&written.segments, &here, modules, bindings),
            ) else {
                continue;
            };
            bindings
                .entry(here)
                .or_default()
                .insert(binding.clone(), target);
        }
    }

    /// The (module, name taken) of every path this file writes when it is module `module`.
    fn resolve(
        &self,
        module: &ModulePath,
        modules: &Modules,
        bindings: &Bindings,
    ) -> Vec<(ModulePath, String)> {
        let mut found = Vec::new();
        for written in self.uses.iter().chain(&self.paths) {
            let here = [module.clone(), written.inline.clone()].concat();
            if let Some(path) = absolute(&written.segments, &here, modules, bindings)
                && let Some(origin) = origin(path, modules, bindings)
            {
                found.push(origin);
            }
        }
        found
    }
}

/// Every module of a crate, file or inline, and the file it is written in.
type Modules = BTreeMap<ModulePath, PathBuf>;

/// Per module, the names its `use`s bind and the absolute paths they stand for.
type Bindings = BTreeMap<ModulePath, BTreeMap<String, ModulePath>>;

/// The module path a written path stands for, made absolute, or `None` when it starts
/// outside the crate (another crate, `std`, a type's `Self::`).
fn absolute(
    segments: &[String],
    here: &ModulePath,
    modules: &Modules,
    bindings: &Bindings,
) -> Option<ModulePath> {
    let first = segments.first()?.as_str();
    let (mut base, mut rest) = match first {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (here.clone(), &segments[1..]),
        "super" => (here.clone(), segments),
        _ => {
            let child = [here.clone(), vec![first.to_string()]].concat();
            if modules.contains_key(&child) {
                (child, &segments[1..])
            } else {
                (bindings.get(here)?.get(first)?.clone(), &segments[1..])
            }
        }
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    Some([base, rest.to_vec()].concat())
}

/// The module an absolute path leads to, and the name it takes there: its longest prefix
/// that is a module, or, where that module only imports the name (`pub use child::Item`,
/// or a `use` that a child reaches through `super::Item`), the module that defines it.
fn origin(
    mut path: ModulePath,
    modules: &Modules,
    bindings: &Bindings,
) -> Option<(ModulePath, String)> {
    for _ in 0..16 {
        let len = (0..=path.len())
            .rev()
            .find(|&n| modules.contains_key(&path[..n]))?;
        let module = &path[..len];
        let Some(name) = path.get(len) else {
            return Some((path, "(the module)".into()));
        };
        match bindings.get(module).and_then(|names| names.get(name)) {
            Some(target) if target[..] != path[..=len] => {
                path = [target.clone(), path[len + 1..].to_vec()].concat();
            }
            _ => return Some((module.to_vec(), name.clone())),
        }
    }
    None
}

/// The paths of a `use` tree starting at `toks[*i]`, each with the name it binds.
fn use_tree(
    toks: &[Tok],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut segments = prefix;
    loop {
        match toks.get(*i) {
            Some(Tok::PathSep) => *i += 1,
            Some(Tok::Ident(s)) if s != "as" => {
                segments.push(s.clone());
                *i += 1;
                if toks.get(*i) != Some(&Tok::PathSep) {
                    break;
                }
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while *i < toks.len() && toks[*i] != Tok::Punct('}') {
                    use_tree(toks, i, segments.clone(), out);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((segments, None));
                return;
            }
            _ => break,
        }
    }
    if segments.last().is_some_and(|s| s == "self") {
        segments.pop();
    }
    let mut binding = segments.last().cloned();
    if toks.get(*i) == Some(&Tok::Ident("as".into())) {
        binding = match toks.get(*i + 1) {
            Some(Tok::Ident(name)) => Some(name.clone()),
            _ => None, // `as _`
        };
        *i += 2;
    }
    if !segments.is_empty() {
        out.push((segments, binding));
    }
}

/// The index of the bracket that closes the one at `open`.
fn matching(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    for (at, tok) in toks.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('{' | '(' | '[') => depth += 1,
            Tok::Punct('}' | ')' | ']') => {
                depth -= 1;
                if depth == 0 {
                    return at;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Where the item (or statement) starting at `start` ends: after its `;`, or after the
/// block it opens, or before the bracket that closes around it.
fn item_end(toks: &[Tok], start: usize) -> usize {
    let mut at = start;
    while at < toks.len() {
        match toks[at] {
            Tok::Punct(';') => return at + 1,
            Tok::Punct('{') => return matching(toks, at) + 1,
            Tok::Punct('(' | '[') => at = matching(toks, at) + 1,
            Tok::Punct('}' | ')' | ']') => return at,
            _ => at += 1,
        }
    }
    at
}
