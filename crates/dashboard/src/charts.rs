//! Bar charts drawn on the server as inline SVG: the geometry is computed here and
//! `templates/chart.html` writes it out with plain attributes, so no script and no inline
//! style is needed (the CSP forbids both). Colours come from CSS classes in `app.css`.
//!
//! A chart is a picture of numbers that a `<table>` right after it states exactly; the
//! chart carries `role="img"`, a `<title>` and a `<desc>`, every bar its own `<title>`,
//! and every series is named in words (a legend or a label on each bar), so colour is
//! never the only way to tell series apart.

/// One drawn chart, ready for the `chart` macro of `templates/chart.html`.
pub(crate) struct Chart {
    /// Unique on its page: the `<title>` and `<desc>` ids derive from it.
    pub id: &'static str,
    pub title: String,
    pub desc: String,
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    pub labels: Vec<Label>,
    pub axes: Vec<Line>,
}

/// A rectangle; `class` picks its colour (`bar`, `bar errors`, `bar second`, …).
pub(crate) struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub class: &'static str,
    /// What a pointer hovering the bar is told.
    pub tip: String,
}

/// A text; `class` is `start`, `middle` or `end` (its anchor).
pub(crate) struct Label {
    pub x: u32,
    pub y: u32,
    pub class: &'static str,
    pub text: String,
}

