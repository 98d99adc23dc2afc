//! Plain-text tables for people: left-aligned columns, two spaces apart, headers bold and
//! statuses coloured when the output is coloured (padding is measured on the text alone).

use crate::output::{status_tone, Output, Tone};

/// How the command line writes a timestamp (the host's wire times, to the second).
pub const TIME: &str = "%Y-%m-%d %H:%M:%S";

/// One table cell: its text and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell { text: text.into(), tone }
    }

    /// A task or node status word, coloured by what it means.
    pub fn status(status: impl ToString) -> Cell {
        let text = status.to_string();
        let tone = status_tone(&text);
        Cell { text, tone }
    }
}

/// `12.3%`, or `-` when there is no reading.
pub fn percent(value: Option<f64>) -> String {
    value.map_or("-".into(), |p| format!("{p:.1}%"))
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, tone: Tone::Plain }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

pub fn render(out: &Output, headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.text.chars().count());
            }
        }
    }
    let line = |cells: &[Cell]| -> String {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            text += &out.paint(&cell.text, cell.tone);
            if i < last {
                text += &" ".repeat(width - cell.text.chars().count() + 2);
            }
        }
        text.trim_end().to_string()
    };
    let header: Vec<Cell> = headers.iter().map(|h| Cell::new(*h, Tone::Bold)).collect();
    let mut text = line(&header);
    text.push('\n');
    for row in rows {
        text.push_str(&line(row));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Mode;

    #[test]
    fn aligns_columns_on_the_text_not_the_colour_codes() {
        let rows = vec![
            vec![Cell::from("a"), Cell::new("online", Tone::Good)],
            vec![Cell::from("longer-name"), Cell::new("offline", Tone::Bad)],
        ];
        let plain = Output { mode: Mode::Human, color: false };
        assert_eq!(
            render(&plain, &["NAME", "STATUS"], &rows),
            "NAME         STATUS\na            online\nlonger-name  offline\n"
        );
        let coloured = render(&Output { mode: Mode::Human, color: true }, &["NAME", "STATUS"], &rows);
        let second = coloured.lines().nth(1).unwrap();
        assert_eq!(second, "a            \x1b[32monline\x1b[0m");
    }
}
