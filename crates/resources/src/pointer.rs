//! pointer
