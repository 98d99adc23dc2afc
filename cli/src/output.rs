//! How results are printed: tables for people (coloured only on a terminal), JSON for scripts,
//! bare ids for pipes. Everything for people that is not the result (progress, notes) goes to
//! standard error, so standard output stays clean for `jq` and `xargs`.

use std::io::IsTerminal;

use clap::ValueEnum;

/// What standard output carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    /// One JSON document (the API's types from `hakuriver-model`; see docs/cli.md).
    Json,
    /// Only ids (task ids, hostnames, names), one per line.
    Quiet,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether to colour: `always` and `never` win; `auto` needs a terminal and no `NO_COLOR`
/// (any non-empty value, as no-color.org asks) and no `TERM=dumb`.
pub fn use_color(choice: ColorChoice, is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
    }
}

/// What a value means to the reader; each tone has one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

impl Tone {
    fn code(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("32"),
            Tone::Bad => Some("31"),
            Tone::Warn => Some("33"),
            Tone::Dim => Some("2"),
            Tone::Bold => Some("1"),
        }
    }
}

/// The tone of a task or node status word.
pub fn status_tone(status: &str) -> Tone {
    match status {
        "completed" | "online" | "running" => Tone::Good,
        "failed" | "killed_oom" | "lost" | "offline" | "timeout" => Tone::Bad,
        "killed" | "paused" | "pending" | "assigning" => Tone::Warn,
        _ => Tone::Plain,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub mode: Mode,
    pub color: bool,
}

impl Output {
    pub fn from_flags(json: bool, quiet: bool, color: ColorChoice) -> Output {
        let mode = match (json, quiet) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Quiet,
            (false, false) => Mode::Human,
        };
        let no_color = std::env::var("NO_COLOR").ok();
        let term = std::env::var("TERM").ok();
        let color = use_color(color, std::io::stdout().is_terminal(), no_color.as_deref(), term.as_deref());
        Output { mode, color }
    }

    /// `text` in `tone`'s colour when colouring.
    pub fn paint(&self, text: &str, tone: Tone) -> String {
        match (self.color, tone.code()) {
            (true, Some(code)) => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    /// A task or node status word, painted by what it means.
    pub fn status(&self, status: impl ToString) -> String {
        let text = status.to_string();
        self.paint(&text, status_tone(&text))
    }

    /// Prints a result: `json` as one document, `ids` one per line, or `human` text.
    pub fn print<T: serde::Serialize>(
        &self,
        json: &T,
        ids: impl FnOnce() -> Vec<String>,
        human: impl FnOnce() -> String,
    ) -> Result<(), serde_json::Error> {
        match self.mode {
            Mode::Json => println!("{}", serde_json::to_string_pretty(json)?),
            Mode::Quiet => ids().iter().for_each(|id| println!("{id}")),
            Mode::Human => print!("{}", human()),
        }
        Ok(())
    }

    pub fn is_human(&self) -> bool {
        self.mode == Mode::Human
    }
}

/// A progress bar or spinner on standard error; hidden unless standard error is a terminal, so
/// pipes and log files never see it.
pub fn progress(len: Option<u64>, template: &str) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(use_color(ColorChoice::Auto, true, None, Some("xterm")));
        assert!(!use_color(ColorChoice::Auto, false, None, Some("xterm")), "a pipe");
        assert!(!use_color(ColorChoice::Auto, true, Some("1"), None), "NO_COLOR");
        assert!(use_color(ColorChoice::Auto, true, Some(""), None), "an empty NO_COLOR does not count");
        assert!(!use_color(ColorChoice::Auto, true, None, Some("dumb")));
        assert!(use_color(ColorChoice::Always, false, Some("1"), None), "an explicit flag wins");
        assert!(!use_color(ColorChoice::Never, true, None, None));
    }

    #[test]
    fn paint_wraps_only_when_colouring() {
        let on = Output { mode: Mode::Human, color: true };
        let off = Output { mode: Mode::Human, color: false };
        assert_eq!(on.paint("failed", status_tone("failed")), "\x1b[31mfailed\x1b[0m");
        assert_eq!(off.paint("failed", Tone::Bad), "failed");
        assert_eq!(on.paint("x", Tone::Plain), "x");
    }
}
