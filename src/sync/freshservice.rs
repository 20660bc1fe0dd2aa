//! The freshservice client (being written on its own branch).
