//! `amiset init`: the files of a new config repository. Every file is
//! embedded in the binary; the result passes `amiset check` as written.

use std::path::Path;

/// Path (relative to the new repository) and content of every scaffolded file.
pub const FILES: [(&str, &str); 6] = [
    ("amiset.toml", include_str!("amiset.toml")),
    ("SCOPES", include_str!("SCOPES")),
    ("ami-sets/example.toml", include_str!("example-set.toml")),
    ("worker-types/example-worker.toml", include_str!("example-worker.toml")),
    (".pre-commit-config.yaml", include_str!("pre-commit-config.yaml")),
    (
        ".github/workflows/amiset.yml",
        include_str!("../../config-example/.github/workflows/amiset.yml"),
    ),
];

/// Why nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("refusing to overwrite existing files: {}", .0.join(", "))]
    Exists(Vec<String>),
    #[error("cannot write `{path}`: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Writes every file of [`FILES`] under `dir`; writes nothing if any of them exists.
pub fn init(dir: &Path) -> Result<Vec<&'static str>, InitError> {
    let existing: Vec<String> = FILES
        .iter()
        .filter(|(path, _)| std::fs::symlink_metadata(dir.join(path)).is_ok())
        .map(|(path, _)| path.to_string())
        .collect();
    if !existing.is_empty() {
        return Err(InitError::Exists(existing));
    }
    for (path, text) in FILES {
        let target = dir.join(path);
        let io = |source| InitError::Io {
            path: target.display().to_string(),
            source,
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(io)?;
    }
    Ok(FILES.iter().map(|(p, _)| *p).collect())
}
