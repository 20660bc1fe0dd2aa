//! The datto client (being written on its own branch).
