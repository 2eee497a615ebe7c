//! `upkafka serve`: the Upstash Kafka REST API over a pluggable storage backend.
