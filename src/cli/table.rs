//! A plain bordered text table, in the style of `patronictl list`.

/// Render `rows` under `header`, with `title` in the top border.
pub fn render(title: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let border = || {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s
    };
    // the title line spans the whole table
    let inner: usize = widths.iter().map(|w| w + 3).sum::<usize>() - 1;
    let title = format!(" {title} ");
    let title_line = format!("+{title}{}+", "-".repeat(inner.saturating_sub(title.chars().count())));
    let line = |cells: Vec<&str>| {
        let mut s = String::from("|");
        for (c, w) in cells.iter().zip(&widths) {
            s.push_str(&format!(" {c:<w$} |"));
        }
        s
    };
    let mut out = vec![title_line, line(header.to_vec()), border()];
    for r in rows {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    out.push(border());
    out.join("\n")
}
