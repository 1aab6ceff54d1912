"""From a question to a grounded answer: the requests every entry point builds, retrieval over the store, the
numbered-source prompt, the pipeline that runs them, and the stream of events it emits."""
