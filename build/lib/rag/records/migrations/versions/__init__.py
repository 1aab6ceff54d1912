"""The records schema's revisions, oldest first: each names its `down_revision`."""
