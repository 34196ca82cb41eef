//! Tests of the cloud server.
