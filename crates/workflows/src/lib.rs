//! The durable executor: runs `asl` state machines on the store.

pub mod http_task;
