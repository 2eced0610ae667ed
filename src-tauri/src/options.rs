//! The desktop app's command line: `postroom [--data-dir DIR] [--listen SERVICE=HOST:PORT]... [--tray]`,
//! the same meanings as `postroomd serve`; `--tray` starts without opening the main window; `--attach
//! SOCKET` uses the engine of the `postroomd` answering on that admin socket instead of starting one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use postroom_engine::settings::ServiceId;

#[derive(Debug, Default)]
pub struct Options {
    pub data_dir: Option<PathBuf>,
    /// Start in the tray without opening the main window (how the login item starts Postroom).
    pub tray: bool,
    pub listen: BTreeMap<ServiceId, SocketAddr>,
    /// Use the engine answering on this admin socket (a `postroomd serve`) instead of starting one.
    pub attach: Option<PathBuf>,
}

/// Why the command line was refused (or help was asked for: the usage line is the message).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("{0} needs a value")]
    NeedsValue(String),
    #[error(transparent)]
    Listen(#[from] postroom_engine::cli::ListenError),
    #[error("usage: postroom [--data-dir DIR] [--listen SERVICE=HOST:PORT]... [--tray] | postroom --attach SOCKET [--tray] | postroom --version")]
    Usage,
    /// `--version`: the message is the answer.
    #[error("postroom {}", postroom_engine::version_text())]
    Version,
    #[error("unknown option {0} (try --help)")]
    Unknown(String),
}

impl Options {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, OptionsError> {
        let mut options = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| OptionsError::NeedsValue(flag.clone()));
            match flag.as_str() {
                "--data-dir" => options.data_dir = Some(PathBuf::from(value()?)),
                "--listen" => {
                    let (id, addr) = postroom_engine::cli::parse_listen(&value()?)?;
                    options.listen.insert(id, addr);
                }
                "-V" | "--version" => return Err(OptionsError::Version),
                "--tray" => options.tray = true,
                "--attach" => options.attach = Some(PathBuf::from(value()?)),
                "-h" | "--help" => {
                    return Err(OptionsError::Usage);
                }
                other => return Err(OptionsError::Unknown(other.to_string())),
            }
        }
        Ok(options)
    }

    /// Relative paths taken from `dir` instead of the working folder: the AppImage's AppRun starts
    /// Postroom from inside the AppImage and says where the user started it (`OWD`).
    pub fn resolve_from(&mut self, dir: &std::path::Path) {
        for path in [&mut self.data_dir, &mut self.attach].into_iter().flatten() {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|s| s.to_string())).map_err(|e| e.to_string())
    }

    #[test]
    fn relative_paths_are_taken_from_where_the_appimage_was_started() {
        let mut o = Options::parse(["--data-dir", "mail", "--attach", "/run/a.sock"].map(String::from)).unwrap();
        o.resolve_from(std::path::Path::new("/home/ann"));
        assert_eq!(o.data_dir, Some(PathBuf::from("/home/ann/mail")));
        assert_eq!(o.attach, Some(PathBuf::from("/run/a.sock")), "absolute paths stay");
    }

    #[test]
    fn data_dir_and_listen_in_both_spellings() {
        let o = parse(&["--data-dir", "/d", "--listen=pop3=127.0.0.1:1110", "--listen", "imap=127.0.0.1:1143"]).unwrap();
        assert!(!o.tray, "the main window opens unless asked not to");
        assert!(parse(&["--tray"]).unwrap().tray);
        assert_eq!(o.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(o.listen[&ServiceId::Pop3], "127.0.0.1:1110".parse().unwrap());
        assert_eq!(o.listen[&ServiceId::Imap].port(), 1143);
        assert_eq!(o.attach, None, "the app attaches only when asked or when the folder is served already");
        assert_eq!(parse(&["--attach", "/run/postroomd/admin.sock"]).unwrap().attach, Some(PathBuf::from("/run/postroomd/admin.sock")));
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(parse(&["--listen", "nntp=1.2.3.4:5"]).unwrap_err().contains("unknown service"));
        assert!(parse(&["--data-dir"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--frobnicate"]).unwrap_err().contains("unknown option"));
    }

    #[test]
    fn version_names_the_build() {
        let answer = parse(&["--version"]).unwrap_err();
        assert!(answer.starts_with(&format!("postroom {} (", env!("CARGO_PKG_VERSION"))), "{answer}");
        assert!(answer.contains("commit ") || answer.contains("development build"), "{answer}");
    }
}
