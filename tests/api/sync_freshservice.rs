//! Tests of the freshservice client against its simulator (being written).
