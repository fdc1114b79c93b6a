"""The wire contract: CBOR messages over ZeroMQ (shared/spec/stream.md). Imports nothing of ours."""
