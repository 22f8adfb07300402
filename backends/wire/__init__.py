"""HTTP client, SSE/NDJSON framing and OpenAI-style stream decoding. Knows no server."""
