//! The shapes each target's generated mode builds. Every module has `SHAPES` (the names, in the order
//! the shape byte picks them: shape = byte % SHAPES.len()) and `generate`, which reads the shape byte,
//! a size (two bytes, see [`crate::gen::Gen::size`]), usually a variant byte, and fills the rest from
//! the filler bytes.

pub mod geoip;
pub mod imap;
pub mod mime;
pub mod script;
pub mod smtp;
pub mod web;
