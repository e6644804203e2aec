//! git's global options (`-C`, `-c`, `--git-dir`, …) resolved and the command word found.

use super::config_keys::config_key;

/// A command line with its global options resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// The global options exactly as given (to run `git config` the same way).
    pub globals: Vec<String>,
    /// The command word, if any (`None` for `git --version`, `git -C x`, …).
    pub command: Option<String>,
    /// Index of the command word in the parsed slice.
    pub command_index: usize,
    /// The arguments after the command word.
    pub args: Vec<String>,
    /// Config keys set by `-c key=value` and `--config-env key=ENV`, lower-cased.
    pub config_keys: Vec<String>,
    /// `-C` directories, in order.
    pub chdirs: Vec<String>,
    /// `--git-dir`, if given.
    pub git_dir: Option<String>,
    /// `--exec-path=DIR`, if given: where git's children would look for `git`.
    pub exec_path: Option<String>,
}

/// Global options that take a value, as `--opt value` or `--opt=value`.
const GLOBAL_WITH_VALUE: &[&str] =
    &["--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix", "--attr-source"];

/// Resolve git's global options (git.c `handle_options`) and find the command word.
pub fn parse(argv: &[String]) -> Invocation {
    let mut inv = Invocation::default();
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        if !a.starts_with('-') {
            break;
        }
        let command = match a {
            "--version" | "-v" => "version",
            "--help" | "-h" => "help",
            _ => {
                i = global_option(&mut inv, argv, i);
                continue;
            }
        };
        inv.found(argv, i, command.into());
        return inv;
    }
    match argv.get(i) {
        Some(word) => inv.found(argv, i, word.clone()),
        None => inv.globals = argv.to_vec(),
    }
    inv
}

impl Invocation {
    /// The command is `command`, named by `argv[index]`: what comes before it is global
    /// options, what comes after it is its arguments.
    fn found(&mut self, argv: &[String], index: usize, command: String) {
        self.command = Some(command);
        self.command_index = index;
        self.args = argv[index + 1..].to_vec();
        self.globals = argv[..index].to_vec();
    }
}

/// Record the global option at `argv[i]`; the index of the word after it (and its value).
/// A missing value ends the command line: there is no command then.
fn global_option(inv: &mut Invocation, argv: &[String], i: usize) -> usize {
    let a = argv[i].as_str();
    if matches!(a, "-C" | "-c" | "--shallow-file") {
        let Some(v) = argv.get(i + 1) else {
            return argv.len();
        };
        match a {
            "-C" => inv.chdirs.push(v.clone()),
            "-c" => inv.config_keys.push(config_key(v)),
            _ => {}
        }
        return i + 2;
    }
    if let Some(dir) = a.strip_prefix("--exec-path=") {
        inv.exec_path = Some(dir.to_string());
        return i + 1;
    }
    // Flags without a value (`-p`, `--no-pager`, `--bare`, `--exec-path`, …) and
    // options git will reject: either way they name no command.
    let Some(opt) = GLOBAL_WITH_VALUE.iter().find(|o| a == **o || a.starts_with(&format!("{o}="))) else {
        return i + 1;
    };
    let (value, next) = match a.split_once('=') {
        Some((_, v)) => (v.to_string(), i + 1),
        None => match argv.get(i + 1) {
            Some(v) => (v.clone(), i + 2),
            None => return argv.len(),
        },
    };
    match *opt {
        "--config-env" => inv.config_keys.push(config_key(&value)),
        "--git-dir" => inv.git_dir = Some(value),
        _ => {}
    }
    next
}
