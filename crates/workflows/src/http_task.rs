//! `arn:aws:states:::http:invoke`: a Task state that calls an HTTP endpoint.
