"""Where documents come from: local paths, S3-compatible object stores and web sites, behind one interface
(ingest/sources/base.py) that lists documents before it fetches any."""
