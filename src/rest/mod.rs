//! The async client for the Upstash Kafka REST API.
