"""`POST /v1/chat/completions` by idea: `translation` (OpenAI's wire request into a chat request, the answer into a
completion or a stream's chunks), `instrumentation` (what a chat leaves behind: metrics, spans, audit, usage,
records; the answer's events folded once), `transport` (a plain JSON answer, or a server-sent event stream with its
keep-alives); `service` runs one chat through the three."""
