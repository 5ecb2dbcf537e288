//! Recorder (placeholder).