pub(crate) struct Line {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

/// A series of a chart: its name in the legend and its bars' class.
#[derive(Clone, Copy)]
pub(crate) struct Series {
    pub name: &'static str,
    pub class: &'static str,
}

/// One column of a [`columns`] chart: a total and the part of it drawn over it.
pub(crate) struct Column {
    /// Under the column (only some are written when there are many).
    pub label: String,
    pub total: u64,
    pub part: u64,
}

/// One row of a [`rows`] chart: a label and one value per series, with the words written
/// after each bar.
pub(crate) struct Row {
    pub label: String,
    pub values: Vec<f64>,
    pub texts: Vec<String>,
}

const PLOT_HEIGHT: u32 = 180;
const TOP: u32 = 28;
const LEFT: u32 = 48;
const COLUMN_WIDTH: u32 = 24;
/// The width the columns are spread over when there are few of them.
const PLOT_WIDTH: u32 = 600;
const MAX_AXIS_LABELS: usize = 8;

/// Columns over time: each column is `total` in the first series with `part` drawn over
/// its foot in the second (calls, and the errors among them).
pub(crate) fn columns(
    id: &'static str,
    title: String,
    desc: String,
    series: [Series; 2],
    columns: &[Column],
) -> Chart {
    // Few columns are spread over the plot's width, so that their labels do not overlap.
    let count = columns.len().max(1) as u32;
    let step = (PLOT_WIDTH / count).clamp(COLUMN_WIDTH + 4, 4 * COLUMN_WIDTH);
    let width = LEFT + step * count + 16;
    let base = TOP + PLOT_HEIGHT;
    let max = columns.iter().map(|c| c.total).max().unwrap_or(0).max(1);
    let scale = |value: u64| ((value as f64 / max as f64) * PLOT_HEIGHT as f64).round() as u32;
    let mut chart = Chart {
        id,
        title,
        desc,
        width: width.max(320),
        height: base + 40,
        bars: Vec::new(),
        labels: vec![
            label(LEFT - 6, TOP + 4, "end", max.to_string()),
            label(LEFT - 6, base, "end", "0".into()),
        ],
        axes: vec![
            Line {
                x1: LEFT,
                y1: TOP,
                x2: LEFT,
                y2: base,
            },
            Line {
                x1: LEFT,
                y1: base,
                x2: width - 8,
                y2: base,
            },
        ],
    };
    legend(&mut chart, &series, LEFT, 14);
    let every = columns.len().div_ceil(MAX_AXIS_LABELS).max(1);
    for (i, column) in columns.iter().enumerate() {
        let x = LEFT + 4 + step * i as u32;
        let tip = format!(
            "{}: {} {}, {} {}",
            column.label, column.total, series[0].name, column.part, series[1].name
        );
        for (value, class) in [
            (column.total, series[0].class),
            (column.part, series[1].class),
        ] {
            let height = scale(value);
            if height > 0 {
                chart.bars.push(Bar {
                    x,
                    y: base - height,
                    width: COLUMN_WIDTH,
                    height,
                    class,
                    tip: tip.clone(),
                });
            }
        }
        if i % every == 0 {
            let text = column.label.clone();
            chart
                .labels
                .push(label(x + COLUMN_WIDTH / 2, base + 18, "middle", text));
        }
    }
    chart
}

const ROW_LABEL_WIDTH: u32 = 210;
const ROW_BAR_HEIGHT: u32 = 14;
const ROW_PLOT_WIDTH: u32 = 360;
const ROW_TEXT_ROOM: u32 = 150;
const ROW_LABEL_CHARS: usize = 30;

/// Horizontal bars: per row, one bar per series under each other, each followed by its
/// words (so each bar is named without colour).
pub(crate) fn rows(
    id: &'static str,
    title: String,
    desc: String,
    series: &[Series],
    rows: &[Row],
) -> Chart {
    let per_series = ROW_BAR_HEIGHT + 4;
    let row_height = per_series * series.len().max(1) as u32 + 12;
    let plot_top = TOP + 4;
    let height = plot_top + row_height * rows.len().max(1) as u32 + 8;
    let max = rows
        .iter()
        .flat_map(|r| r.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let scale = |value: f64| {
        if max <= 0.0 {
            0
        } else {
            ((value / max) * ROW_PLOT_WIDTH as f64).round() as u32
        }
    };
    let left = ROW_LABEL_WIDTH;
    let mut chart = Chart {
        id,
        title,
        desc,
        width: left + ROW_PLOT_WIDTH + ROW_TEXT_ROOM,
        height,
        bars: Vec::new(),
        labels: Vec::new(),
        axes: vec![Line {
            x1: left,
            y1: plot_top,
            x2: left,
            y2: height - 8,
        }],
    };
    legend(&mut chart, series, left, 14);
    for (r, row) in rows.iter().enumerate() {
        let top = plot_top + row_height * r as u32 + 6;
        let middle = top + (per_series * series.len() as u32) / 2 + 4;
        chart
            .labels
            .push(label(left - 8, middle, "end", shorten(&row.label)));
        for (s, kind) in series.iter().enumerate() {
            let y = top + per_series * s as u32;
            let value = row.values.get(s).copied().unwrap_or(0.0);
            let words = row.texts.get(s).cloned().unwrap_or_default();
            let width = scale(value);
            if width > 0 {
                chart.bars.push(Bar {
                    x: left,
                    y,
                    width,
                    height: ROW_BAR_HEIGHT,
                    class: kind.class,
                    tip: format!("{}: {words}", row.label),
                });
            }
            chart.labels.push(label(
                left + width + 6,
                y + ROW_BAR_HEIGHT - 3,
                "start",
                words,
            ));
        }
    }
    chart
}

/// A swatch and a name per series, in a line at `y`, starting at `x`.
fn legend(chart: &mut Chart, series: &[Series], x: u32, y: u32) {
    let mut at = x;
    for kind in series {
        chart.bars.push(Bar {
            x: at,
            y: y - 10,
            width: 12,
            height: 12,
            class: kind.class,
            tip: kind.name.to_owned(),
        });
        chart
            .labels
            .push(label(at + 16, y, "start", kind.name.to_owned()));
        at += 16 + 8 * kind.name.chars().count() as u32 + 16;
    }
}

fn label(x: u32, y: u32, class: &'static str, text: String) -> Label {
    Label { x, y, class, text }
}

/// A row label that fits its room; the table after the chart has it in full.
fn shorten(text: &str) -> String {
    if text.chars().count() <= ROW_LABEL_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(ROW_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIES: [Series; 2] = [
        Series {
            name: "calls",
            class: "bar",
        },
        Series {
            name: "errors",
            class: "bar errors",
        },
    ];

    #[test]
    fn the_tallest_column_fills_the_plot_and_parts_scale_with_it() {
        let data = [
            Column {
                label: "a".into(),
                total: 4,
                part: 1,
            },
            Column {
                label: "b".into(),
                total: 0,
                part: 0,
            },
            Column {
                label: "c".into(),
                total: 2,
                part: 0,
            },
        ];
        let chart = columns("t", "T".into(), "D".into(), SERIES, &data);
        let plotted: Vec<(u32, &str)> = chart
            .bars
            .iter()
            .skip(2) // the legend's swatches
            .map(|b| (b.height, b.class))
            .collect();
        assert_eq!(
            plotted,
            [(PLOT_HEIGHT, "bar"), (45, "bar errors"), (90, "bar")]
        );
        assert!(
            chart.labels.iter().any(|l| l.text == "4"),
            "the scale's top is written"
        );
        assert_eq!(chart.bars[2].tip, "a: 4 calls, 1 errors");
    }

    #[test]
    fn rows_are_scaled_to_the_largest_value_and_named_in_words() {
        let data = [
            Row {
                label: "x".into(),
                values: vec![1.0, 4.0],
                texts: vec!["1".into(), "4".into()],
            },
            Row {
                label: "y".repeat(40),
                values: vec![2.0, 0.0],
                texts: vec!["2".into(), "0".into()],
            },
        ];
        let chart = rows("r", "R".into(), "D".into(), &SERIES, &data);
        let widths: Vec<u32> = chart.bars.iter().skip(2).map(|b| b.width).collect();
        assert_eq!(
            widths,
            [ROW_PLOT_WIDTH / 4, ROW_PLOT_WIDTH, ROW_PLOT_WIDTH / 2]
        );
        assert!(
            chart.labels.iter().any(|l| l.text.ends_with('…')),
            "long labels are cut"
        );
        assert!(
            chart.labels.iter().any(|l| l.text == "0"),
            "an empty bar still has words"
        );
    }

    #[test]
    fn an_empty_chart_draws_no_bars_but_keeps_its_frame() {
        let chart = columns("e", "E".into(), "D".into(), SERIES, &[]);
        assert_eq!(chart.bars.len(), 2, "only the legend");
        assert!(chart.width >= 320 && chart.height > PLOT_HEIGHT);
    }
}
