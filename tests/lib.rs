//! Cross-crate integration tests live beside this file; the library target is empty.
