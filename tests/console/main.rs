//! The console without a terminal: `update` transitions, the keymap, the event loop
//! driven headless, and `TestBackend` snapshots of key screens at 80x24 and 120x40.

mod tui_support;

mod keymap;
mod runner;
mod snapshots;
mod update;
