"""What an answer rests on: the sources cited, the `[n]` markers checked, each sentence's supporting sources,
whether the retrieval can answer at all, and which sources read as instructions to a model."""
