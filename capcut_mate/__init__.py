"""capcut-mate video jobs: export capcut-mate drafts to MP4 through a PostgreSQL job queue."""

__version__ = "0.1.0"
