//! The per-tool report as CSV (RFC 4180), for the analytics export of the API and the
//! dashboard alike.

use crate::insights::analytics::ToolReportWindow;

/// The CSV's header line.
const HEADER: &str = "tool,calls,errors,error_rate,p50_us,p95_us,p99_us,max_us,since,until";

/// One line per tool, with the window on every line so that exports of several windows
/// can be concatenated.
pub fn report_csv(report: &ToolReportWindow) -> String {
    let since = report.since.to_rfc3339();
    let until = report.until.to_rfc3339();
    let mut csv = format!("{HEADER}\r\n");
    for tool in &report.tools {
        csv.push_str(&format!(
            "{},{},{},{:.4},{},{},{},{},{since},{until}\r\n",
            field(&tool.tool_name),
            tool.calls,
            tool.errors,
            tool.error_rate,
            tool.p50_us,
            tool.p95_us,
            tool.p99_us,
            tool.max_us,
        ));
    }
    csv
}

/// A text field, quoted, with a leading apostrophe when a spreadsheet would read it as a
/// formula (tool names come from upstreams).
fn field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::analytics::ToolReport;
    use guidepost_domain::Timestamp;

    #[test]
    fn tools_are_quoted_and_formulas_defused() {
        let report = ToolReportWindow {
            since: Timestamp::from_micros(0),
            until: Timestamp::from_micros(3_600_000_000),
            tools: vec![ToolReport {
                tool_name: "=HYPERLINK(\"x\")".into(),
                calls: 4,
                errors: 1,
                error_rate: 0.25,
                p50_us: 100,
                p95_us: 200,
                p99_us: 300,
                max_us: 400,
            }],
        };
        let csv = report_csv(&report);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], HEADER);
        assert!(
            lines[1].starts_with(
                "\"'=HYPERLINK(\"\"x\"\")\",4,1,0.2500,100,200,300,400,1970-01-01T00:00:00"
            ),
            "{}",
            lines[1]
        );
    }
}
