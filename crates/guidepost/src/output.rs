//! Command output: text for people, JSON (`--json`) for scripts.

use serde::Serialize;

pub fn print<T: Serialize>(json: bool, value: &T, text: impl FnOnce(&T) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("command results always serialize")
        );
    } else {
        println!("{}", text(value));
    }
}
