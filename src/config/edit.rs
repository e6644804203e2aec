//! Setting keys in the local `config.toml` while keeping the user's comments and layout
//! (`integrator cutover --apply`). The result is validated before anything is written.

use super::Config;
use crate::error::{Error, Result};
use std::path::Path;

/// Set each `(table, key, value)` in the TOML file at `path` (created when missing), check
/// that the whole file is still a valid configuration, then replace it atomically.
pub(crate) fn set_keys(path: &Path, keys: &[(&str, &str, toml_edit::Value)]) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(format_args!("cannot read {}", path.display()), e)),
    };
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| Error::usage(format!("invalid configuration in {}: {e}", path.display())))?;
    for (table, key, value) in keys {
        let t = doc.entry(table).or_insert_with(toml_edit::table);
        let Some(t) = t.as_table_like_mut() else {
            return Err(Error::usage(format!("invalid configuration in {}: `{table}` is not a table", path.display())));
        };
        match t.get_mut(key) {
            // Assigning in place keeps the key and the comment above it.
            Some(item) => *item = toml_edit::Item::Value(value.clone()),
            None => {
                t.insert(key, toml_edit::Item::Value(value.clone()));
            }
        }
    }
    let new = doc.to_string();
    Config::default()
        .apply_text(&new)
        .map_err(|m| Error::usage(format!("invalid configuration in {}: {m}", path.display())))?;
    crate::store::write_atomic(path, new.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_comments_and_refuses_a_bad_result() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "# mine\n[integrator]\n# the mode\nmode = \"shadow\"\n").unwrap();
        super::set_keys(&p, &[("integrator", "mode", "cutover".into()), ("cutover", "enabled", true.into())]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "# mine\n[integrator]\n# the mode\nmode = \"cutover\"\n\n[cutover]\nenabled = true\n");
        let err = super::set_keys(&p, &[("integrator", "mode", "sideways".into())]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text, "nothing written");
    }
}
